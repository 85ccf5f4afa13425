"""Revocation ends the user's sessions on MySQL/MariaDB by default (issue 11 §6), live through OpenBao.

A revoked user's open `SELECT SLEEP(20)` must be gone when the revoke returns. An admin that may not end
other users' connections still revokes, and the plugin logs one warning that says so.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator

import pymysql
import pytest

from devenv import MariaDBAdmin, OpenBaoDevServer
from tests.polling import wait_until


def sessions(db: MariaDBAdmin, user: str) -> list[int]:
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (user,))
        return [row[0] for row in cur.fetchall()]


def open_sleeping_session(db: MariaDBAdmin, user: str, password: str) -> tuple[threading.Thread, list[str]]:
    outcome: list[str] = []

    def sleep() -> None:
        with pymysql.connect(host=db.host, port=db.port, user=user, password=password.encode()) as conn:
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT SLEEP(20)")
                outcome.append("slept to the end")
            except pymysql.err.OperationalError as exc:
                outcome.append(f"ended: {exc.args[0]}")

    thread = threading.Thread(target=sleep, daemon=True)
    thread.start()
    assert wait_until(lambda: sessions(db, user), 10), "the user's session never showed up"
    return thread, outcome


@pytest.fixture
def limited_admin(mariadb_admin: MariaDBAdmin) -> Iterator[tuple[str, str]]:
    """An admin that may create and drop users and see sessions, but not end other users' connections."""
    user, password = f"yengadm{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    mariadb_admin.track_prefix(user)
    with mariadb_admin.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
        cur.execute("GRANT CREATE USER, PROCESS, SELECT ON *.* TO %s@'%%'", (user,))
    return user, password


@pytest.mark.parametrize("manifest", ["mysql", "mariadb"])
def test_revoke_ends_the_users_sessions(openbao: OpenBaoDevServer, mariadb_admin: MariaDBAdmin, manifest: str):
    db, prefix = mariadb_admin, f"yks{secrets.token_hex(3)}"
    db.track_prefix(prefix)
    name = f"kill-{manifest}"
    openbao.api(
        "POST",
        f"database/config/{name}",
        {
            "plugin_name": "yamldb",
            "manifest": manifest,
            "allowed_roles": "*",
            "username": db.user,
            "password": db.password,
            "connection_url": f"{{{{username}}}}:{{{{password}}}}@tcp({db.host}:{db.port})/",
            "username_template": f"{prefix}{{{{random 8}}}}",
        },
    )
    openbao.api("POST", f"database/roles/{name}", {"db_name": name})
    try:
        lease = openbao.api("GET", f"database/creds/{name}")
        user = lease["data"]["username"]
        thread, outcome = open_sleeping_session(db, user, lease["data"]["password"])
        started = time.monotonic()
        openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
        assert sessions(db, user) == []  # gone when the revoke returns
        thread.join(5)
        assert outcome and outcome[0].startswith("ended") and time.monotonic() - started < 10
        assert db.users_with_prefix(prefix) == []
    finally:
        openbao.api("DELETE", f"database/config/{name}")


@pytest.mark.parametrize("manifest", ["mysql", "mariadb"])
def test_an_admin_that_may_not_kill_still_revokes_and_warns_once(
    openbao: OpenBaoDevServer, mariadb_admin: MariaDBAdmin, limited_admin, manifest: str
):
    db, (admin, password) = mariadb_admin, limited_admin
    prefix = f"ykw{secrets.token_hex(3)}"
    db.track_prefix(prefix)
    name = f"nokill-{manifest}"
    openbao.api(
        "POST",
        f"database/config/{name}",
        {
            "plugin_name": "yamldb",
            "manifest": manifest,
            "allowed_roles": "*",
            "username": admin,
            "password": password,
            "connection_url": f"{{{{username}}}}:{{{{password}}}}@tcp({db.host}:{db.port})/",
            "username_template": f"{prefix}{{{{random 8}}}}",
        },
    )
    openbao.api("POST", f"database/roles/{name}", {"db_name": name})
    thread = None
    try:
        lease = openbao.api("GET", f"database/creds/{name}")
        user = lease["data"]["username"]
        thread, _ = open_sleeping_session(db, user, lease["data"]["password"])
        openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})  # succeeds
        assert db.users_with_prefix(prefix) == []
        warnings = [
            line for line in openbao.log_text().splitlines() if "[WARN]" in line and "yamldb" in line and user in line
        ]
        assert len(warnings) == 1, warnings
        assert "failed and was skipped" in warnings[0] and "1095" in warnings[0]
    finally:
        with db.connect() as conn, conn.cursor() as cur:  # end the sleeper ourselves
            cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER LIKE %s", (f"{prefix}%",))
            for (session,) in cur.fetchall():
                cur.execute(f"KILL {int(session)}")
        if thread is not None:
            thread.join(5)
        openbao.api("DELETE", f"database/config/{name}")
