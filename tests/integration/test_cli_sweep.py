"""`yamldb sweep` as a user runs it: dry run, JSON, --apply, exit codes and refusals.

SQLite (users in a table) needs no server, so every branch of the command is exercised here; the live
PostgreSQL/MariaDB proofs with OpenBao are in test_sweep_orphans_live.py.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from yamldb.lifecycle import requests as rq
from yamldb.lifecycle.database import ManifestDatabase


def sweep(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yamldb.cli", "sweep", *args], capture_output=True, text=True, timeout=120
    )


def rows(path: Path) -> dict[str, str | None]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT username, expires_at FROM app_users"))


@pytest.fixture
def users(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Users created through the plugin's own code, with leases that ended long ago, just now, or later."""
    path = tmp_path / "app.db"
    db = ManifestDatabase()
    db.initialize({"manifest": "sqlite", "connection_url": str(path)}, True)
    now = datetime.now(UTC)
    made = {}
    for label, delta in (("old", -7200), ("recent", -120), ("live", 3600), ("renewed", -7200)):
        made[label] = db.new_user(rq.NewUser("token", label, now + timedelta(seconds=delta), password="Pw-1aaaaaaa"))
    # A renewal moves the expiry: this user's lease is alive again.
    db.update_user(rq.UpdateUser(made["renewed"], expiration=rq.ExpirationChange(now + timedelta(hours=1))))
    db.close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO app_users VALUES ('alice', 'x', '2000-01-01 00:00:00')")  # not the template's
        made["unknown"] = "v-token-unknown-ABCDEFGHIJKLMNOPQRST-1772694489"
        conn.execute("INSERT INTO app_users VALUES (?, 'x', NULL)", (made["unknown"],))  # no expiry known
    return path, made


def test_dry_run_lists_and_changes_nothing(users):
    path, made = users
    before = rows(path)
    result = sweep("sqlite", "--connection-url", str(path), "--grace", "1m")
    assert result.returncode == 1, result.stdout + result.stderr  # findings, like yamldb validate
    out = result.stdout
    assert "names it produces: v-{.DisplayName:0..8}-{.RoleName:0..8}-{base62:20}-{unix_time}" in out
    for label, status in (
        ("old", "expired"),
        ("recent", "expired"),
        ("live", "alive"),
        ("renewed", "alive"),
        ("unknown", "unknown"),
    ):
        line = next(
            line for line in out.splitlines() if line.rstrip().split()[-1:] == [made[label]] or made[label] in line
        )
        assert line.split()[0] == status, (label, line)
    assert "alice" not in out
    assert "5 match the template: 2 expired, 2 alive, 1 with an unknown expiry" in out
    assert "dry run, nothing changed" in out
    assert rows(path) == before


def test_grace_keeps_users_whose_lease_ended_recently(users):
    path, made = users
    result = sweep("sqlite", "--connection-url", str(path), "--grace", "1h", "--format", "json")
    report = json.loads(result.stdout)
    status = {u["username"]: u["status"] for u in report["users"]}
    assert status[made["old"]] == "expired" and status[made["recent"]] == "alive"
    assert report["counts"]["expired"] == 1 and report["applied"] is False
    assert report["database_expiry"] is True and report["grace_seconds"] == 3600


def test_apply_drops_exactly_the_expired_users(users):
    path, made = users
    result = sweep("sqlite", "--connection-url", str(path), "--grace", "1m", "--apply")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dropped" in result.stdout and "dropped 2 of 2 expired users" in result.stdout
    left = rows(path)
    assert made["old"] not in left and made["recent"] not in left
    for keep in ("live", "renewed", "unknown"):
        assert made[keep] in left
    assert "alice" in left
    again = sweep("sqlite", "--connection-url", str(path), "--grace", "1m")
    assert again.returncode == 0 and "nothing to remove" in again.stdout


def test_max_ttl_bounds_users_by_the_clock_in_their_name(users):
    path, made = users
    # The hand-made row has no expiry, but its name says it was made at 1772694489 (2026-03-05).
    result = sweep("sqlite", "--connection-url", str(path), "--grace", "0", "--max-ttl", "1h", "--format", "json")
    users_by_name = {u["username"]: u for u in json.loads(result.stdout)["users"]}
    assert users_by_name[made["unknown"]]["status"] == "expired"
    assert users_by_name[made["unknown"]]["basis"] == "created + max TTL"
    # A live lease stays alive: its name's clock is recent and its expiry is an hour away.
    assert users_by_name[made["live"]]["status"] == "alive"


def test_a_failing_revoke_is_reported_and_exits_1(users, tmp_path):
    path, made = users
    manifest = tmp_path / "broken-revoke.yaml"
    manifest.write_text(
        "yamldb: 1\ndialect: sqlite\nsets:\n  broken:\n    revoke:\n"
        "      - DELETE FROM no_such_table WHERE username = '{{username}}';\n"
    )
    result = sweep(str(manifest), "--connection-url", str(path), "--grace", "1m", "--role", "broken", "--apply")
    assert result.returncode == 1
    assert "FAILED" in result.stdout and made["old"] in result.stdout and "no such table" in result.stdout
    assert "dropped 0 of 2 expired users, 2 FAILED" in result.stdout
    assert made["old"] in rows(path)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--username-template", "{{ .RoleName }}-{{ unix_time }}"], "no random part"),
        (["--username-template", '{{ printf "%s-%s" (timestamp "2006") (random 20) }}'], "`timestamp`"),
        (["--grace", "soon"], "--grace: not a duration"),
        (["--max-ttl", "-5s"], "--max-ttl"),
        (["--vault-connection", "x"], "--vault-connection needs --vault-addr"),
        (["--password-env", "YAMLDB_TEST_UNSET_VARIABLE"], "the environment variable is not set"),
        (["--vault-token-env", "YAMLDB_TEST_UNSET_VARIABLE"], "the environment variable is not set"),
    ],
)
def test_inputs_that_cannot_give_a_safe_answer_exit_2(users, args, message):
    path, _ = users
    result = sweep("sqlite", "--connection-url", str(path), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


def test_a_dialect_without_list_users_is_refused_before_connecting():
    result = sweep("oracle", "--connection-url", "oracle+oracledb://u:p@127.0.0.1:1/x")
    assert result.returncode == 2
    assert "dialect oracle has no list_users query" in result.stderr
