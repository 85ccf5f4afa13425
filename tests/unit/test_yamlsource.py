"""Tests for yamldb.manifest.yamlsource: values, positions and located YAML errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from yamldb.errors import Location, ManifestError
from yamldb.manifest.limits import DEFAULT_MAX_NODES
from yamldb.manifest.yamlsource import Document, load_yaml, load_yaml_file


def error_of(text: str, file: str = "m.yaml") -> str:
    """The located message load_yaml raises for ``text``."""
    with pytest.raises(ManifestError) as info:
        load_yaml(text, file)
    assert info.value.location is not None
    return str(info.value)


# ---------------------------------------------------------------------------
# Values


def test_plain_values_with_yaml_1_1_scalars() -> None:
    doc = load_yaml(
        "name: app\n"
        "port: 5432\n"
        "ratio: 0.5\n"
        "enabled: yes\n"
        "off_flag: off\n"
        "nothing:\n"
        "tilde: ~\n"
        "big: 1_000\n"
        "hex: 0x1F\n"
        "inf: .inf\n"
        "day: 2024-01-01\n"
        "quoted: '123'\n"
        "items: [a, 1, true]\n",
        "m.yaml",
    )
    data = doc.data
    assert data["name"] == "app"
    assert data["port"] == 5432
    assert data["ratio"] == 0.5
    assert data["enabled"] is True
    assert data["off_flag"] is False
    assert data["nothing"] is None
    assert data["tilde"] is None
    assert data["big"] == 1000
    assert data["hex"] == 31
    assert math.isinf(data["inf"])
    # Timestamps are kept as written: JSON has no date type.
    assert data["day"] == "2024-01-01"
    assert data["quoted"] == "123"
    assert data["items"] == ["a", 1, True]
    assert doc.file == "m.yaml"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "   \n\n"])
def test_empty_document_is_none(text: str) -> None:
    doc = load_yaml(text, "empty.yaml")
    assert doc.data is None
    assert doc.location(()) == Location("empty.yaml", 1, 1)
    assert doc.value_location(("anything",)) == Location("empty.yaml", 1, 1)


def test_leading_document_marker_is_one_document() -> None:
    assert load_yaml("---\na: 1\n", "m.yaml").data == {"a": 1}


def test_bom_and_crlf_are_accepted() -> None:
    doc = load_yaml("\ufeffa: 1\r\nb:\r\n  c: x\r\n", "m.yaml")
    assert doc.data == {"a": 1, "b": {"c": "x"}}
    assert str(doc.value_location(("b", "c"))) == "m.yaml:3:6"


def test_merge_keys_explicit_keys_win() -> None:
    doc = load_yaml(
        "base: &base\n  transaction: false\n  on_error: fail\nstep:\n  <<: *base\n  on_error: continue\n",
        "m.yaml",
    )
    assert doc.data["step"] == {"transaction": False, "on_error": "continue"}
    # Explicit key: its own position; merged key: where the anchor defines it.
    assert str(doc.key_location(("step", "on_error"))) == "m.yaml:6:3"
    assert str(doc.key_location(("step", "transaction"))) == "m.yaml:2:3"


def test_merge_list_earlier_source_wins() -> None:
    doc = load_yaml(
        "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n",
        "m.yaml",
    )
    assert doc.data["c"] == {"x": 1, "y": 2}
    assert str(doc.value_location(("c", "x"))) == "m.yaml:1:11"
    assert str(doc.value_location(("c", "y"))) == "m.yaml:2:17"


def test_aliases_are_expanded() -> None:
    doc = load_yaml("a: &x [1, 2]\nb: *x\n", "m.yaml")
    assert doc.data == {"a": [1, 2], "b": [1, 2]}
    assert doc.data["a"] is not doc.data["b"]


# ---------------------------------------------------------------------------
# Positions

NESTED = """\
# a comment
dialect: postgresql
statements:
  create:
    - CREATE ROLE x;
    - sql: GRANT y
      transaction: false
  revoke: []
