"""Tests for yamldb.manifest.schema_errors: each finding's position and wording."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from yamldb.errors import Location, ManifestError
from yamldb.manifest import schema_errors
from yamldb.manifest.schema_errors import schema_findings
from yamldb.manifest.yamlsource import Document, load_yaml

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["dialect", "statements"],
    "properties": {
        "dialect": {"enum": ["postgresql", "mysql", "mariadb"]},
        "name": {"$ref": "#/$defs/name"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "description": {"type": "string", "maxLength": 20},
        "expires": {"type": "string", "format": "date"},
        "statements": {
            "type": "object",
            "additionalProperties": False,
            "required": ["create"],
            "properties": {
                "create": {"$ref": "#/$defs/steps"},
                "revoke": {"$ref": "#/$defs/steps"},
            },
        },
        "tags": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "uniqueItems": True,
        },
        "parameters": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z_]+$"},
            "additionalProperties": {"type": "string"},
        },
        "old_name": False,
    },
    "$defs": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
        "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}},
        "step": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {"$ref": "#/$defs/stepObject"},
            ]
        },
        "stepObject": {
            "type": "object",
            "additionalProperties": False,
            "required": ["sql"],
            "properties": {
                "sql": {"type": "string"},
                "transaction": {"type": "boolean"},
                "on_error": {"enum": ["fail", "continue"]},
            },
        },
    },
}

VALID = """\
dialect: postgresql
name: app-db
port: 5432
statements:
  create:
    - CREATE ROLE x;
    - sql: GRANT y
      transaction: false
  revoke: [DROP ROLE x]
tags: [a, b]
parameters:
  schema_name: public
