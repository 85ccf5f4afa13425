"""`yamldb check` against live databases, with good and broken manifests (issue 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devenv import MariaDBAdmin, PostgresCluster


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yamldb.cli", "check", *args], capture_output=True, text=True, timeout=120
    )


def pg_roles_like(pg: PostgresCluster, prefix: str) -> list[str]:
    with pg.connect() as conn:
        return [
            r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (prefix + "%",)).fetchall()
        ]


def test_postgresql_lifecycle_passes(pg_cluster: PostgresCluster):
    result = check(
        "postgresql",
        "--connection-url",
        pg_cluster.template_url(),
        "--username",
        pg_cluster.superuser,
        f"--password={pg_cluster.password}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for step in (
        "connect",
        "create",
        "log in",
        "renew",
        "rotate",
        "the old password is refused",
        "revoke",
        "user gone",
    ):
        assert step in result.stdout
    assert pg_cluster.password not in result.stdout + result.stderr
    assert pg_roles_like(pg_cluster, "v-check-") == []


def test_broken_manifest_names_the_step_statement_and_error_and_cleans_up(pg_cluster, tmp_path: Path):
    manifest = tmp_path / "broken.yaml"
    manifest.write_text(
        "yamldb: 1\ndialect: postgresql\nstatements:\n  create:\n"
        "    - CREATE ROLE \"{{username}}\" WITH LOGIN PASSWORD '{{password}}';\n"
        '    - GRANT SELECT ON no_such_table TO "{{username}}";\n'
    )
    result = check(
        str(manifest),
        "--connection-url",
        pg_cluster.template_url(),
        "--username",
        pg_cluster.superuser,
        f"--password={pg_cluster.password}",
    )
    assert result.returncode == 1
    assert "FAILED" in result.stdout and "create" in result.stdout
    assert 'statement: GRANT SELECT ON no_such_table TO "v-check-' in result.stdout
    assert 'relation "no_such_table" does not exist' in result.stdout
    assert pg_roles_like(pg_cluster, "v-check-") == []  # the transaction took the role back


def test_revoke_that_leaves_the_user_fails_at_user_gone(pg_cluster, tmp_path: Path):
    manifest = tmp_path / "leaky.yaml"
    manifest.write_text("yamldb: 1\ndialect: postgresql\nstatements:\n  revoke: SELECT 1;\n")
    result = check(
        str(manifest),
        "--connection-url",
        pg_cluster.template_url(),
        "--username",
        pg_cluster.superuser,
        f"--password={pg_cluster.password}",
    )
    assert result.returncode == 1
    assert "user gone" in result.stdout and "still exists after revocation" in result.stdout
    for name in pg_roles_like(pg_cluster, "v-check-"):  # the manifest's revoke cannot clean up; we do
        with pg_cluster.connect() as conn:
            conn.execute(f'DROP ROLE "{name}"')


def test_mariadb_lifecycle_passes(mariadb_admin: MariaDBAdmin):
    url = f"{{{{username}}}}:{{{{password}}}}@tcp({mariadb_admin.host}:{mariadb_admin.port})/"
    # --password-env keeps the secret off the command line
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "yamldb.cli",
            "check",
            "mysql",
            "--connection-url",
            url,
            "--username",
            mariadb_admin.user,
            "--password-env",
            "ADMIN_PW",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ADMIN_PW": mariadb_admin.password},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped" in result.stdout and "no user expiry" in result.stdout  # renew is a documented no-op


def test_mariadb_broken_manifest_fails_with_the_database_error(mariadb_admin: MariaDBAdmin, tmp_path: Path):
    manifest = tmp_path / "bad-mysql.yaml"
    manifest.write_text(
        "yamldb: 1\ndialect: mysql\nstatements:\n  create:\n"
        "    - CREATE USER '{{username}}'@'%' IDENTIFIED BY '{{password}}';\n"
        "    - GRANT SELECT ON nosuchdb_yamldb.* TO '{{username}}'@'%' WITH NONSENSE;\n"
    )
    url = f"{{{{username}}}}:{{{{password}}}}@tcp({mariadb_admin.host}:{mariadb_admin.port})/"
    result = check(
        str(manifest), "--connection-url", url, "--username", mariadb_admin.user, f"--password={mariadb_admin.password}"
    )
    assert result.returncode == 1
    assert "(1064)" in result.stdout  # MariaDB's syntax error, verbatim
    with mariadb_admin.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT User FROM mysql.user WHERE User LIKE 'v-check-%'")
        assert cur.fetchall() == ()  # no transactional DDL: the rollback statements removed the user


def test_sqlite_app_users(tmp_path: Path):
    result = check("sqlite", "--connection-url", str(tmp_path / "app.db"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "users do not log in to the database" in result.stdout
