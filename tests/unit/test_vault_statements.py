"""decode_vault_statements: the three shapes Vault role statements arrive in."""

from __future__ import annotations

import base64
import json

import pytest

from yamldb.manifest.quoting import QuotingRules
from yamldb.templates.sql import StatementTemplate
from yamldb.templates.vault_statements import decode_vault_statements

PG_CREATE = (
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";'
)
DO_BLOCK = "DO $$ BEGIN IF 1 = 1 THEN RAISE NOTICE 'a;b'; END IF; END $$;"


def b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def test_plain_entry_is_kept_whole() -> None:
    # No naive split on ';': that would cut the DO block apart.
    assert decode_vault_statements([PG_CREATE, DO_BLOCK]) == [PG_CREATE, DO_BLOCK]


def test_json_array_entry() -> None:
    assert decode_vault_statements([json.dumps([PG_CREATE, DO_BLOCK])]) == [PG_CREATE, DO_BLOCK]


def test_json_array_with_surrounding_whitespace() -> None:
    assert decode_vault_statements(["  " + json.dumps(["SELECT 1"]) + "\n"]) == ["SELECT 1"]


def test_base64_json_array_entry() -> None:
    assert decode_vault_statements([b64([PG_CREATE, "SELECT 'ü';"])]) == [PG_CREATE, "SELECT 'ü';"]


def test_base64_with_surrounding_whitespace() -> None:
    assert decode_vault_statements(["\n" + b64(["SELECT 1"]) + " "]) == ["SELECT 1"]


def test_mixed_entries_keep_order() -> None:
    entries = ["SELECT 1", json.dumps(["SELECT 2", "SELECT 3"]), b64(["SELECT 4"]), "SELECT 5"]
    assert decode_vault_statements(entries) == [f"SELECT {n}" for n in range(1, 6)]


def test_empty_and_blank_entries_are_dropped() -> None:
    entries = ["", "   ", "\n\t", json.dumps(["", " ", "SELECT 1"]), b64([" "]), json.dumps([])]
    assert decode_vault_statements(entries) == ["SELECT 1"]
    assert decode_vault_statements([]) == []


@pytest.mark.parametrize(
    "entry",
    [
        "abcd",  # valid base64, but not of JSON: used as it is (Go would use the decoded bytes)
        base64.b64encode(b"SELECT 1").decode(),
        b64({"not": "an array"}),
        b64([1, 2]),
        json.dumps([1, "x"]),
        json.dumps({"a": "b"}),
        "[not json]",
        "YWJj",  # "abc"
        "YWJjZA",  # unpadded: not accepted as base64
        "SELECT ARRAY[1,2]",
        '["unterminated"',
    ],
)
def test_anything_else_is_a_statement_as_is(entry: str) -> None:
    assert decode_vault_statements([entry]) == [entry]


def test_base64_of_invalid_utf8_is_as_is() -> None:
    entry = base64.b64encode(b"[\xff]").decode()
    assert decode_vault_statements([entry]) == [entry]


def test_single_string_is_one_entry() -> None:
    assert decode_vault_statements("SELECT 1; SELECT 2") == ["SELECT 1; SELECT 2"]  # type: ignore[arg-type]


def test_non_string_entry_is_rejected() -> None:
    with pytest.raises(TypeError):
        decode_vault_statements([1])  # type: ignore[list-item]


def test_decoded_statements_split_sql_aware_later() -> None:
    rules = QuotingRules(
        identifier_quotes=('"',),
        string_quotes=("'",),
        dollar_quoting=True,
        escape_string_prefix=True,
        preferred_identifier_quote='"',
    )
    texts = decode_vault_statements([b64([PG_CREATE, DO_BLOCK])])
    counts = [
        len(StatementTemplate.parse(t, rules).render({"name": "n", "password": "p", "expiration": "e"})) for t in texts
    ]
    assert counts == [2, 1]
