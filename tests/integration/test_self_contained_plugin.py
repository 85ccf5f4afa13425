"""The default plugin file needs nothing on the host (issue 16).

The file `yamldb plugin build` writes (session fixture ``built_plugin``) is copied alone into a
Debian root filesystem made with `debootstrap --variant=minbase` (no Python in it), where a real
OpenBao registers it by sha256 and drives a whole credential lifecycle against PostgreSQL.
The other tests here check the launcher's cache: unpacked once per build, shared safely by
concurrent starts, refused when others could write to it, and a damaged file says so.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import yamldb
from devenv import HarnessUnavailable, PostgresCluster
from devenv.rootfs import INSIDE, RootfsOpenBao, find_pythons, minimal_rootfs
from tests.conftest import require
from tests.integration.conftest import BUILD_EXTRAS, PG_SETS, BuiltPlugin
from tests.polling import wait_until

PLUGIN = "yamldb-database-plugin"


def run_plugin(path: Path, *args: str, cache: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    if cache is not None:
        base["YAMLDB_PLUGIN_CACHE"] = str(cache)
    return subprocess.run([str(path), *args], capture_output=True, text=True, timeout=120, env={**base, **env})


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700)
    return path


@pytest.fixture(scope="module")
def rootfs() -> Path:
    try:
        return minimal_rootfs()
    except HarnessUnavailable as exc:
        require(exc)


def test_the_file_is_a_native_executable_that_answers_version(built_plugin: BuiltPlugin, tmp_path: Path):
    path = built_plugin.directory / PLUGIN
    assert path.read_bytes()[:4] == b"\x7fELF"  # no shebang: nothing to find on the host's PATH
    assert "self-contained" in built_plugin.output and "no Python needed" in built_plugin.output
    result = run_plugin(path, "--version", cache=private_dir(tmp_path / "cache"), PATH="/nonexistent")
    assert (result.returncode, result.stdout) == (0, f"yamldb {yamldb.__version__}\n"), result.stderr


def test_the_host_without_python_issues_and_revokes_credentials(
    built_plugin: BuiltPlugin, rootfs: Path, pg_cluster: PostgresCluster, tmp_path: Path
):
    assert find_pythons(rootfs) == []
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy2(built_plugin.directory / PLUGIN, plugins / PLUGIN)  # the file alone, as a new user copies it
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "pg-sets.yaml").write_text(PG_SETS)
    schema = f"selfc_{secrets.token_hex(4)}"
    with pg_cluster.connect() as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.t (x int)")
        conn.execute(f"INSERT INTO {schema}.t VALUES (1)")
    try:
        bao = RootfsOpenBao.start(plugins, rootfs=rootfs, manifest_dir=manifests)
    except HarnessUnavailable as exc:
        require(exc)
    with bao:
        # Registered as the build printed it, plus the operator's manifest directory.
        command = re.search(r"  (bao plugin register .*)", built_plugin.output).group(1).split()
        bao.cli(*command[1:-3], f"-args=--manifest-dir={INSIDE}/manifests", *command[-3:])
        bao.cli("secrets", "enable", "database")
        url = f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg_cluster.port}/postgres"
        for name, manifest in (("shipped", "postgresql"), ("from-dir", "pg-sets")):
            bao.api(
                "POST",
                f"database/config/{name}",
                {
                    "plugin_name": "yamldb",
                    "plugin_version": f"v{yamldb.__version__}",
                    "manifest": manifest,
                    "connection_url": url,
                    "username": pg_cluster.superuser,
                    "password": pg_cluster.password,
                    "allowed_roles": "*",
                },
            )
        bao.api("POST", "database/roles/plain", {"db_name": "shipped", "default_ttl": "1h"})
        bao.api(
            "POST",
            "database/roles/ro",
            {"db_name": "from-dir", "creation_statements": f"yamldb:readonly schema={schema}"},
        )
        leases = [bao.api("GET", f"database/creds/{role}") for role in ("plain", "ro")]
        for lease in leases:
            user, password = lease["data"]["username"], lease["data"]["password"]
            with psycopg.connect(
                host="127.0.0.1", port=pg_cluster.port, user=user, password=password, dbname="postgres"
            ) as conn:
                assert conn.execute("SELECT current_user").fetchone()[0] == user
        with psycopg.connect(
            host="127.0.0.1",
            port=pg_cluster.port,
            user=leases[1]["data"]["username"],
            password=leases[1]["data"]["password"],
            dbname="postgres",
        ) as conn:
            assert conn.execute(f"SELECT count(*) FROM {schema}.t").fetchone()[0] == 1
        for lease in leases:
            bao.cli("lease", "revoke", "-sync", lease["lease_id"])
        with pg_cluster.connect() as conn:
            users = [lease["data"]["username"] for lease in leases]
            assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)", (users,)).fetchone()[0] == 0
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
        assert bao.plugin_pids(PLUGIN), "the plugin should be running inside the root filesystem"
        bao.cli("secrets", "disable", "database")
        assert wait_until(lambda: bao.plugin_pids(PLUGIN) == [], 20), "the plugin did not exit"
        exits = [line for line in bao.log_text().splitlines() if "plugin process exited" in line]
        assert len(exits) >= 2, bao.log_text()[-3000:]  # the registration probe and the serving process
        assert not [line for line in exits if "[ERROR]" in line or "error=" in line], exits


def test_the_first_start_unpacks_once_and_concurrent_starts_share_it(built_plugin: BuiltPlugin, tmp_path: Path):
    path = built_plugin.directory / PLUGIN
    cache = private_dir(tmp_path / "cache")
    starts = [
        subprocess.Popen(
            [str(path), "--version"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": "/usr/bin:/bin", "YAMLDB_PLUGIN_CACHE": str(cache)},
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in starts]
    assert [p.returncode for p in starts] == [0] * 4, outputs
    (build,) = [p for p in cache.iterdir()]  # one directory per build; losers of the race removed theirs
    assert (build / ".complete").is_file() and (build / PLUGIN).is_file()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    before = (build / "_internal").stat().st_ino, (build / PLUGIN).stat().st_mtime_ns
    assert run_plugin(path, "--version", cache=cache).returncode == 0
    assert ((build / "_internal").stat().st_ino, (build / PLUGIN).stat().st_mtime_ns) == before  # not unpacked again


def test_a_cache_others_can_write_is_never_used(built_plugin: BuiltPlugin, tmp_path: Path):
    path = built_plugin.directory / PLUGIN
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    tmpdir = tmp_path / "tmpd"
    tmpdir.mkdir()
    result = run_plugin(path, "--version", cache=shared, TMPDIR=str(tmpdir))
    assert result.returncode == 0 and '"@level": "warn"' in result.stderr and "unusable" in result.stderr
    assert list(shared.iterdir()) == [] and (tmpdir / f"yamldb-plugin-{os.getuid()}").is_dir()
    (tmpdir / f"yamldb-plugin-{os.getuid()}").chmod(0o777)  # a fallback others could have planted
    result = run_plugin(path, "--version", cache=shared, TMPDIR=str(tmpdir))
    assert result.returncode == 1 and "unsafe cache directory" in result.stderr and result.stdout == ""


def test_a_damaged_file_says_so_and_leaves_no_cache(built_plugin: BuiltPlugin, tmp_path: Path):
    data = bytearray((built_plugin.directory / PLUGIN).read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = bytes(4096)  # inside a compressed entry of the payload
    damaged = tmp_path / PLUGIN
    damaged.write_bytes(bytes(data))
    damaged.chmod(0o755)
    cache = private_dir(tmp_path / "cache")
    result = run_plugin(damaged, "--version", cache=cache)
    assert result.returncode == 1 and "damaged" in result.stderr, result.stderr
    assert list(cache.iterdir()) == []  # the half-unpacked directory is removed too
    truncated = tmp_path / "truncated" / PLUGIN
    truncated.parent.mkdir()
    truncated.write_bytes(bytes(data[:-10]))
    truncated.chmod(0o755)
    result = run_plugin(truncated, "--version", cache=cache)
    assert result.returncode == 1 and "carries no payload" in result.stderr


def test_two_builds_from_the_same_sources_are_identical(built_plugin: BuiltPlugin, tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "yamldb.cli", "plugin", "build", "--output", str(tmp_path), *BUILD_EXTRAS],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256((tmp_path / PLUGIN).read_bytes()).hexdigest() == built_plugin.sha256


def test_the_zipapp_format_is_still_available(tmp_path: Path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "yamldb.cli", "plugin", "build", "--format", "zipapp", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert [p.name for p in out.iterdir()] == [PLUGIN]
    assert (out / PLUGIN).read_bytes().startswith(f"#!/usr/bin/env python{sys.version_info[0]}.".encode())
    python_dir = str(Path(sys.executable).parent)
    result = run_plugin(
        out / PLUGIN, "--version", cache=private_dir(tmp_path / "cache"), PATH=f"{python_dir}:/usr/bin:/bin"
    )
    assert (result.returncode, result.stdout) == (0, f"yamldb {yamldb.__version__}\n"), result.stderr