empty:
"""


def test_key_and_value_locations() -> None:
    doc = load_yaml(NESTED, "m.yaml")
    assert str(doc.key_location(("dialect",))) == "m.yaml:2:1"
    assert str(doc.value_location(("dialect",))) == "m.yaml:2:10"
    assert str(doc.key_location(("statements", "create"))) == "m.yaml:4:3"
    # A block list starts at its first dash.
    assert str(doc.value_location(("statements", "create"))) == "m.yaml:5:5"
    # List items have no key: the item itself.
    assert str(doc.key_location(("statements", "create", 0))) == "m.yaml:5:7"
    assert str(doc.value_location(("statements", "create", 1, "sql"))) == "m.yaml:6:12"
    assert str(doc.key_location(("statements", "create", 1, "transaction"))) == "m.yaml:7:7"
    assert str(doc.value_location(("statements", "revoke"))) == "m.yaml:8:11"


def test_empty_value_points_just_after_the_colon() -> None:
    doc = load_yaml(NESTED, "m.yaml")
    assert str(doc.value_location(("empty",))) == "m.yaml:9:7"


def test_location_prefers_value_for_scalars_and_key_for_containers() -> None:
    doc = load_yaml(NESTED, "m.yaml")
    assert str(doc.location(("dialect",))) == "m.yaml:2:10"
    assert str(doc.location(("statements",))) == "m.yaml:3:1"
    assert str(doc.location(("statements", "create", 1))) == "m.yaml:6:7"
    # The root is a container without a key: the start of the file.
    assert str(doc.location(())) == "m.yaml:1:1"
    assert str(doc.key_location(())) == "m.yaml:1:1"


def test_missing_paths_fall_back_to_nearest_ancestor() -> None:
    doc = load_yaml(NESTED, "m.yaml")
    assert str(doc.location(("statements", "create", 7, "sql"))) == "m.yaml:4:3"
    assert str(doc.key_location(("statements", "nope"))) == "m.yaml:3:1"
    assert str(doc.value_location(("dialect", "deeper"))) == "m.yaml:2:10"
    assert str(doc.location(("unknown",))) == "m.yaml:1:1"


def test_hand_built_document_has_file_only_locations() -> None:
    doc = Document({"a": 1}, "inline")
    assert doc.location(("a",)) == Location("inline")
    assert doc.key_location(()) == Location("inline")
    assert doc.scalar_offset_location(("a",), 0) == Location("inline")


def test_source_text_is_what_the_user_typed() -> None:
    doc = load_yaml("a: yes\nb: 'yes'\n", "m.yaml")
    assert doc.source_text(("a",)) == "yes"
    assert doc.source_text(("b",)) is None  # quoted: already a string


# ---------------------------------------------------------------------------
# Offsets inside scalars (placeholders in SQL)

OFFSETS = """\
plain: CREATE ROLE {{name}}
single: 'it''s {{name}}'
double: "tab\\there {{name}}"
literal: |
  SELECT 1;
    GRANT {{name}};
folded: >-
  folded line
  and {{name}}

  para {{x}}
multi: CREATE ROLE
  more {{name}}
escaped: "multi
  line \\
  {{name}}"
items:
  - x {{name}}
