"""The quoting rules the template tests render with, written out once (not read from the shipped dialects,
so that a dialect edit cannot quietly change what these tests prove)."""

from __future__ import annotations

from yamldb.manifest.quoting import QuotingRules

__all__ = ["MYSQL_RULES", "PG_RULES", "SQLITE_RULES"]

PG_RULES = QuotingRules(
    identifier_quotes=('"',),
    string_quotes=("'",),
    backslash_escapes=False,
    dollar_quoting=True,
    escape_string_prefix=True,
    preferred_identifier_quote='"',
    max_identifier_length=63,
)
MYSQL_RULES = QuotingRules(
    identifier_quotes=("`",),
    string_quotes=("'", '"'),
    backslash_escapes=True,
    preferred_identifier_quote="`",
    max_identifier_length=80,
)
SQLITE_RULES = QuotingRules(identifier_quotes=('"', "`", "["), string_quotes=("'",), preferred_identifier_quote='"')