"""


def findings(text: str, schema: dict[str, Any] = SCHEMA) -> list[str]:
    """``file:line:col: message`` for every finding, in reported order."""
    return [str(f) for f in schema_findings(load_yaml(text, "m.yaml"), schema)]


def only(text: str, schema: dict[str, Any] = SCHEMA) -> str:
    result = findings(text, schema)
    assert len(result) == 1, result
    return result[0]


def test_valid_document_has_no_findings() -> None:
    assert findings(VALID) == []


def test_findings_are_manifest_errors_with_locations() -> None:
    (error,) = schema_findings(
        load_yaml("dialect: mysql\nstatements: {create: []}\nport: 0\n", "m.yaml"),
        SCHEMA,
    )
    assert isinstance(error, ManifestError)
    assert error.location == Location("m.yaml", 3, 7)
    assert error.message == "port: must be at least 1, got 0"


# -- unknown keys --------------------------------------------------------------


def test_typo_in_top_level_key_points_at_the_key_and_suggests() -> None:
    text = "dialect: postgresql\nstatments:\n  create: []\n"
    assert findings(text) == [
        'm.yaml:1:1: missing required key "statements"',
        'm.yaml:2:1: unknown key "statments" (did you mean "statements"?)',
    ]


def test_typo_in_nested_list_item_key() -> None:
    text = "dialect: postgresql\nstatements:\n  create:\n    - sql: GRANT y\n      transacton: false\n"
    assert only(text) == 'm.yaml:5:7: unknown key "transacton" (did you mean "transaction"?)'


def test_unknown_key_without_a_close_match_has_no_suggestion() -> None:
    text = "dialect: mysql\nstatements: {create: []}\nflavour: vanilla\n"
    assert only(text) == 'm.yaml:3:1: unknown key "flavour"'


def test_no_suggestion_of_a_key_already_present() -> None:
    text = "dialect: mysql\nstatements: {create: []}\nstatement: {}\n"
    assert only(text) == 'm.yaml:3:1: unknown key "statement"'


def test_case_slip_is_suggested() -> None:
    text = "Dialect: mysql\nstatements: {create: []}\n"
    assert 'm.yaml:1:1: unknown key "Dialect" (did you mean "dialect"?)' in findings(text)


def test_false_schema_property_is_not_allowed() -> None:
    text = "dialect: mysql\nstatements: {create: []}\nold_name: x\n"
    assert only(text) == 'm.yaml:3:1: key "old_name" is not allowed here'


def test_invalid_property_name_points_at_the_key() -> None:
    text = "dialect: mysql\nstatements: {create: []}\nparameters:\n  Schema-Name: x\n"
    assert only(text) == ('m.yaml:4:3: invalid key "Schema-Name": does not match the pattern ^[a-z_]+$')


# -- values --------------------------------------------------------------------


def test_bad_enum_names_the_key_and_suggests() -> None:
    text = "dialect: postgress\nstatements: {create: []}\n"
    assert only(text) == (
        'm.yaml:1:10: dialect: "postgress" is not one of: postgresql, mysql, mariadb (did you mean "postgresql"?)'
    )


def test_wrong_type_points_at_the_value() -> None:
    text = 'dialect: mysql\nstatements: {create: []}\nport: "5432"\n'
    assert only(text) == "m.yaml:3:7: port: expected an integer, got a string"


def test_yaml_boolean_where_text_expected_suggests_quoting() -> None:
    text = "dialect: mysql\nstatements: {create: []}\ndescription: yes\n"
    assert only(text) == (
        'm.yaml:3:14: description: expected a string, got a boolean; quote it ("yes") to make it a string'
    )


def test_empty_value() -> None:
    text = "dialect:\nstatements: {create: []}\n"
    assert only(text) == ("m.yaml:1:9: dialect: null is not one of: postgresql, mysql, mariadb")


def test_list_where_a_mapping_was_expected() -> None:
    text = "dialect: mysql\nstatements:\n  - create: []\n"
    assert only(text) == "m.yaml:3:3: statements: expected a mapping, got a list"


def test_pattern() -> None:
    text = "dialect: mysql\nstatements: {create: []}\nname: My DB\n"
    assert only(text) == ('m.yaml:3:7: name: "My DB" does not match the pattern ^[a-z][a-z0-9-]*$')


def test_maximum_and_max_length() -> None:
    text = "dialect: mysql\nstatements: {create: []}\nport: 70000\ndescription: a description that is far too long\n"
    assert findings(text) == [
        "m.yaml:3:7: port: must be at most 65535, got 70000",
        "m.yaml:4:14: description: is too long (34 characters, at most 20)",
    ]


def test_format_date_is_checked() -> None:
    # YAML 1.1 would make this a timestamp; the loader keeps it as text.
    text = "dialect: mysql\nstatements: {create: []}\nexpires: 2024-13-01\n"
    assert only(text) == 'm.yaml:3:10: expires: "2024-13-01" is not a valid date'


def test_min_items_and_duplicate_items() -> None:
    assert only("dialect: mysql\nstatements: {create: []}\ntags: []\n") == (
        "m.yaml:3:7: tags: expected at least 1 item, got 0"
    )
    text = "dialect: mysql\nstatements: {create: []}\ntags:\n  - a\n  - b\n  - a\n"
    assert only(text) == 'm.yaml:6:5: tags: duplicate item "a" (already at line 4)'


def test_item_type_names_the_list_and_index() -> None:
    text = "dialect: mysql\nstatements: {create: []}\ntags: [a, 2, c]\n"
    assert only(text) == ('m.yaml:3:11: tags[1]: expected a string, got an integer; quote it ("2") to make it a string')


# -- required ------------------------------------------------------------------


def test_missing_nested_key_points_at_the_parent_key() -> None:
    text = "dialect: mysql\nstatements:\n  revoke: []\n"
    assert only(text) == 'm.yaml:2:1: missing required key "create"'


def test_missing_root_keys_point_at_the_document_start() -> None:
    text = "# my manifest\n\nname: app\n"
    assert findings(text) == [
        'm.yaml:1:1: missing required key "dialect"',
        'm.yaml:1:1: missing required key "statements"',
    ]


def test_root_of_the_wrong_type() -> None:
    assert only("- dialect: mysql\n") == "m.yaml:1:1: expected a mapping, got a list"


def test_empty_document() -> None:
    assert only("# nothing yet\n") == "m.yaml:1:1: the document is empty; expected a mapping"


# -- oneOf / anyOf -------------------------------------------------------------


def _steps(*lines: str) -> str:
    return "dialect: mysql\nstatements:\n  create:\n" + "".join(f"    {line}\n" for line in lines)


def test_one_of_string_branch_when_value_is_a_string() -> None:
    assert only(_steps('- ""')) == "m.yaml:4:7: create[0]: must not be empty"


def test_one_of_object_branch_when_value_is_a_mapping() -> None:
    assert only(_steps("- sql: 5")) == (
        'm.yaml:4:12: sql: expected a string, got an integer; quote it ("5") to make it a string'
    )
    assert only(_steps("- transaction: yes")) == 'm.yaml:4:7: missing required key "sql"'


def test_one_of_reports_every_error_of_the_chosen_branch() -> None:
    text = _steps("- sql: GRANT y", "  on_error: explode", "  retry: 3")
    assert findings(text) == [
        'm.yaml:5:17: on_error: "explode" is not one of: fail, continue',
        'm.yaml:6:7: unknown key "retry"',
    ]


def test_one_of_with_no_matching_type_lists_the_alternatives() -> None:
    assert only(_steps("- [CREATE ROLE x]")) == ("m.yaml:4:7: create[0]: expected a string or a mapping, got a list")


def test_one_of_discriminated_by_kind() -> None:
    schema = {
        "type": "object",
        "properties": {
            "check": {
                "oneOf": [
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["kind", "query"],
                        "properties": {
                            "kind": {"const": "sql"},
                            "query": {"type": "string"},
                        },
                    },
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["kind", "command"],
                        "properties": {
                            "kind": {"const": "shell"},
                            "command": {"type": "array"},
                        },
                    },
                ]
            }
        },
    }
    # kind selects the branch: only that branch's complaints are shown.
    assert only("check:\n  kind: shell\n  command: ls\n", schema) == (
        "m.yaml:3:12: command: expected a list, got a string"
    )
    assert findings("check:\n  kind: sql\n  querry: SELECT 1\n", schema) == [
        'm.yaml:1:1: missing required key "query"',
        'm.yaml:3:3: unknown key "querry" (did you mean "query"?)',
    ]
    # An unknown kind: say which kinds exist, not every branch's errors.
    assert only("check:\n  kind: python\n  query: x\n", schema) == (
        'm.yaml:2:9: kind: "python" is not one of: sql, shell'
    )


def test_one_of_prefers_the_branch_that_knows_the_keys() -> None:
    schema = {
        "anyOf": [
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["script"],
                "properties": {"script": {"type": "string"}},
            },
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["sql"],
                "properties": {
                    "sql": {"type": "string"},
                    "timeout": {"type": "integer"},
                },
            },
        ]
    }
    assert only("sql: SELECT 1\ntimeout: soon\n", schema) == ("m.yaml:2:10: timeout: expected an integer, got a string")


def test_one_of_constants() -> None:
    schema = {
        "type": "object",
        "properties": {"mode": {"oneOf": [{"const": "strict"}, {"const": "lenient"}]}},
    }
    assert only("mode: strikt\n", schema) == (
        'm.yaml:1:7: mode: "strikt" is not one of: strict, lenient (did you mean "strict"?)'
    )


def test_nested_one_of_of_types() -> None:
    schema = {
        "type": "object",
        "properties": {
            "timeout": {
                "anyOf": [
                    {"type": "integer", "minimum": 0},
                    {
                        "oneOf": [
                            {"type": "string", "pattern": "^[0-9]+[smh]$"},
                            {"type": "null"},
                        ]
                    },
                ]
            }
        },
    }
    assert only("timeout: [1]\n", schema) == ("m.yaml:1:10: timeout: expected an integer, a string or null, got a list")
    assert only("timeout: 5x\n", schema) == ('m.yaml:1:10: timeout: "5x" does not match the pattern ^[0-9]+[smh]$')
    assert only("timeout: -1\n", schema) == "m.yaml:1:10: timeout: must be at least 0, got -1"


def test_one_of_matching_several_alternatives() -> None:
    schema = {
        "type": "object",
        "properties": {"port": {"oneOf": [{"type": "integer"}, {"minimum": 0}]}},
    }
    assert only("port: 5\n", schema) == "m.yaml:1:7: port: matches more than one allowed form"


def test_false_property_inside_a_union_branch() -> None:
    schema = {
        "type": "object",
        "properties": {
            "step": {
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "properties": {"sql": {"type": "string"}, "sql_file": False},
                    },
                ]
            }
        },
    }
    assert only("step:\n  sql: x\n  sql_file: y.sql\n", schema) == ('m.yaml:3:3: key "sql_file" is not allowed here')


# -- unevaluatedProperties -----------------------------------------------------


def test_unevaluated_properties_with_ref_and_all_of() -> None:
    schema = {
        "$defs": {"base": {"properties": {"name": {"type": "string"}}}},
        "type": "object",
        "allOf": [{"$ref": "#/$defs/base"}],
        "properties": {"statements": {"type": "object"}},
        "unevaluatedProperties": False,
    }
    assert findings("name: x\nnmae: y\nstatments: {}\n", schema) == [
        'm.yaml:2:1: unknown key "nmae"',
        'm.yaml:3:1: unknown key "statments" (did you mean "statements"?)',
    ]
    assert only("statements: {}\nnam: y\n", schema) == ('m.yaml:2:1: unknown key "nam" (did you mean "name"?)')


# -- ordering, caching, odd inputs ---------------------------------------------


def test_findings_are_sorted_and_deduplicated() -> None:
    text = "port: zero\ndialect: oracle\nstatements:\n  create: x\n  revoke: y\n"
    assert findings(text) == [
        "m.yaml:1:7: port: expected an integer, got a string",
        'm.yaml:2:10: dialect: "oracle" is not one of: postgresql, mysql, mariadb',
        "m.yaml:4:11: create: expected a list, got a string",
        "m.yaml:5:11: revoke: expected a list, got a string",
    ]


def test_validator_is_built_once_per_schema() -> None:
    schema = {"type": "object", "required": ["a"]}
    findings("b: 1\n", schema)
    cached = schema_errors._VALIDATORS[id(schema)][1]
    findings("c: 1\n", schema)
    assert schema_errors._VALIDATORS[id(schema)][1] is cached


def test_invalid_schema_is_a_manifest_error() -> None:
    with pytest.raises(ManifestError, match="invalid JSON Schema"):
        findings("a: 1\n", {"type": "strng"})


def test_document_without_positions_still_reports() -> None:
    doc = Document({"dialect": "x"}, "inline")
    result = schema_findings(doc, SCHEMA)
    # No positions: everything is at the file, ordered by message.
    assert [str(e) for e in result] == [
        'inline: dialect: "x" is not one of: postgresql, mysql, mariadb',
        'inline: missing required key "statements"',
    ]


def test_long_values_are_shortened() -> None:
    text = "dialect: " + "x" * 200 + "\nstatements: {create: []}\n"
    message = only(text)
    assert len(message) < 140
    assert '"xxxxxxxx' in message and '…"' in message


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.sampled_from(["", "x", "postgresql", "mysql", "a-b", "DROP", "2024-01-01"]),
)
_KEYS = st.sampled_from(
    [
        "dialect",
        "statements",
        "create",
        "revoke",
        "sql",
        "transaction",
        "on_error",
        "tags",
        "port",
        "name",
        "parameters",
        "old_name",
        "Bad-Key",
        "statments",
    ]
)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=5)),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_DATA)
def test_every_finding_is_located_for_arbitrary_documents(data: Any) -> None:
    text = yaml.safe_dump(data, sort_keys=False)
    doc = load_yaml(text, "m.yaml")
    result = schema_findings(doc, SCHEMA)
    keys = [(e.location.line, e.location.column, e.message) for e in result]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    for error in result:
        assert error.location is not None and error.location.line >= 1
        assert error.message and "\n" not in error.message


# -- the shipped schema, and no reading of jsonschema's English ----------------

# Keywords whose value holds names or data, not subschemas or further keywords.
_NAME_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_DATA = ("enum", "const", "default", "examples", "required", "dependentRequired")


def _keywords(schema: Any) -> set[str]:
    """Every keyword a JSON Schema uses, however deep."""
    found: set[str] = set()
    if isinstance(schema, list):
        for sub in schema:
            found |= _keywords(sub)
    elif isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in _NAME_MAPS and isinstance(value, dict):
                for sub in value.values():
                    found |= _keywords(sub)
            elif key not in _DATA:
                found |= _keywords(value)
    return found


def test_the_shipped_schema_uses_only_keywords_the_formatter_handles() -> None:
    from yamldb.resources import manifest_schema

    unhandled = _keywords(manifest_schema()) - schema_errors.HANDLED_KEYWORDS
    assert not unhandled, (
        f"schemas/manifest.schema.json uses {sorted(unhandled)}: teach manifest/schema_errors.py "
        "to locate and word their errors, then add them to HANDLED_KEYWORDS"
    )


def test_the_keyword_walk_sees_nested_and_unhandled_keywords() -> None:
    schema = {
        "$defs": {"x": {"type": "object", "dependentSchemas": {"a": {"contentMediaType": "text/x"}}}},
        "properties": {"type": {"enum": ["oneOf"]}},
    }
    assert _keywords(schema) == {"$defs", "type", "dependentSchemas", "contentMediaType", "properties", "enum"}
    assert {"dependentSchemas", "contentMediaType"} <= _keywords(schema) - schema_errors.HANDLED_KEYWORDS


_DOCUMENTS = [
    "dialect: postgresql\nstatments:\n  create: []\n",
    "dialect: postgresql\nstatements:\n  create:\n    - sql: GRANT y\n      transacton: false\n",
    "dialect: mysql\nstatements: {create: []}\nold_name: x\n",
    "dialect: mysql\nstatements: {create: []}\nparameters:\n  Schema-Name: x\n",
    "dialect: postgress\nstatements: {create: []}\n",
    "dialect: mysql\nstatements: {create: []}\ndescription: yes\nport: 70000\nexpires: 2024-13-01\n",
    "dialect: mysql\nstatements: {create: []}\ntags:\n  - a\n  - b\n  - a\n",
    "dialect: mysql\nstatements:\n  revoke: []\n",
    "# nothing yet\n",
    _steps('- ""', "- sql: 5", "- [CREATE ROLE x]", "- transaction: yes"),
    _steps("- sql: GRANT y", "  on_error: explode", "  retry: 3"),
]


class _EnglishScrambler:
    """A validator whose errors all carry a meaningless message, context included."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def iter_errors(self, instance: Any) -> Any:
        for error in self.real.iter_errors(instance):
            yield self.scramble(error)

    def scramble(self, error: Any) -> Any:
        error.message = "<no English here>"
        for sub in error.context or ():
            self.scramble(sub)
        return error


@pytest.mark.parametrize("text", _DOCUMENTS)
def test_findings_do_not_depend_on_jsonschema_messages(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = findings(text)
    assert expected
    real = schema_errors._validator_for
    monkeypatch.setattr(schema_errors, "_validator_for", lambda schema: _EnglishScrambler(real(schema)))
    assert findings(text) == expected


def test_unevaluated_keys_are_found_without_reading_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = {
        "$defs": {"base": {"properties": {"name": {"type": "string"}}, "patternProperties": {"^x-": {}}}},
        "type": "object",
        "allOf": [{"$ref": "#/$defs/base"}],
        "properties": {"statements": {"type": "object"}},
        "unevaluatedProperties": False,
    }
    real = schema_errors._validator_for
    monkeypatch.setattr(schema_errors, "_validator_for", lambda schema: _EnglishScrambler(real(schema)))
    assert findings("name: x\nx-note: y\nstatments: {}\n", schema) == [
        'm.yaml:3:1: unknown key "statments" (did you mean "statements"?)',
    ]