"""


@pytest.mark.parametrize(
    ("path", "placeholder", "expected"),
    [
        (("plain",), "{{name}}", "m.yaml:1:20"),
        (("single",), "{{name}}", "m.yaml:2:16"),
        (("double",), "{{name}}", "m.yaml:3:20"),
        (("literal",), "{{name}}", "m.yaml:6:11"),
        (("folded",), "{{name}}", "m.yaml:9:7"),
        (("folded",), "{{x}}", "m.yaml:11:8"),
        (("multi",), "{{name}}", "m.yaml:13:8"),
        (("escaped",), "{{name}}", "m.yaml:16:3"),
        (("items", 0), "{{name}}", "m.yaml:18:7"),
    ],
)
def test_scalar_offset_location(path: tuple[str | int, ...], placeholder: str, expected: str) -> None:
    doc = load_yaml(OFFSETS, "m.yaml")
    value = doc.data
    for part in path:
        value = value[part]
    offset = value.index(placeholder)
    location = doc.scalar_offset_location(path, offset)
    assert str(location) == expected
    line = OFFSETS.splitlines()[location.line - 1]
    assert line[location.column - 1 :].startswith(placeholder)


def test_scalar_offset_falls_back_to_value_location() -> None:
    doc = load_yaml("n: 42\ns: abc\n", "m.yaml")
    assert str(doc.scalar_offset_location(("n",), 1)) == "m.yaml:1:4"  # not a string
    assert str(doc.scalar_offset_location(("s",), 99)) == "m.yaml:2:4"  # past the end
    assert str(doc.scalar_offset_location(("s",), -1)) == "m.yaml:2:4"
    assert str(doc.scalar_offset_location(("missing",), 0)) == "m.yaml:1:1"


# ---------------------------------------------------------------------------
# Errors


def test_syntax_error_mapping_values() -> None:
    message = error_of("dialect: postgresql\nstatements:\n  create:\n  x: y: z\n")
    assert message.startswith("m.yaml:4:7: mapping values are not allowed here")


def test_tab_used_for_indentation() -> None:
    assert error_of("statements:\n\tcreate: []\n") == (
        "m.yaml:2:1: tab character used for indentation; YAML requires spaces"
    )


def test_tab_after_spaces_in_indentation() -> None:
    message = error_of("a:\n  b: 1\n  \tc: 2\n")
    assert message == "m.yaml:3:3: tab character used for indentation; YAML requires spaces"


def test_tab_after_colon() -> None:
    assert error_of("dialect:\tpostgresql\n") == ("m.yaml:1:9: tab character is not allowed here; use spaces")


def test_tab_inside_block_scalar_content_is_fine() -> None:
    doc = load_yaml("sql: |\n  SELECT\n  \tname\n", "m.yaml")
    assert doc.data == {"sql": "SELECT\n\tname\n"}


def test_duplicate_key() -> None:
    text = "dialect: postgresql\nname: a\nstatements: {}\nname: b\n"
    assert error_of(text) == 'm.yaml:4:1: duplicate key "name" (first defined at line 2)'


def test_duplicate_key_nested_and_in_flow_mapping() -> None:
    assert error_of("a:\n  b: 1\n  c: 2\n  b: 3\n") == ('m.yaml:4:3: duplicate key "b" (first defined at line 2)')
    assert error_of("a: {x: 1, x: 2}\n") == 'm.yaml:1:11: duplicate key "x" (first defined at line 1)'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a: 1\n1: x\n",
            'm.yaml:2:1: key 1 is a number; mapping keys must be strings (quote it: "1")',
        ),
        ("a:\n  2.5: x\n", "m.yaml:2:3: key 2.5 is a number"),
        ("null: x\n", "m.yaml:1:1: empty or null mapping key"),
        (
            "a:\n  yes: 1\n",
            'm.yaml:2:3: key yes is read as a boolean by YAML; quote it ("yes")',
        ),
        (
            "on: push\n",
            'm.yaml:1:1: key on is read as a boolean by YAML; quote it ("on")',
        ),
        ("? [a, b]\n: 1\n", "m.yaml:1:3: mapping keys must be strings, not a list"),
    ],
)
def test_non_string_keys(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


def test_quoted_keys_are_strings() -> None:
    assert load_yaml('"1": x\n"yes": y\n', "m.yaml").data == {"1": "x", "yes": "y"}


def test_multiple_documents() -> None:
    message = error_of("a: 1\n---\nb: 2\n")
    assert message.startswith("m.yaml:2:1: more than one YAML document in the file")


def test_could_not_find_colon_points_at_the_line_missing_it() -> None:
    message = error_of("dialect: postgresql\nstatements\nname: x\n")
    assert message.startswith("m.yaml:2:1: could not find expected ':'")


def test_bad_indentation() -> None:
    message = error_of("statements:\n  create: []\n revoke: []\n")
    assert message.startswith("m.yaml:3:2: found a new mapping where it was not expected")
    assert "check the indentation" in message
    assert "mapping that starts at line 1" in message


def test_list_item_under_mapping() -> None:
    message = error_of("dialect: x\n- CREATE ROLE\n")
    assert message.startswith("m.yaml:2:1: found a list item '-' where it was not expected")


def test_unterminated_quote_points_at_opening_quote() -> None:
    message = error_of("a: 'CREATE ROLE\nb: 2\n")
    assert message == "m.yaml:1:4: unterminated quoted string (no closing quote)"


def test_unclosed_flow_list() -> None:
    message = error_of("a: [1, 2\nb: 3\n")
    assert message.startswith("m.yaml:2:2: expected ',' or ']'")
    assert "[...] list that starts at line 1" in message


def test_reserved_indicator() -> None:
    assert error_of("a: @admin\n") == ("m.yaml:1:4: a plain value cannot start with '@'; put the value in quotes")


def test_unknown_alias() -> None:
    assert error_of("a: *nope\n") == ("m.yaml:1:4: unknown alias *nope (no anchor &nope defined before it)")


def test_duplicate_anchor() -> None:
    assert error_of("a: &x 1\nb: &x 2\n") == "m.yaml:2:4: duplicate anchor &x (first defined at line 1)"


def test_recursive_alias() -> None:
    # Reported at the key holding the alias (the alias leaves no node of its own).
    assert error_of("a: &x\n  b: *x\n") == ("m.yaml:2:3: alias refers to a value that contains itself")
    assert error_of("a: &x [*x]\n") == "m.yaml:1:4: alias refers to a value that contains itself"
    assert error_of("a: &x {<<: *x}\n").startswith("m.yaml:1:8: alias refers to a value")


def test_billion_laughs_is_bounded() -> None:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 7):
        refs = ", ".join([f"*l{level - 1}"] * 10)
        lines.append(f"l{level}: &l{level} [{refs}]")
    message = error_of("\n".join(lines) + "\n")
    assert f"m.yaml:1:1: aliases expand the manifest to more than {DEFAULT_MAX_NODES} values" in message


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(ManifestError, match="nested too deeply"):
        load_yaml("a: " + "[" * 3000 + "]" * 3000 + "\n", "m.yaml")


def test_unsupported_tag() -> None:
    assert error_of("a: !!binary aGk=\n") == "m.yaml:1:4: unsupported YAML tag !!binary"
    assert error_of("a: !custom x\n") == "m.yaml:1:4: unsupported YAML tag !custom"
    assert error_of("a: !!set {x}\n") == "m.yaml:1:4: unsupported YAML tag !!set"


def test_invalid_explicitly_tagged_number() -> None:
    message = error_of("a: !!int abc\n")
    assert message == "m.yaml:1:4: invalid integer 'abc'; quote it if it is meant as text"


def test_bad_merge_value() -> None:
    assert error_of("a:\n  <<: 1\n").startswith("m.yaml:2:7: the value of '<<' must be a mapping")


def test_control_character_is_located() -> None:
    assert error_of("a: 1\nb: x\x00y\n") == ("m.yaml:2:5: character U+0000 is not allowed in YAML text; remove it")


# ---------------------------------------------------------------------------
# Files


def test_load_yaml_file_uses_display_name(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("a:\n  b: 1\n", encoding="utf-8")
    doc = load_yaml_file(path, "manifests/m.yaml")
    assert doc.data == {"a": {"b": 1}}
    assert str(doc.value_location(("a", "b"))) == "manifests/m.yaml:2:6"
    assert load_yaml_file(path).file == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_yaml_file(tmp_path / "nope.yaml", "nope.yaml")
    assert str(info.value).startswith("nope.yaml: cannot read file")
    assert info.value.location == Location("nope.yaml")


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read file"):
        load_yaml_file(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("a: 1\nname: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ManifestError) as info:
        load_yaml_file(path, "latin1.yaml")
    assert str(info.value) == ("latin1.yaml:2:10: file is not valid UTF-8 (byte 0xe9); save it as UTF-8")


def test_syntax_error_in_file_names_display_name(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("a: b: c\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"^shown\.yaml:1:5: mapping values"):
        load_yaml_file(path, "shown.yaml")


# ---------------------------------------------------------------------------
# Robustness

# Fragments that steer the fuzzer towards YAML structure (indicators, anchors,
# merge keys, tabs, odd line breaks) rather than mostly plain text.
_YAMLISH = st.lists(
    st.sampled_from(
        [
            *list("ab1 :-?[]{},#&*!|>'\"\\%@`\t\n<=~."),
            "\r",
            "\x00",
            "\ufeff",
            "\u2028",
            "yes",
            "null",
            "<<",
            "---",
            "...",
            "&a",
            "*a",
            "é",
            "\n  ",
            "\n- ",
            ": ",
            "!!int",
            "!!str",
        ]
    ),
    max_size=40,
).map("".join)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.one_of(st.text(max_size=80), _YAMLISH))
def test_load_yaml_only_raises_manifest_error(text: str) -> None:
    try:
        doc = load_yaml(text, "fuzz.yaml")
    except ManifestError as exc:
        assert exc.location is not None
        assert str(exc).startswith("fuzz.yaml")
        return
    # Whatever loaded must be JSON-shaped and every path must be locatable.
    _check_json_shaped(doc.data, doc, ())


def _check_json_shaped(value: object, doc: Document, path: tuple[str | int, ...]) -> None:
    location = doc.location(path)
    assert location.file == "fuzz.yaml" and location.line >= 1
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            _check_json_shaped(item, doc, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_shaped(item, doc, (*path, index))
    else:
        assert value is None or isinstance(value, (str, int, float, bool))
        if isinstance(value, str) and value:
            doc.scalar_offset_location(path, len(value) - 1)


@settings(max_examples=200, deadline=None)
@given(
    value=st.text(alphabet="ab{}' \"\\\n\t#:é", min_size=1, max_size=60),
    style=st.sampled_from([None, "'", '"', "|", ">"]),
    width=st.sampled_from([12, 80]),
)
def test_scalar_offsets_point_at_the_same_character(value: str, style: str | None, width: int) -> None:
    """Whatever style pyyaml writes a string in, mapped offsets land on that character."""
    import yaml

    text = yaml.safe_dump({"k": value}, default_style=style, width=width, allow_unicode=True)
    # pyyaml's emitter does not round-trip every string in every style.
    assume(yaml.safe_load(text) == {"k": value})
    doc = load_yaml(text, "m.yaml")
    assert doc.data == {"k": value}
    lines = text.split("\n")
    for offset, char in enumerate(value):
        location = doc.scalar_offset_location(("k",), offset)
        if char.isspace() or char == "\\":
            continue  # whitespace may be a folded break; backslashes may be escapes
        source_char = lines[location.line - 1][location.column - 1 : location.column]
        if location == doc.value_location(("k",)):
            continue  # an allowed fallback
        # In a double-quoted string an escaped character maps to its backslash.
        start = doc.value_location(("k",))
        double = lines[start.line - 1][start.column - 1] == '"'
        escaped = double and source_char == "\\"
        assert source_char == char or escaped, (offset, location, text)
