"""A manifest's cost is bounded before it is paid (issue 11 §7): size before parsing, nodes while
composing, alias expansion before expanding. Limits come from the operator's registration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from yamldb.errors import ConfigError, ManifestError
from yamldb.manifest.library import ManifestLibrary
from yamldb.manifest.limits import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_NODES,
    MAX_BYTES_ENV,
    MAX_NODES_ENV,
    ManifestLimits,
    parse_size,
)
from yamldb.manifest.loader import check_text
from yamldb.manifest.yamlsource import load_yaml, load_yaml_file

HEAD = "yamldb: 1\ndialect: postgresql\nstatements:\n  create:\n"


def many_statements(n_bytes: int) -> str:
    item = "    - SELECT 1;\n"
    return HEAD + item * ((n_bytes - len(HEAD)) // len(item) + 1)


def bomb(levels: int) -> str:
    lines = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def error_of(text: str, limits: ManifestLimits | None = None) -> str:
    with pytest.raises(ManifestError) as err:
        load_yaml(text, "m.yaml", limits)
    return str(err.value)


def test_a_12_mb_inline_manifest_is_refused_for_its_size_not_blamed_on_aliases():
    library = ManifestLibrary()
    text = many_statements(12_000_000)
    manifest, findings = check_text(text, "manifest_inline", library.dialect_path)
    assert manifest is None
    message = str(findings[0])
    assert message.startswith(
        f"manifest_inline: the manifest is {len(text)} bytes (11.4 MiB), over the limit of "
        f"{DEFAULT_MAX_BYTES} bytes (1.0 MiB); it was not parsed"
    )
    assert "--max-manifest-bytes" in message and "alias" not in message


def test_size_is_counted_in_utf8_bytes_and_the_limit_itself_is_allowed():
    limits = ManifestLimits(max_bytes=100)
    assert load_yaml("a: " + "x" * 96 + "\n", "m.yaml", limits).data == {"a": "x" * 96}  # exactly 100 bytes
    assert "the manifest is 101 bytes" in error_of("a: " + "x" * 97 + "\n", limits)
    assert "the manifest is 102 bytes" in error_of("a: " + "é" * 49 + "\n", limits)  # 49 characters, 98 bytes


def test_a_file_over_the_limit_is_refused_with_its_real_size(tmp_path: Path):
    path = tmp_path / "big.yaml"
    path.write_text(many_statements(3 * DEFAULT_MAX_BYTES))
    with pytest.raises(ManifestError) as err:
        load_yaml_file(path, "big.yaml")
    assert str(err.value).startswith(f"big.yaml: the manifest is {path.stat().st_size} bytes")


def test_a_manifest_directory_entry_over_the_limit_is_refused_by_name(tmp_path: Path, monkeypatch):
    (tmp_path / "huge.yaml").write_text(many_statements(4096))
    monkeypatch.setenv(MAX_BYTES_ENV, "2KiB")
    with pytest.raises(ManifestError) as err:
        ManifestLibrary([tmp_path]).load("huge")
    assert "huge.yaml: the manifest is" in str(err.value) and "over the limit of 2048 bytes" in str(err.value)


def test_too_many_nodes_stops_parsing_at_the_first_node_over_the_limit():
    limits = ManifestLimits(max_nodes=50)
    # The syntax error after the limit is never reached: parsing stopped at node 51.
    text = "a:\n" + "".join(f"  - {i}\n" for i in range(100)) + "b: [unclosed\n"
    message = error_of(text, limits)
    # Nodes: the root mapping, the key a, its list, items 0..46; item 47 (line 49) is the 51st.
    assert message.startswith("m.yaml:49:5: the manifest has more than 50 YAML nodes")
    assert "--max-manifest-nodes" in message
    assert load_yaml("a:\n" + "".join(f"  - {i}\n" for i in range(47)), "m.yaml", limits).data["a"][-1] == 46


def test_default_node_limit_refuses_a_long_list_within_the_size_limit():
    text = many_statements(200_000)
    assert len(text.encode()) < DEFAULT_MAX_BYTES
    assert f"more than {DEFAULT_MAX_NODES} YAML nodes" in error_of(text)


def test_alias_expansion_is_refused_before_it_is_expanded():
    # 9 levels would be 10**10 values; the refusal comes from counting the 31 nodes as written
    # (the root, 10 keys, 10 lists, 10 "x"; an alias is no node of its own).
    message = error_of(bomb(9))
    assert message.startswith(
        f"m.yaml:1:1: aliases expand the manifest to more than {DEFAULT_MAX_NODES} values (it has 31 nodes as written)"
    )
    assert load_yaml(bomb(2), "m.yaml").data["l2"][0][0] == ["x"] * 10  # 1,111 values: fine


def test_merge_keys_count_as_what_they_expand_to():
    base = "base: &b {" + ", ".join(f"k{i}: {i}" for i in range(30)) + "}\n"
    users = "".join(f"u{i}: {{<<: *b}}\n" for i in range(40))
    assert "aliases expand the manifest" in error_of(base + users, ManifestLimits(max_nodes=1000))
    assert len(load_yaml(base + users, "m.yaml", ManifestLimits(max_nodes=2000)).data) == 41


def test_deep_nesting_stops_while_parsing():
    assert error_of("a: " + "[" * 100_000 + "]" * 100_000 + "\n").startswith("m.yaml:1:")


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(MAX_BYTES_ENV, "512KiB")
    monkeypatch.setenv(MAX_NODES_ENV, "200")
    assert ManifestLimits.from_environment() == ManifestLimits(512 * 1024, 200)
    monkeypatch.setenv(MAX_BYTES_ENV, "1mb")
    with pytest.raises(ConfigError, match="YAMLDB_MAX_MANIFEST_BYTES: '1mb' is not a size"):
        ManifestLimits.from_environment()


@pytest.mark.parametrize(
    ("text", "expected"), [("1048576", 1 << 20), ("1MiB", 1 << 20), (" 64 KiB ", 65536), ("2GiB", 2 << 30), ("10B", 10)]
)
def test_parse_size(text: str, expected: int):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "0", "-1", "1.5MiB", "1MB", "lots"])
def test_parse_size_refuses(text: str):
    with pytest.raises(ConfigError):
        parse_size(text)


def test_plugin_launch_fails_loudly_on_a_bad_limit():
    probe = "from yamldb.transport.entry import _apply_args; _apply_args(['--max-manifest-bytes=lots'])"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "YAMLDB_MAX_MANIFEST_BYTES: 'lots' is not a size" in result.stderr


def test_plugin_args_set_the_limits():
    probe = (
        "import os; from yamldb.transport.entry import _apply_args; "
        "_apply_args(['--max-manifest-bytes', '2MiB', '--max-manifest-nodes=500']); "
        "print(os.environ['YAMLDB_MAX_MANIFEST_BYTES'], os.environ['YAMLDB_MAX_MANIFEST_NODES'])"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["2MiB", "500"], result.stderr


def test_an_operator_limit_does_not_refuse_the_shipped_dialect_a_manifest_builds_on(monkeypatch):
    monkeypatch.setenv(MAX_BYTES_ENV, "1KiB")  # postgresql.yaml is about 3 KiB
    library = ManifestLibrary()
    manifest, findings = check_text("yamldb: 1\ndialect: postgresql\n", "manifest_inline", library.dialect_path)
    assert findings == [] and manifest is not None
