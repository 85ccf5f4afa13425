"""Firebird 3.0 through OpenBao with the shipped `firebird` manifest: no Vault or OpenBao plugin supports it.

A private Firebird server (own port, security database and directory) per module; the admin is set up as
dialects/firebird.yaml's header says. `make test` runs it under the newest OpenBao, `make matrix` under
every series.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv import HarnessUnavailable, OpenBaoAPIError, OpenBaoDevServer
from devenv.compatibility import Case, CompatMatrix
from devenv.distributions import OPENBAO_SERIES
from devenv.firebird import FirebirdServer
from tests.conftest import require

ADMIN, ADMIN_PASSWORD = "VAULTADMIN", "vault-admin-pw-1"
STATIC_USER = "REPORT_SVC"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "matrix_bao" in metafunc.fixturenames:
        series = OPENBAO_SERIES if metafunc.config.getoption("--matrix") else OPENBAO_SERIES[-1:]
        metafunc.parametrize("matrix_bao", series, indirect=True, scope="module", ids=[f"bao{s}" for s in series])


@pytest.fixture(scope="module")
def fb(compat_matrix: CompatMatrix) -> Iterator[FirebirdServer]:
    try:
        server = FirebirdServer.start()
    except HarnessUnavailable as exc:
        require(exc)
    with server:
        compat_matrix.component("Firebird 3.0", server.version, "Debian firebird3.0-server, libfbclient2")
        with server.connect() as conn:
            cur = conn.cursor()
            # The admin the manifest's header describes: manages users (ADMIN ROLE in the security
            # database) and may end other users' attachments (RDB$ADMIN in the database).
            cur.execute(f"CREATE USER {ADMIN} PASSWORD '{ADMIN_PASSWORD}' GRANT ADMIN ROLE")
            cur.execute(f"GRANT RDB$ADMIN TO {ADMIN}")
            cur.execute("CREATE ROLE APP_READER")
            cur.execute("CREATE TABLE PRICES (ITEM VARCHAR(20), PRICE INTEGER)")
            conn.commit()
            cur.execute("INSERT INTO PRICES VALUES ('tea', 3)")
            cur.execute("GRANT SELECT ON PRICES TO APP_READER")
            conn.commit()
        yield server


def login(fb: FirebirdServer, user: str, password: str, role: str | None = None):
    from firebird.driver import DatabaseError

    try:
        return fb.connect(user, password, role=role)
    except DatabaseError:
        return None


def can_login(fb: FirebirdServer, user: str, password: str) -> bool:
    conn = login(fb, user, password)
    if conn is not None:
        conn.close()
    return conn is not None


def query(fb: FirebirdServer, sql: str, *params: object) -> list[tuple]:
    with fb.connect() as conn:
        cur = conn.cursor()
        cur.execute(sql, params)
        rows = cur.fetchall()
        conn.commit()
        return rows


def user_exists(fb: FirebirdServer, user: str) -> bool:
    return bool(query(fb, "SELECT 1 FROM SEC$USERS WHERE SEC$USER_NAME = ?", user))


def session_alive(conn) -> bool:
    from firebird.driver import DatabaseError

    try:
        cur = conn.cursor()
        cur.execute("SELECT 1 FROM RDB$DATABASE")
        cur.fetchall()
        return True
    except DatabaseError:
        return False


def close_dead(conn) -> None:
    """Close a connection whose attachment the server ended (the driver's close then fails)."""
    from firebird.driver import DatabaseError

    with contextlib.suppress(DatabaseError):
        conn.close()


def reset_users(fb: FirebirdServer) -> None:
    """The admin's known password (a previous rotate-root changed it) and a static user to hand over."""
    with fb.connect() as conn:
        conn.cursor().execute(f"CREATE OR ALTER USER {ADMIN} PASSWORD '{ADMIN_PASSWORD}'")
        conn.cursor().execute(f"CREATE OR ALTER USER {STATIC_USER} PASSWORD 'initial-pw'")
        conn.commit()


def revoke(bao: OpenBaoDevServer, lease: dict) -> None:
    bao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})


def test_firebird_lifecycle(matrix_bao: OpenBaoDevServer, fb: FirebirdServer, compat_matrix: CompatMatrix) -> None:
    bao = matrix_bao
    compat_matrix.note(
        "Firebird",
        "Admin: a user with GRANT ADMIN ROLE (security database) and RDB$ADMIN in the "
        "database, connecting with role RDB$ADMIN, as in dialects/firebird.yaml.",
    )
    with compat_matrix.case("Firebird", "3.0", openbao=bao.version, setup="RDB$ADMIN user") as case:
        run_lifecycle(bao, fb, case)


