"""The shipped `postgresql` manifest on PostgreSQL 13-18 under OpenBao 2.6 and 2.7 (issue 13).

Each case is the whole lifecycle through OpenBao's HTTP API against a private cluster of one major, with
a superuser admin or a CREATEROLE admin set up by the SQL in docs/migrate.md. `make test` runs a smoke
set (every major with the CREATEROLE admin under the newest OpenBao, the other OpenBao series once);
`make matrix` (`pytest --matrix --compat-report docs/compatibility.md`) runs every combination and
writes what it saw.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from devenv import HarnessUnavailable, OpenBaoAPIError, OpenBaoDevServer, PostgresCluster
from devenv.compatibility import Case, CompatMatrix
from devenv.distributions import OPENBAO_SERIES, POSTGRES_MAJORS, postgres_source
from tests.conftest import REPO_ROOT, require

SUPERUSER, CREATEROLE = "superuser", "CREATEROLE"
SMOKE_SERIES = OPENBAO_SERIES[-1]
SMOKE_OTHER_SERIES_MAJOR = 15
# A role as an operator writes it: the user may create tables in schema `work` of the connection's database.
WORKER = (
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
    'GRANT USAGE, CREATE ON SCHEMA work TO "{{name}}";'
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pg" not in metafunc.fixturenames:
        return
    if metafunc.config.getoption("--matrix"):
        cases = [(s, m, a) for s in OPENBAO_SERIES for m in POSTGRES_MAJORS for a in (SUPERUSER, CREATEROLE)]
    else:
        cases = [(SMOKE_SERIES, m, CREATEROLE) for m in POSTGRES_MAJORS]
        cases += [(s, SMOKE_OTHER_SERIES_MAJOR, SUPERUSER) for s in OPENBAO_SERIES if s != SMOKE_SERIES]
    metafunc.parametrize(
        ("matrix_bao", "pg", "admin_kind"),
        cases,
        indirect=["matrix_bao", "pg"],
        scope="module",
        ids=[f"bao{s}-pg{m}-{a.lower()}" for s, m, a in cases],
    )


@pytest.fixture(scope="module")
def pg(request: pytest.FixtureRequest, compat_matrix: CompatMatrix) -> Iterator[PostgresCluster]:
    major = request.param
    try:
        cluster = PostgresCluster.start(version=major)
    except HarnessUnavailable as exc:
        require(exc)
    with cluster, cluster.connect() as conn:
        version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        compat_matrix.component(f"PostgreSQL {major}", version, postgres_source(major))
        yield cluster


def docs_sql(name: str) -> list[str]:
    """The statements of the ```sql block after `<!-- yamldb-test: NAME -->` in docs/migrate.md."""
    text = (REPO_ROOT / "docs" / "migrate.md").read_text()
    match = re.search(rf"<!-- yamldb-test: {re.escape(name)} -->\s*```sql\n(.*?)```", text, re.S)
    assert match, f"docs/migrate.md has no sql block marked {name}"
    body = "\n".join(line for line in match.group(1).splitlines() if not line.lstrip().startswith("--"))
    return [stmt.strip() for stmt in body.split(";") if stmt.strip()]


def renamed(statements: list[str], names: dict[str, str]) -> list[str]:
    """The docs' example names (vaultadmin, app, ...) replaced by this case's."""
    pattern = re.compile("|".join(rf"(?<![\w-]){re.escape(k)}(?![\w-])" for k in sorted(names, key=len)[::-1]))
    return [pattern.sub(lambda m: names[m.group(0)], stmt) for stmt in statements]


@dataclass
class Setup:
    pg: PostgresCluster
    admin: str
    password: str
    database: str
    other_db: str
    static_user: str


def make_setup(pg: PostgresCluster, kind: str) -> Setup:
    tag = secrets.token_hex(3)
    names = {
        "vaultadmin": f"vaultadmin_{tag}",
        "app": f"app_{tag}",
        "report_svc": f"report_svc_{tag}",
        "vault-admin-pw-1": secrets.token_urlsafe(16),
    }
    setup = Setup(
        pg, names["vaultadmin"], names["vault-admin-pw-1"], names["app"], f"reports_{tag}", names["report_svc"]
    )
    with pg.connect() as su:
        if kind == CREATEROLE:  # exactly what docs/migrate.md tells operators, for this version
            for stmt in renamed(docs_sql("pg-admin"), names):
                su.execute(stmt)
        else:
            su.execute(f"CREATE ROLE {setup.admin} WITH LOGIN SUPERUSER PASSWORD '{setup.password}'")
            su.execute(f"CREATE DATABASE {setup.database} OWNER {setup.admin}")
        su.execute(f"CREATE DATABASE {setup.other_db}")
        su.execute(f"CREATE ROLE {setup.static_user} WITH LOGIN PASSWORD 'initial-pw'")
        if kind == CREATEROLE and pg.major >= 16:
            for stmt in renamed(docs_sql("pg-admin-static"), names):
                su.execute(stmt)
    with pg.connect(database=setup.database) as su:
        su.execute(f"CREATE SCHEMA work AUTHORIZATION {setup.admin}")
    with pg.connect(database=setup.other_db) as su:
        su.execute("CREATE TABLE shared_t (x int)")
    return setup


def login(pg: PostgresCluster, user: str, password: str, database: str) -> psycopg.Connection | None:
    try:
        return pg.connect(user=user, password=password, database=database)
    except psycopg.OperationalError:
        return None


def can_login(pg: PostgresCluster, user: str, password: str, database: str) -> bool:
    conn = login(pg, user, password, database)
    if conn is not None:
        conn.close()
    return conn is not None


def role(pg: PostgresCluster, user: str) -> tuple | None:
    with pg.connect() as su:
        return su.execute("SELECT rolcanlogin, rolvaliduntil FROM pg_roles WHERE rolname = %s", (user,)).fetchone()


def session_alive(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def revoke(bao: OpenBaoDevServer, lease: dict) -> None:
    bao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})


def test_postgresql_lifecycle(
    matrix_bao: OpenBaoDevServer, pg: PostgresCluster, admin_kind: str, compat_matrix: CompatMatrix
) -> None:
    bao = matrix_bao
    setup = make_setup(pg, admin_kind)
    if admin_kind == CREATEROLE:
        compat_matrix.note(
            "PostgreSQL",
            "CREATEROLE admin: the SQL of docs/migrate.md (CREATEROLE, owner of the "
            "connection's database; on 16+ also ADMIN OPTION on the static user).",
        )
    with compat_matrix.case("PostgreSQL", str(pg.major), openbao=bao.version, setup=admin_kind) as case:
        probe_version_differences(setup, admin_kind, case)
        run_lifecycle(bao, setup, case)


def probe_version_differences(s: Setup, admin_kind: str, case: Case) -> None:
    """What docs/migrate.md says differs between majors, observed on this one (a change fails here first)."""
    pg = s.pg
    probe = f"probe_{secrets.token_hex(3)}"
    with pg.connect() as su:
        su.execute(f"CREATE ROLE {probe} LOGIN PASSWORD 'probe-pw'")
    try:
        with login(pg, probe, "probe-pw", s.other_db) as conn:  # a fresh user, no grants, in another database
            try:
                conn.execute("CREATE TABLE public.probe_t (x int)")
                public_create = True
            except psycopg.errors.InsufficientPrivilege:
                public_create = False
        case.fact("any user may create in another database's public schema", "yes" if public_create else "no")
        assert public_create == (pg.major < 15), "docs/migrate.md: PUBLIC may create in public on 13 and 14 only"
        if admin_kind == CREATEROLE:
            with login(pg, s.admin, s.password, s.database) as conn:
                try:
                    conn.execute(f"ALTER ROLE {probe} WITH PASSWORD 'other-pw'")
                    alters = True
                except psycopg.errors.InsufficientPrivilege:
                    alters = False
            case.fact("CREATEROLE admin may alter a role it did not create", "yes" if alters else "no")
            assert alters == (pg.major < 16), "docs/migrate.md: CREATEROLE manages every role before 16 only"
        else:
            case.fact("CREATEROLE admin may alter a role it did not create", "n/a")
    finally:
        with pg.connect(database=s.other_db) as su:
            su.execute("DROP TABLE IF EXISTS public.probe_t")
        with pg.connect() as su:
            su.execute(f"DROP ROLE {probe}")


def run_lifecycle(bao: OpenBaoDevServer, s: Setup, case: Case) -> None:
    pg, db = s.pg, s.database
    conn = f"pg{pg.major}-{s.admin}"
    with case.op("create"):
        bao.api(
            "POST",
            f"database/config/{conn}",
            {
                "plugin_name": "yamldb",
                "manifest": "postgresql",
                "allowed_roles": "*",
                "connection_url": pg.template_url(db),
                "username": s.admin,
                "password": s.password,
            },
        )
        bao.api("POST", f"database/roles/{conn}-plain", {"db_name": conn, "default_ttl": "1h", "max_ttl": "24h"})
        bao.api(
            "POST",
            f"database/roles/{conn}-worker",
            {"db_name": conn, "creation_statements": WORKER, "default_ttl": "1h", "max_ttl": "24h"},
        )
        plain = bao.api("GET", f"database/creds/{conn}-plain")
        user, password = plain["data"]["username"], plain["data"]["password"]
        assert role(pg, user) is not None
    with case.op("login"):
        assert can_login(pg, user, password, db)
        assert not can_login(pg, user, password + "x", db)
    with case.op("renew"):
        bao.api("PUT", "sys/leases/renew", {"lease_id": plain["lease_id"], "increment": 7200})
        valid_until = role(pg, user)[1]
        assert abs(valid_until - datetime.now(timezone.utc) - timedelta(hours=2)) < timedelta(minutes=2)
    with case.op("static role"):
        bao.api(
            "POST",
            f"database/static-roles/{conn}-st",
            {"db_name": conn, "username": s.static_user, "rotation_period": "1h"},
        )
        first = bao.api("GET", f"database/static-creds/{conn}-st")["data"]["password"]
        assert not can_login(pg, s.static_user, "initial-pw", db)  # rotated when the static role was created
        assert can_login(pg, s.static_user, first, db)
    with case.op("rotate"):
        bao.api("POST", f"database/rotate-role/{conn}-st", {})
        second = bao.api("GET", f"database/static-creds/{conn}-st")["data"]["password"]
        assert second != first
        assert can_login(pg, s.static_user, second, db) and not can_login(pg, s.static_user, first, db)
        bao.api("DELETE", f"database/static-roles/{conn}-st")
    with case.op("revoke: open session"):
        session = login(pg, user, password, db)
        assert session is not None and session_alive(session)
        revoke(bao, plain)
        assert role(pg, user) is None
        assert not session_alive(session), "the user's session survived the revoke"
        session.close()
    with case.op("revoke: owned objects"):
        worker = bao.api("GET", f"database/creds/{conn}-worker")
        wuser, wpass = worker["data"]["username"], worker["data"]["password"]
        with login(pg, wuser, wpass, db) as wconn:
            wconn.execute("CREATE TABLE work.made_by_lease (x int)")
            wconn.execute("INSERT INTO work.made_by_lease VALUES (42)")
        revoke(bao, worker)
        assert role(pg, wuser) is None
        with pg.connect(database=db) as su:  # kept, handed to the admin
            owner = su.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'made_by_lease'").fetchone()
            assert owner == (s.admin,)
            assert su.execute("SELECT x FROM work.made_by_lease").fetchone() == (42,)
    with case.op("revoke: privileges in another database"):
        other = bao.api("GET", f"database/creds/{conn}-worker")
        ouser, opass = other["data"]["username"], other["data"]["password"]
        with pg.connect(database=s.other_db) as su:
            su.execute(f'GRANT SELECT ON shared_t TO "{ouser}"')
        session = login(pg, ouser, opass, s.other_db)
        assert session is not None
        with pytest.raises(OpenBaoAPIError) as refused:
            revoke(bao, other)
        assert f"in database(s) {s.other_db} (this connection reaches {db})" in str(refused.value)
        assert role(pg, ouser)[0] is False, "left able to log in"
        assert not can_login(pg, ouser, opass, db)
        assert not session_alive(session), "the user's session survived the revoke"
        session.close()
        # What the docs tell the operator to run there; then revoke again.
        with pg.connect(database=s.other_db) as su:
            for stmt in renamed(docs_sql("pg-other-db"), {'"v-token-app-..."': f'"{ouser}"', "vaultadmin": s.admin}):
                su.execute(stmt)
        revoke(bao, other)
        assert role(pg, ouser) is None
    with case.op("revoke: user already gone"):
        gone = bao.api("GET", f"database/creds/{conn}-plain")
        with pg.connect() as su:
            su.execute(f'DROP ROLE "{gone["data"]["username"]}"')
        revoke(bao, gone)
    with case.op("rotate-root"):
        bao.api("POST", f"database/rotate-root/{conn}", {})
        assert not can_login(pg, s.admin, s.password, db)
        after = bao.api("GET", f"database/creds/{conn}-plain")
        assert can_login(pg, after["data"]["username"], after["data"]["password"], db)
        revoke(bao, after)
        assert role(pg, after["data"]["username"]) is None
    bao.api("DELETE", f"database/config/{conn}")
