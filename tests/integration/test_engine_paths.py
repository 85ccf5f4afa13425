"""SqlEngine's raw-connection path (issue 6) against live databases: same guarantees as the step-wise path.

An operation whose steps are all transactional runs on the pooled DBAPI connection; on PostgreSQL
(`batch_statements`) as one message. These tests pin what that must not change: atomicity, which
statement an error names, and recovery from connections the server closed.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from devenv import MariaDBAdmin, PostgresCluster
from yamldb.engine import executor
from yamldb.engine.executor import PoolSettings, SqlEngine, StepFailed
from yamldb.redact import Scrubber
from yamldb.templates.plan import RenderedStep


def steps(*statements: str) -> list[RenderedStep]:
    return [RenderedStep((sql,)) for sql in statements]


@pytest.fixture
def pg_engine(pg_cluster: PostgresCluster) -> Iterator[SqlEngine]:
    url = make_url(pg_cluster.url().replace("postgresql://", "postgresql+psycopg://", 1))
    engine = SqlEngine(url, PoolSettings(), {}, Scrubber([pg_cluster.password]), batch=True)
    yield engine
    engine.dispose()


@pytest.fixture
def my_engine(mariadb_admin: MariaDBAdmin) -> Iterator[SqlEngine]:
    url = make_url(
        f"mysql+pymysql://{mariadb_admin.user}:{mariadb_admin.password}@{mariadb_admin.host}:{mariadb_admin.port}/"
    )
    engine = SqlEngine(url, PoolSettings(), {}, Scrubber([mariadb_admin.password]))
    yield engine
    engine.dispose()


def pg_role_exists(pg: PostgresCluster, name: str) -> bool:
    with pg.connect() as conn:
        return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None


def pg_drop(pg: PostgresCluster, *names: str) -> None:
    with pg.connect() as conn:
        for name in names:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def test_batch_failure_names_the_statement_and_leaves_nothing(pg_cluster, pg_engine):
    first, second = f"t-batch-{secrets.token_hex(3)}", f"t-batch-{secrets.token_hex(3)}"
    try:
        with pytest.raises(StepFailed) as err:
            pg_engine.run(
                steps(
                    f'CREATE ROLE "{first}"', f'GRANT SELECT ON no_such_table TO "{first}"', f'CREATE ROLE "{second}"'
                ),
                "create",
            )
        assert err.value.index == 2
        assert "create statement 2 failed" in str(err.value)
        assert 'relation "no_such_table" does not exist' in str(err.value)
        assert not pg_role_exists(pg_cluster, first)  # the first statement was rolled back with the rest
        assert not pg_role_exists(pg_cluster, second)
    finally:
        pg_drop(pg_cluster, first, second)


def test_a_failing_batch_gives_its_connection_back_before_the_step_wise_rerun(pg_cluster):
    # With one pooled connection the step-wise rerun can only run if the batch returned its connection
    # first; holding it, the rerun waited for the pool's timeout and failed with "cannot connect" instead of
    # naming the failing statement (seen with 4 connections and 4 failing GRANTs at once).
    url = make_url(pg_cluster.url().replace("postgresql://", "postgresql+psycopg://", 1))
    engine = SqlEngine(url, PoolSettings(max_open_connections=1), {}, Scrubber([]), batch=True)
    engine._engine.pool._timeout = 5  # a regression fails in seconds, not after the default 30
    name = f"t-batch-{secrets.token_hex(3)}"
    try:
        with pytest.raises(StepFailed) as err:
            engine.run(steps(f'CREATE ROLE "{name}"', f'GRANT SELECT ON no_such_table TO "{name}"'), "create")
        assert err.value.index == 2
        assert not pg_role_exists(pg_cluster, name)
    finally:
        engine.dispose()
        pg_drop(pg_cluster, name)


def test_batch_trailing_comment_does_not_swallow_the_next_statement(pg_cluster, pg_engine):
    name = f"t-batch-{secrets.token_hex(3)}"
    try:
        pg_engine.run(
            steps(
                f'CREATE ROLE "{name}" -- the comment ends at the newline',
                f"COMMENT ON ROLE \"{name}\" IS 'second ran'",
            ),
            "create",
        )
        with pg_cluster.connect() as conn:
            row = conn.execute(
                "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", (name,)
            ).fetchone()
        assert row == ("second ran",)
    finally:
        pg_drop(pg_cluster, name)


def test_step_wise_transaction_after_a_batch_on_the_same_connection_is_still_atomic(pg_cluster):
    # The batch path leaves its connection in autocommit mode between operations; an operation that
    # then takes the step-wise path (here: a step that may fail) on that same connection must still
    # run in one transaction, so its failing step undoes the statements before it.
    url = make_url(pg_cluster.url().replace("postgresql://", "postgresql+psycopg://", 1))
    engine = SqlEngine(url, PoolSettings(max_open_connections=1), {}, Scrubber([]), batch=True)
    first, second = f"t-mixed-{secrets.token_hex(3)}", f"t-mixed-{secrets.token_hex(3)}"
    try:
        engine.run(steps(f'CREATE ROLE "{first}"'), "create")  # the batch path
        with pytest.raises(StepFailed):
            engine.run(
                [
                    RenderedStep((f'CREATE ROLE "{second}"',)),
                    RenderedStep(("SELECT 1",), on_error="continue"),  # makes the operation step-wise
                    RenderedStep(("SELECT 1/0",)),
                ],
                "create",
            )
        assert pg_role_exists(pg_cluster, first)
        assert not pg_role_exists(pg_cluster, second)
    finally:
        engine.dispose()
        pg_drop(pg_cluster, first, second)


def test_pg_recently_used_connection_killed_by_server_is_retried(pg_cluster, pg_engine, monkeypatch):
    monkeypatch.setattr(executor, "PING_WINDOW", 3600.0)  # never ping: only the retry can save the operation
    pid = pg_engine.query_scalar("SELECT pg_backend_pid()")  # the one pooled connection
    with pg_cluster.connect() as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    name = f"t-retry-{secrets.token_hex(3)}"
    try:
        pg_engine.run(steps(f'CREATE ROLE "{name}"'), "create")
        assert pg_role_exists(pg_cluster, name)
        assert pg_engine.query_scalar("SELECT pg_backend_pid()") != pid
    finally:
        pg_drop(pg_cluster, name)


def test_pg_idle_connection_is_pinged_and_replaced(pg_cluster, pg_engine, monkeypatch):
    monkeypatch.setattr(executor, "PING_WINDOW", -1.0)  # always ping
    pid = pg_engine.query_scalar("SELECT pg_backend_pid()")
    with pg_cluster.connect() as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert pg_engine.query_scalar("SELECT pg_backend_pid()") != pid  # query_scalar does not retry: the ping did


def test_mysql_direct_path_names_the_failing_statement(mariadb_admin, my_engine):
    prefix = f"t_dp_{secrets.token_hex(3)}_"
    mariadb_admin.track_prefix(prefix)
    with pytest.raises(StepFailed) as err:
        my_engine.run(steps(f"CREATE USER '{prefix}a'@'%'", "GRANT SELECT ON no_such_db.t TO nobody_here"), "create")
    assert err.value.index == 2
    assert "create statement 2 failed" in str(err.value)
    assert mariadb_admin.password not in str(err.value)


def test_mysql_recently_used_connection_killed_by_server_is_retried(mariadb_admin, my_engine, monkeypatch):
    monkeypatch.setattr(executor, "PING_WINDOW", 3600.0)
    prefix = f"t_rt_{secrets.token_hex(3)}_"
    mariadb_admin.track_prefix(prefix)
    thread = my_engine.query_scalar("SELECT CONNECTION_ID()")
    with mariadb_admin.connect() as conn, conn.cursor() as cur:
        cur.execute(f"KILL {int(thread)}")
    my_engine.run(steps(f"CREATE USER '{prefix}a'@'%'"), "create")
    assert mariadb_admin.users_with_prefix(prefix) == [(f"{prefix}a", "%")]
    assert my_engine.query_scalar("SELECT CONNECTION_ID()") != thread


def test_mysql_without_tls_settings_does_not_build_a_tls_context_per_connection(my_engine):
    # Vault's MySQL plugin (Go driver) is plaintext unless the DSN or config asks for TLS; PyMySQL's own
    # default would load the system CA bundle into a fresh SSL context for every connection (~0.8 MB each).
    fairy = my_engine._engine.raw_connection()
    try:
        assert fairy.dbapi_connection.ssl is False
    finally:
        fairy.close()


def test_mysql_ssl_connect_args_from_a_manifest_are_kept(mariadb_admin, tmp_path):
    # A manifest's own connect_args ssl settings must not be overridden by the plaintext default: this
    # MariaDB has no TLS, so a required-TLS connection must fail rather than silently go plaintext.
    ca = tmp_path / "ca.pem"
    ca.write_text(ssl_default_ca_pem())
    url = make_url(
        f"mysql+pymysql://{mariadb_admin.user}:{mariadb_admin.password}@{mariadb_admin.host}:{mariadb_admin.port}/"
    )
    engine = SqlEngine(url, PoolSettings(), {"ssl": {"ca": str(ca)}}, Scrubber([mariadb_admin.password]))
    try:
        with pytest.raises(executor.DatabaseError, match="SSL"):
            engine.run(steps("SELECT 1"), "verify")
    finally:
        engine.dispose()


def ssl_default_ca_pem() -> str:
    from devenv.goplugin_host import make_host_cert

    return make_host_cert().cert_pem.decode()


def _session_commits(engine: SqlEngine) -> int:
    return int(
        engine.query_scalar(
            "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'COM_COMMIT'"
        )
    )


def test_mysql_commits_only_when_a_transaction_is_open(mariadb_admin, my_engine, monkeypatch):
    # DDL commits implicitly, so COMMIT after CREATE USER is a wasted round trip; after DML it is required.
    monkeypatch.setattr(executor, "PING_WINDOW", 3600.0)  # one pooled connection, no pings in between
    prefix = f"t_cm_{secrets.token_hex(3)}_"
    mariadb_admin.track_prefix(prefix)
    database = f"{prefix}db"
    my_engine.run(steps(f"CREATE DATABASE `{database}`", f"CREATE TABLE `{database}`.t (v INT)"), "setup")
    try:
        before = _session_commits(my_engine)
        my_engine.run(steps(f"CREATE USER '{prefix}a'@'%'"), "create")
        assert _session_commits(my_engine) == before
        my_engine.run(steps(f"INSERT INTO `{database}`.t VALUES (1)"), "create")
        assert _session_commits(my_engine) == before + 1
        with mariadb_admin.connect() as conn, conn.cursor() as cur:  # another session sees the row
            cur.execute(f"SELECT count(*) FROM `{database}`.t")
            assert cur.fetchone() == (1,)
    finally:
        my_engine.run(steps(f"DROP DATABASE `{database}`"), "cleanup")


def test_mysql_step_wise_operations_commit_only_when_a_transaction_may_be_open(mariadb_admin, my_engine, monkeypatch):
    # The same for operations through SQLAlchemy (a step that may fail makes them step-wise), whose COMMIT goes
    # through the dialect: skipped after DDL, sent after DML, also when a tolerated error came after it.
    monkeypatch.setattr(executor, "PING_WINDOW", 3600.0)
    prefix = f"t_cs_{secrets.token_hex(3)}_"
    mariadb_admin.track_prefix(prefix)
    database = f"{prefix}db"
    my_engine.run(steps(f"CREATE DATABASE `{database}`", f"CREATE TABLE `{database}`.t (v INT PRIMARY KEY)"), "setup")
    tolerated = RenderedStep(("SELECT * FROM no_such_db.no_such_table",), on_error="continue")
    duplicate = RenderedStep((f"INSERT INTO `{database}`.t VALUES (1)",), on_error="continue")
    try:
        before = _session_commits(my_engine)
        my_engine.run([tolerated, *steps(f"CREATE USER '{prefix}a'@'%'")], "create")
        assert _session_commits(my_engine) == before
        my_engine.run([*steps(f"INSERT INTO `{database}`.t VALUES (1)"), tolerated], "create")
        assert _session_commits(my_engine) == before + 1
        with mariadb_admin.connect() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM `{database}`.t")
            assert cur.fetchone() == (1,)
        # After DDL (no transaction), a failed INSERT still opens one: it is ended with a COMMIT, not left open.
        my_engine.run([*steps(f"CREATE USER '{prefix}b'@'%'"), duplicate], "create")
        assert _session_commits(my_engine) == before + 2
    finally:
        my_engine.run(steps(f"DROP DATABASE `{database}`"), "cleanup")


def test_a_statement_that_turns_backslash_escapes_on_does_not_outlive_its_operation(pg_engine, my_engine):
    # issue 11 §3: role statements may change the quoting settings; the next operation on that pooled
    # connection gets them pinned back before its values (escaped for the pinned state) reach the server.
    pg_engine.run(steps("SET standard_conforming_strings = off"), "create")
    assert pg_engine.query_scalar("SHOW standard_conforming_strings") == "on"
    my_engine.run(steps("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES,STRICT_TRANS_TABLES'"), "create")
    mode = my_engine.query_scalar("SELECT @@SESSION.sql_mode")
    assert "NO_BACKSLASH_ESCAPES" not in mode and "STRICT_TRANS_TABLES" in mode


def test_a_go_dsn_sets_session_variables_and_the_quoting_modes_stay_pinned(mariadb_admin):
    from yamldb.engine.urls import connection_target

    db = mariadb_admin
    target = connection_target(
        f"{{{{username}}}}:{{{{password}}}}@tcp({db.host}:{db.port})/?time_zone=%27%2B03:00%27"
        "&sql_mode=%27NO_BACKSLASH_ESCAPES,ANSI_QUOTES,STRICT_ALL_TABLES%27",
        db.user,
        db.password,
        driver="mysql+pymysql",
        formats=("go_mysql_dsn",),
    )
    engine = SqlEngine(target.url, PoolSettings(), {}, Scrubber([db.password]))
    try:
        assert engine.query_scalar("SELECT @@SESSION.time_zone") == "+03:00"
        assert engine.query_scalar("SELECT @@SESSION.sql_mode") == "STRICT_ALL_TABLES"
    finally:
        engine.dispose()


def release_later(conn, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, conn.rollback)
    timer.start()
    return timer


def test_a_statement_rolled_back_by_a_lock_timeout_is_run_again(pg_cluster, pg_engine):
    # issue 11 §5: lock_not_available is a concurrency reason; the operation waits its turn instead of failing.
    table = f"t_lock_{secrets.token_hex(3)}"
    with pg_cluster.connect() as conn:
        conn.execute(f"CREATE TABLE {table} (id int)")
    holder = pg_cluster.connect()
    holder.autocommit = False
    try:
        holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        timer = release_later(holder, 0.3)
        pg_engine.run(steps("SET LOCAL lock_timeout = '50ms'", f"INSERT INTO {table} VALUES (1)"), "create")
        timer.join()
        assert pg_engine.query_scalar(f"SELECT count(*) FROM {table}") == 1
    finally:
        holder.close()
        with pg_cluster.connect() as conn:
            conn.execute(f"DROP TABLE {table}")


def test_mysql_retry_resumes_after_what_ddl_committed(mariadb_admin, my_engine):
    # CREATE USER commits implicitly: when the INSERT after it times out waiting for a lock, the retry
    # resumes at the INSERT; running CREATE USER again would fail on the half-applied operation.
    database, user = f"yr_{secrets.token_hex(3)}", f"yr{secrets.token_hex(3)}"
    mariadb_admin.track_prefix(user)
    with mariadb_admin.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {database}")
        cur.execute(f"CREATE TABLE {database}.t (id int PRIMARY KEY) ENGINE=InnoDB")
    holder = mariadb_admin.connect()
    try:
        holder.autocommit(False)
        with holder.cursor() as cur:
            cur.execute(f"INSERT INTO {database}.t VALUES (1)")  # holds the row lock until rolled back
        timer = release_later(holder, 1.5)
        my_engine.run(
            steps(
                "SET SESSION innodb_lock_wait_timeout = 1",
                f"CREATE USER '{user}'@'%'",
                f"INSERT INTO {database}.t VALUES (1)",
            ),
            "create",
        )
        timer.join()
        assert my_engine.query_scalar(f"SELECT COUNT(*) FROM {database}.t") == 1
        assert mariadb_admin.users_with_prefix(user) == [(user, "%")]
    finally:
        holder.close()
        with mariadb_admin.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE {database}")


def test_postgresql_batches_go_out_without_the_cursor_and_keep_their_text(pg_cluster, pg_engine):
    from yamldb.engine.drivers import postgresql

    assert postgresql._lean is not None  # the psycopg in use has what execute_batch needs (else it falls back)
    name = f"t-lean-é-{secrets.token_hex(3)}"
    comment = "ünïcödé ✓ 🔑 'quoted' \\ backslash"
    try:
        pg_engine.run(
            steps(f'CREATE ROLE "{name}"', f"COMMENT ON ROLE \"{name}\" IS '{comment.replace(chr(39), chr(39) * 2)}'"),
            "create",
        )
        with pg_cluster.connect() as conn:
            row = conn.execute(
                "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", (name,)
            ).fetchone()
        assert row == (comment,)
    finally:
        pg_drop(pg_cluster, name)


# A character the session's client encoding cannot carry fails before anything is sent. The error must say
# which encoding, never quote the character (here it is part of a password), and leave no open transaction.
KEY = "\U0001f511"
SECRET = f"pw-{KEY}-secret"


def _unencodable(exc: BaseException) -> None:
    text = str(exc)
    assert "secret" not in text and KEY not in text and "1f511" not in text.lower()
    assert "encoding" in text and "UTF8" in text.upper().replace("-", "")


@pytest.mark.parametrize("path", ["batch", "direct", "step-wise"])
def test_postgresql_a_character_latin1_cannot_carry_fails_cleanly(pg_cluster, path):
    url = make_url(pg_cluster.url().replace("postgresql://", "postgresql+psycopg://", 1))
    engine = SqlEngine(
        url,
        PoolSettings(max_open_connections=1),
        {"options": "-c client_encoding=LATIN1"},
        Scrubber([SECRET]),
        batch=path == "batch",  # else statement by statement, in one transaction the failure must roll back
    )
    first, second = f"t-enc-{secrets.token_hex(3)}", f"t-enc-{secrets.token_hex(3)}"
    # A step that may fail takes SQLAlchemy's step-wise path.
    tolerated = [RenderedStep(("SELECT 1",), on_error="continue")] if path == "step-wise" else []
    try:
        with pytest.raises(StepFailed) as err:
            engine.run(
                [*tolerated, *steps(f'CREATE ROLE "{first}"', f"COMMENT ON ROLE \"{first}\" IS '{SECRET}'")], "create"
            )
        assert err.value.index == len(tolerated) + 2  # the statement that holds the character
        assert "latin" in str(err.value).lower()
        _unencodable(err.value)
        engine.run(steps(f'CREATE ROLE "{second}"'), "create")  # same (only) connection, its own transaction
        assert not pg_role_exists(pg_cluster, first)
        assert pg_role_exists(pg_cluster, second)
    finally:
        engine.dispose()
        pg_drop(pg_cluster, first, second)


def test_an_unexpected_failure_mid_transaction_does_not_leave_the_transaction_to_the_next_user(pg_cluster):
    # The pool does not roll back on return; a failure that is not the driver's (here a bug stood in for by
    # transaction_open raising) must not hand the next operation a connection with statements still pending.
    url = make_url(pg_cluster.url().replace("postgresql://", "postgresql+psycopg://", 1))
    engine = SqlEngine(url, PoolSettings(max_open_connections=1), {}, Scrubber([]), batch=False)
    first, second = f"t-bug-{secrets.token_hex(3)}", f"t-bug-{secrets.token_hex(3)}"

    def broken(dbapi_conn):
        raise RuntimeError("stand-in for a bug")

    try:
        real, engine.adapter.transaction_open = engine.adapter.transaction_open, broken
        with pytest.raises(RuntimeError):
            engine.run(steps(f'CREATE ROLE "{first}"', "SELECT 1"), "create")
        engine.adapter.transaction_open = real
        engine.run(steps(f'CREATE ROLE "{second}"'), "create")
        assert pg_role_exists(pg_cluster, second)
        assert not pg_role_exists(pg_cluster, first)
    finally:
        engine.dispose()
        pg_drop(pg_cluster, first, second)


def test_mysql_a_statement_that_changes_the_character_set_cannot_let_a_value_out_of_its_quotes(mariadb_admin):
    # PyMySQL sends utf8mb4 whatever the session says; read as GBK, '€' (E2 82 AC) leaves a lead byte that eats
    # the backslash escaping the quote after it. After any statement naming the session's character set the
    # engine sets utf8mb4 again, in the same operation and for the next one on the connection.
    from tests.quoting_rules import MYSQL_RULES
    from yamldb.templates.sql import StatementTemplate

    db = mariadb_admin
    prefix = f"t_gbk_{secrets.token_hex(3)}_"
    db.track_prefix(prefix)
    create = StatementTemplate.parse("CREATE USER '{{name}}'@'%' IDENTIFIED BY 'pw'", MYSQL_RULES)
    names = [f"{prefix}a\u20ac\\' OR 1=1 -- x", f"{prefix}b\u20ac\\'@'%' -- x"]
    url = make_url(f"mysql+pymysql://{db.user}:{db.password}@{db.host}:{db.port}/")
    engine = SqlEngine(url, PoolSettings(max_open_connections=1), {}, Scrubber([db.password]))
    try:
        engine.run(steps("SET NAMES gbk", *create.render({"name": names[0]})), "create")
        engine.run(steps(*create.render({"name": names[1]})), "create")  # the same connection, the next operation
        assert engine.query_scalar("SELECT @@character_set_client") == "utf8mb4"
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT User FROM mysql.user WHERE User LIKE %s ORDER BY User", [prefix + "%"])
            assert [row[0] for row in cur.fetchall()] == names
    finally:
        engine.dispose()
