"""`yamldb validate` on manifests broken the way new users break them (issue 3, "how it will be checked")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAD = "yamldb: 1\ndialect: postgresql\n"
BROKEN = {
    "typo": (HEAD + "statments:\n  create: x\n", "3:1", 'unknown key "statments" (did you mean "statements"?)'),
    "type": (
        HEAD + "connection:\n  pool:\n    max_open_connections: many\n",
        "5:27",
        "max_open_connections: expected an integer, got a string",
    ),
    "unknown-key": (HEAD + "username:\n  templat: x\n", "4:3", 'unknown key "templat"'),
    "placeholder": (
        HEAD + 'statements:\n  create:\n    - CREATE ROLE "{{usernme}}";\n',
        "5:20",
        'placeholder {{usernme}} is not available in create (did you mean "username"?)',
    ),
    "secret-in-revoke": (
        HEAD + "statements:\n  revoke: |\n    DROP ROLE \"{{username}}\";\n    SELECT '{{password}}';\n",
        "6:13",
        "secrets are not available here",
    ),
    "filter": (
        HEAD + 'statements:\n  create:\n    - CREATE ROLE "{{username | quote}}";\n',
        "5:20",
        "unknown filter 'quote'",
    ),
    "duplicate": (HEAD + "dialect: mysql\n", "3:1", 'duplicate key "dialect" (first defined at line 2)'),
    "tabs": (HEAD + "username:\n\ttemplate: x\n", "4:1", "tab character used for indentation"),
    "too-long": (
        HEAD + 'username:\n  template: "{{ .DisplayName }}-{{ .RoleName }}"\n',
        "4:13",
        "postgresql allows 63: end it with `| truncate 63`",
    ),
    "bad-template": (
        HEAD + 'username:\n  template: "{{ .DisplayName | trunc 8 }}"\n',
        "4:13",
        'function "trunc" not defined',
    ),
    "dialect": (
        "yamldb: 1\ndialect: postgress\n",
        "2:10",
        "unknown dialect 'postgress' (did you mean \"postgresql\"?)",
    ),
    "unsupported": (
        "yamldb: 1\ndialect: mysql\nstatements:\n  renew: ALTER USER x;\n",
        "4:10",
        "dialect mysql does not support this operation",
    ),
}


def validate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yamldb.cli", "validate", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_mistake_gives_one_precise_error_and_exit_1(tmp_path: Path, case: str):
    text, where, message = BROKEN[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    result = validate(str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:{where}: "), lines[0]
    assert message in lines[0]


def test_every_shipped_dialect_and_example_validates():
    root = Path(__file__).resolve().parents[2]
    result = validate(str(root / "dialects"), str(root / "examples"))
    assert result.returncode == 0, result.stdout
    assert result.stdout == ""


def test_usage_errors_exit_2():
    assert validate("/no/such/manifest.yaml").returncode == 2
    assert validate("--format", "xml", "x").returncode == 2


def test_json_and_github_formats(tmp_path: Path):
    path = tmp_path / "typo.yaml"
    path.write_text(BROKEN["typo"][0])
    report = json.loads(validate("--format", "json", str(path)).stdout)
    assert report["findings"] == [
        {"file": str(path), "line": 3, "column": 1, "message": 'unknown key "statments" (did you mean "statements"?)'}
    ]
    github = validate("--format", "github", str(path)).stdout.strip()
    assert github == f'::error file={path},line=3,col=1::unknown key "statments" (did you mean "statements"?)'