def run_lifecycle(bao: OpenBaoDevServer, fb: FirebirdServer, case: Case) -> None:
    conn = f"fb-{bao.version}"
    reset_users(fb)
    with case.op("create"):
        bao.api(
            "POST",
            f"database/config/{conn}",
            {
                "plugin_name": "yamldb",
                "manifest": "firebird",
                "allowed_roles": "*",
                "connection_url": fb.template_url(role="RDB$ADMIN"),
                "username": ADMIN,
                "password": ADMIN_PASSWORD,
            },
        )
        bao.api("POST", "database/roles/my-app.v2", {"db_name": conn, "default_ttl": "1h", "max_ttl": "24h"})
        bao.api(
            "POST",
            "database/roles/reader",
            {
                "db_name": conn,
                "default_ttl": "1h",
                "max_ttl": "24h",
                "creation_statements": "yamldb:with_role role=app_reader",
            },
        )
        plain = bao.api("GET", "database/creds/my-app.v2")
        user, password = plain["data"]["username"], plain["data"]["password"]
        assert user_exists(fb, user)
    with case.op("username rules"):
        # Upper case and at most 31 characters: the name OpenBao returns is the one Firebird stores.
        assert re.fullmatch(r"V_MY_APP_V_[A-Z0-9]{9}_\d{10}", user) and len(user) == 31, user
    with case.op("login"):
        assert can_login(fb, user, password)
        assert can_login(fb, user.lower(), password)  # unquoted names are upper-cased by Firebird
        assert not can_login(fb, user, password + "x")
    with case.op("granted role"):
        reader = bao.api("GET", "database/creds/reader")
        ruser, rpass = reader["data"]["username"], reader["data"]["password"]
        with fb.connect(ruser, rpass, role="APP_READER") as rconn:
            cur = rconn.cursor()
            cur.execute("SELECT PRICE FROM PRICES WHERE ITEM = 'tea'")
            assert cur.fetchall() == [(3,)]
        assert query(
            fb,
            "SELECT COUNT(*) FROM RDB$USER_PRIVILEGES WHERE RDB$USER = ? AND RDB$RELATION_NAME = 'APP_READER'",
            ruser,
        ) == [(1,)]
    with case.op("renew"):  # Firebird has no user expiry: nothing runs, the lease is extended
        renewed = bao.api("PUT", "sys/leases/renew", {"lease_id": plain["lease_id"], "increment": 7200})
        assert renewed["lease_duration"] == 7200
        assert can_login(fb, user, password)
    with case.op("static role"):
        bao.api(
            "POST",
            f"database/static-roles/{conn}-st",
            {"db_name": conn, "username": STATIC_USER, "rotation_period": "1h"},
        )
        first = bao.api("GET", f"database/static-creds/{conn}-st")["data"]["password"]
        assert not can_login(fb, STATIC_USER, "initial-pw")
        assert can_login(fb, STATIC_USER, first)
    with case.op("rotate"):
        bao.api("POST", f"database/rotate-role/{conn}-st", {})
        second = bao.api("GET", f"database/static-creds/{conn}-st")["data"]["password"]
        assert second != first
        assert can_login(fb, STATIC_USER, second) and not can_login(fb, STATIC_USER, first)
        bao.api("DELETE", f"database/static-roles/{conn}-st")
    with case.op("revoke: open session"):
        session = login(fb, ruser, rpass, role="APP_READER")
        assert session is not None and session_alive(session)
        revoke(bao, reader)
        assert not user_exists(fb, ruser)
        alive = session_alive(session)
        close_dead(session)
        assert not alive, "the user's attachment survived the revoke"
        assert query(fb, "SELECT COUNT(*) FROM RDB$USER_PRIVILEGES WHERE RDB$USER = ?", ruser) == [(0,)]
        revoke(bao, plain)
        assert not user_exists(fb, user) and not can_login(fb, user, password)
    with case.op("revoke: user already gone"):
        gone = bao.api("GET", "database/creds/my-app.v2")
        with fb.connect() as c:
            c.cursor().execute(f'DROP USER "{gone["data"]["username"]}"')
            c.commit()
        revoke(bao, gone)
    with case.op("rotate-root"):
        bao.api("POST", f"database/rotate-root/{conn}", {})
        assert not can_login(fb, ADMIN, ADMIN_PASSWORD)
        after = bao.api("GET", "database/creds/my-app.v2")
        assert can_login(fb, after["data"]["username"], after["data"]["password"])
        revoke(bao, after)
        assert not user_exists(fb, after["data"]["username"])
    bao.api("DELETE", f"database/config/{conn}")


