"""How a dialect quotes identifiers and string literals.

Data only: the template layer reads these rules to escape values for the quote
context a placeholder sits in. Dialect files fill them in (see dialects/*.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QuotingRules"]


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
    # MySQL's comment rules: '#' comments, '--' only before a space, /*! executable */ comments.
    # None means "as backslash_escapes" (true for MySQL/MariaDB); Snowflake and Redshift escape with
    # backslashes but have standard comments, so they say false.
    mysql_comments: bool | None = None
    # PL/SQL blocks end with "END;" and need that ';' (Oracle, Db2 PL/SQL): keep it when splitting.
    block_terminator: bool = False

    @property
    def uses_mysql_comments(self) -> bool:
        return self.backslash_escapes if self.mysql_comments is None else self.mysql_comments
