"""The yamldb command says what it did (issue 11 §10): no empty password from an unset variable, no
"0 problems" for paths without manifests, standard input, one report per anchored finding, and no
short option with two meanings."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from yamldb.cli.main import parser

HEAD = "yamldb: 1\ndialect: postgresql\n"
ANCHORED = (
    HEAD
    + """\
sets:
  readonly: &ro
    create:
      - CREATE ROLE "{{username}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{nope}}';
  reporting: *ro
  audit: *ro
"""
)


def yamldb(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yamldb.cli", *args], capture_output=True, text=True, timeout=60, input=stdin, env=env
    )


def test_password_env_naming_an_unset_variable_is_a_usage_error():
    # Were the empty password used, the connection attempt to this closed port would fail with exit 1.
    env = {k: v for k, v in __import__("os").environ.items() if k != "YAMLDB_TEST_UNSET_PASSWORD"}
    result = yamldb(
        "check",
        "postgresql",
        "--connection-url",
        "postgresql://{{username}}:{{password}}@127.0.0.1:1/x",
        "--username",
        "admin",
        "--password-env",
        "YAMLDB_TEST_UNSET_PASSWORD",
        env=env,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--password-env YAMLDB_TEST_UNSET_PASSWORD: the environment variable is not set" in result.stderr
    assert result.stdout == ""


def test_password_and_password_env_together_are_a_usage_error():
    result = yamldb("check", "postgresql", "--connection-url", "x", "--password", "a", "--password-env", "B")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr


def test_validate_on_a_directory_without_manifests_exits_2(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("not a manifest\n")
    result = yamldb("validate", str(tmp_path))
    assert result.returncode == 2
    assert f"yamldb validate: {tmp_path}: no manifests found" in result.stderr


def test_validate_refuses_an_empty_directory_beside_a_good_one(tmp_path: Path):
    good, empty = tmp_path / "good", tmp_path / "typo"
    good.mkdir()
    empty.mkdir()
    (good / "m.yaml").write_text(HEAD)
    assert yamldb("validate", str(good)).returncode == 0
    result = yamldb("validate", str(good), str(empty))
    assert result.returncode == 2 and f"{empty}: no manifests found" in result.stderr


def test_validate_reads_standard_input_from_dash():
    assert yamldb("validate", "-", stdin=HEAD).returncode == 0
    result = yamldb("validate", "-", stdin=HEAD + "statments: {}\n")
    assert result.returncode == 1
    assert result.stdout.startswith('<stdin>:3:1: unknown key "statments"')


def test_standard_input_is_bounded_like_any_manifest():
    env = {**__import__("os").environ, "YAMLDB_MAX_MANIFEST_BYTES": "1KiB"}
    result = yamldb("validate", "-", stdin=HEAD + "# padding\n" * 200, env=env)
    assert result.returncode == 1
    assert result.stdout.startswith("<stdin>: the manifest is more than 1024 bytes, over the limit of 1024 bytes")


def test_a_bad_limit_in_the_environment_is_a_usage_error():
    env = {**__import__("os").environ, "YAMLDB_MAX_MANIFEST_NODES": "many"}
    result = yamldb("validate", "-", stdin=HEAD, env=env)
    assert result.returncode == 2
    assert "yamldb validate: YAMLDB_MAX_MANIFEST_NODES: 'many' is not a positive whole number" in result.stderr


def test_a_finding_reached_through_an_anchor_is_reported_once(tmp_path: Path):
    path = tmp_path / "anchored.yaml"
    path.write_text(ANCHORED)
    result = yamldb("validate", str(path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:6:84: sets.readonly.create: placeholder {{{{nope}}}} is not available")
    assert lines[0].endswith("(also reached as sets.reporting.create, sets.audit.create through a YAML alias)")
    assert "1 problem(s)" in result.stderr


def _options(p: argparse.ArgumentParser, prefix: str = "yamldb") -> dict[str, list[tuple[str, str]]]:
    """short option -> [(command, long option)] over every subcommand."""
    found: dict[str, list[tuple[str, str]]] = {}
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for short, uses in _options(sub, f"{prefix} {name}").items():
                    found.setdefault(short, []).extend(uses)
            continue
        shorts = [o for o in action.option_strings if not o.startswith("--")]
        longs = [o for o in action.option_strings if o.startswith("--")] or [action.dest]
        for short in shorts:
            found.setdefault(short, []).append((prefix, longs[0]))
    return found


def test_no_short_option_means_two_things():
    for short, uses in _options(parser()).items():
        assert len({long for _, long in uses}) == 1, f"{short} means {uses}"