def test_firebird_refuses_a_role_outside_the_pattern(matrix_bao: OpenBaoDevServer, fb: FirebirdServer) -> None:
    """The set's role parameter is checked before any SQL runs."""
    bao = matrix_bao
    conn = f"fb-bad-{bao.version}"
    reset_users(fb)
    bao.api(
        "POST",
        f"database/config/{conn}",
        {
            "plugin_name": "yamldb",
            "manifest": "firebird",
            "allowed_roles": "*",
            "connection_url": fb.template_url(role="RDB$ADMIN"),
            "username": ADMIN,
            "password": ADMIN_PASSWORD,
        },
    )
    bao.api(
        "POST", f"database/roles/{conn}-r", {"db_name": conn, "creation_statements": "yamldb:with_role role=app-reader"}
    )
    with pytest.raises(OpenBaoAPIError) as refused:
        bao.api("GET", f"database/creds/{conn}-r")
    assert "does not match" in str(refused.value)
    bao.api("DELETE", f"database/config/{conn}")


STEP_ALONE = """\
yamldb: 1
dialect: firebird
statements:
  revoke:
    - sql: DELETE FROM MON$ATTACHMENTS WHERE MON$USER = '{{username}}' AND MON$ATTACHMENT_ID <> CURRENT_CONNECTION;
      transaction: false
    - DROP USER "{{username}}";
"""


def yamldb_check(manifest: str, fb: FirebirdServer, user: str, password: str, role: str | None = None):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "yamldb.cli",
            "check",
            manifest,
            "--connection-url",
            fb.template_url(role=role),
            "--username",
            user,
            "--password",
            password,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_firebird_step_alone_runs_committed_on_its_own(fb: FirebirdServer, tmp_path: Path) -> None:
    """`transaction: false` on Firebird: the driver has no autocommit switch, the adapter commits per statement."""
    reset_users(fb)
    manifest = tmp_path / "fb-alone.yaml"
    manifest.write_text(STEP_ALONE)
    result = yamldb_check(str(manifest), fb, ADMIN, ADMIN_PASSWORD, role="RDB$ADMIN")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# A create whose one step runs alone (through SQLAlchemy, committed on its own), or may fail.
CREATE_WITH = """\
yamldb: 1
dialect: firebird
statements:
  create:
    - sql: CREATE USER "{{{{username}}}}" PASSWORD '{{{{password}}}}';
      {option}
"""


@pytest.mark.parametrize("manifest", ["firebird", "create-alone", "create-continue"])
def test_firebird_errors_say_what_firebird_said(fb: FirebirdServer, tmp_path: Path, manifest: str) -> None:
    """A user without the right to create users: the error is Firebird's reason, not the driver's noise,
    on the raw-connection path (the shipped manifest) and through SQLAlchemy (a step alone; a step that
    may fail, where the driver's rowcount error used to be tolerated and the create reported success)."""
    texts = {
        "create-alone": CREATE_WITH.format(option="transaction: false"),
        "create-continue": CREATE_WITH.format(option="on_error: continue"),
    }
    if manifest in texts:
        (tmp_path / f"{manifest}.yaml").write_text(texts[manifest])
        manifest = str(tmp_path / f"{manifest}.yaml")
    with fb.connect() as conn:
        conn.cursor().execute("CREATE OR ALTER USER PLAIN_USER PASSWORD 'plain-pw'")
        conn.commit()
    result = yamldb_check(manifest, fb, "PLAIN_USER", "plain-pw")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    error = next(line for line in result.stdout.splitlines() if "error:" in line)
    # Firebird's status vector, every line (its first line alone says "add record error"); not the driver's
    # "Result code does not match request code" from reading rowcount before the commit reports the error.
    assert "no permission for INSERT access to TABLE PLG$SRP_VIEW" in error, error
    assert "plain-pw" not in result.stdout + result.stderr


def test_firebird_statement_past_its_deadline_is_cancelled(fb: FirebirdServer) -> None:
    """The host's deadline reaches Firebird: the adapter cancels through the attachment."""
    from sqlalchemy.engine import make_url

    from yamldb.engine.executor import PoolSettings, SqlEngine
    from yamldb.errors import DatabaseError
    from yamldb.redact import Scrubber
    from yamldb.templates.plan import RenderedStep

    slow = "EXECUTE BLOCK AS DECLARE i BIGINT = 0; BEGIN WHILE (i < 10000000000) DO i = i + 1; END"  # hours
    engine = SqlEngine(make_url(fb.url()), PoolSettings(), {}, Scrubber([fb.password]))
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseError, match="deadline"):
            engine.run([RenderedStep((slow,))], "create", engine.scrub, time.monotonic() + 1.0)
        assert time.monotonic() - started < 30
    finally:
        engine.dispose()
