"""How a dialect quotes identifiers and string literals.

Data only: the template layer reads these rules to escape values for the quote
context a placeholder sits in. Dialect files fill them in (see dialects/*.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuotingRules:
    # Characters that open a quoted identifier, e.g. ('"',) for PostgreSQL,
    # ('`',) for MySQL, ('"', '[') for SQL Server ('[' closes with ']').
    identifier_quotes: tuple[str, ...] = ('"',)
    # Characters that open a string literal: ("'",) normally; MySQL also ('"').
    string_quotes: tuple[str, ...] = ("'",)
    # True where a backslash escapes inside string literals (MySQL/MariaDB by default).
    backslash_escapes: bool = False
    # PostgreSQL-style $tag$ ... $tag$ strings and E'...' escape strings.
    dollar_quoting: bool = False
    escape_string_prefix: bool = False
    # Identifier quote used when a value is quoted as an identifier by a filter.
    preferred_identifier_quote: str = '"'
    # Longest identifier the database accepts (bytes), 0 = unknown.
    max_identifier_length: int = 0
