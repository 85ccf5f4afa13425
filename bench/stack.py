"""The servers under test: OpenBao dev, a throw-away PostgreSQL, a MariaDB admin user, the prebuilt plugin.

Everything is registered on an ``ExitStack`` so a failure or Ctrl-C stops and
removes it all (the devenv classes also stop themselves at interpreter exit).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv import MariaDBAdmin, OpenBaoDevServer, PostgresCluster
from yamldb.resources import shipped_dir

PLUGIN_FILE = "yamldb-database-plugin"
MOUNT = "database"
# The floor: the same prebuilt file with its database work switched off (bench/variants/sitecustomize.py).
FLOOR_CATALOG = "yamldb-floor"
FLOOR_PATCHES = ("no-database",)
HOOK_DIR = Path(__file__).resolve().parent / "variants"
PLUGINS = ("yamldb", "floor", "builtin")

PG_CREATE = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
PG_REVOKE = 'DROP ROLE IF EXISTS "{{name}}";'
MY_CREATE = "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';"
MY_REVOKE = "DROP USER IF EXISTS '{{name}}'@'%';"

BUILTIN = {"postgresql": "postgresql-database-plugin", "mysql": "mysql-database-plugin"}
STATEMENTS = {"postgresql": (PG_CREATE, PG_REVOKE), "mysql": (MY_CREATE, MY_REVOKE)}


@dataclass
class Target:
    """One connection config + role in the shared OpenBao: (database, plugin)."""

    database: str  # postgresql | mysql
    plugin: str  # yamldb | floor | builtin (or an experiment's label)
    config: str
    role: str
    pids: list[int] | None = None  # the plugin process(es) serving it; [] for a built-in plugin (in OpenBao)


@dataclass
class Stack:
    workdir: Path
    run_id: str
    bao: OpenBaoDevServer
    pg: PostgresCluster | None
    mariadb: MariaDBAdmin | None
    plugin_dir: Path
    plugin_path: Path
    plugin_sha256: str
    cache_dir: Path
    build_seconds: float
    mysql_manifest: str | None
    notes: list[str] = field(default_factory=list)
    # catalog name -> the plugin process(es) that appeared when its first config was written
    catalog_pids: dict[str, list[int]] = field(default_factory=dict)

    @property
    def tmp_dir(self) -> Path:
        path = self.workdir / "tmp"
        path.mkdir(exist_ok=True)
        return path

    # -- configuration --------------------------------------------------------------------
    def register_yamldb(self, name: str = "yamldb", env: tuple[str, ...] = ()) -> float:
        """POST sys/plugins/catalog/database/NAME; returns the seconds it took."""
        t0 = time.perf_counter()
        self.bao.api(
            "POST",
            f"sys/plugins/catalog/database/{name}",
            {
                "sha256": self.plugin_sha256,
                "command": PLUGIN_FILE,
                # TMPDIR: the plugin's private socket directory lands in our work dir, removed at the end
                "env": [f"YAMLDB_PLUGIN_CACHE={self.cache_dir}", f"TMPDIR={self.tmp_dir}", *env],
            },
        )
        return time.perf_counter() - t0

    def register_variant(
        self, name: str, patches: tuple[str, ...] | list[str], env: dict[str, str] | None = None
    ) -> Path:
        """The same prebuilt file under catalog NAME (so its own process), patched from outside by
        bench/variants/sitecustomize.py; returns the marker file in which the live patches are listed."""
        marker = self.workdir / f"{name}.applied"
        self.register_yamldb(
            name,
            (
                f"PYTHONPATH={HOOK_DIR}",
                f"YAMLDB_BENCH_PATCHES={','.join(patches)}",
                f"YAMLDB_BENCH_MARKER={marker}",
                *(f"{k}={v}" for k, v in (env or {}).items()),
            ),
        )
        return marker

    def register_floor(self) -> None:
        self.register_variant(FLOOR_CATALOG, FLOOR_PATCHES)

    def config_body(self, database: str, plugin_name: str) -> dict[str, Any]:
        yamldb = not plugin_name.endswith("-database-plugin")
        body: dict[str, Any] = {"plugin_name": plugin_name, "allowed_roles": "*"}
        if database == "postgresql":
            assert self.pg is not None
            body.update(connection_url=self.pg.template_url(), username=self.pg.superuser, password=self.pg.password)
            if yamldb:
                body["manifest"] = "postgresql"
        else:
            assert self.mariadb is not None
            body.update(
                connection_url=f"{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{self.mariadb.port})/",
                username=self.mariadb.user,
                password=self.mariadb.password,
            )
            if yamldb and self.mysql_manifest:
                body["manifest"] = self.mysql_manifest
        return body

    def write_config(self, name: str, database: str, plugin_name: str) -> float:
        t0 = time.perf_counter()
        self.bao.api("POST", f"{MOUNT}/config/{name}", self.config_body(database, plugin_name))
        return time.perf_counter() - t0

    def write_role(self, role: str, config: str, database: str) -> None:
        create, revoke = STATEMENTS[database]
        self.bao.api(
            "POST",
            f"{MOUNT}/roles/{role}",
            {
                "db_name": config,
                "creation_statements": create,
                "revocation_statements": revoke,
                "default_ttl": "1h",
                "max_ttl": "24h",
            },
        )

    def target(self, database: str, plugin: str, suffix: str = "") -> Target:
        """Configure (connection + role) one side of the comparison; role names carry the run id."""
        short = {"postgresql": "p", "mysql": "m"}[database] + {"yamldb": "y", "builtin": "b", "floor": "f"}[plugin]
        short += suffix
        config = f"{database}-{plugin}{'-' + suffix if suffix else ''}"
        role = f"{self.run_id}{short}"  # <= 10 chars: MySQL's username template truncates role names at 10
        catalog = {"yamldb": "yamldb", "floor": FLOOR_CATALOG}.get(plugin) or BUILTIN[database]
        pids = self.configure(config, role, database, catalog)
        if plugin == "floor":
            self.check_patches(self.workdir / f"{FLOOR_CATALOG}.applied", FLOOR_PATCHES)
        return Target(database, plugin, config, role, pids)

    def configure(self, config: str, role: str, database: str, catalog: str) -> list[int]:
        """Write a connection config for `catalog` and a role on it; returns the pids serving the catalog
        ([] for a built-in plugin, which runs inside OpenBao)."""
        before = self.yamldb_pids()
        self.write_config(config, database, catalog)
        self.write_role(role, config, database)
        if catalog in BUILTIN.values():
            return []
        started = sorted(self.yamldb_pids() - before)
        if started:
            self.catalog_pids[catalog] = started
        return self.catalog_pids.get(catalog, [])

    @staticmethod
    def check_patches(marker: Path, patches: tuple[str, ...] | list[str]) -> list[str]:
        """The patches that went live in a variant's process; raises if any named one did not."""
        live = sorted(set(marker.read_text().split()[1::2])) if marker.exists() else []
        missing = sorted(set(patches) - set(live))
        if missing:
            raise RuntimeError(
                f"benchmark patches not live in the plugin process: {missing} "
                f"(bench/variants/sitecustomize.py no longer matches yamldb?)"
            )
        return live

    def delete_config(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.bao.api("DELETE", f"{MOUNT}/config/{name}")

    def yamldb_pids(self) -> set[int]:
        return set(self.bao.plugin_pids(PLUGIN_FILE))

    def postmaster_pid(self) -> int | None:
        if self.pg is None:
            return None
        try:
            return int((self.pg.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def build_plugin(plugin_dir: Path, plugin_format: str = "zipapp") -> tuple[str, float]:
    t0 = time.perf_counter()
    # The zipapp by default: the benchmark's variants (the floor arm, bench.experiments) patch the plugin through
    # PYTHONPATH=bench/variants, which the self-contained file's frozen interpreter does not read. The
    # Python code per request is the same in both formats; start-up is compared in bench/plugin_file.py.
    out = subprocess.run(
        [sys.executable, "-m", "yamldb.cli", "plugin", "build", "--format", plugin_format, "--output", str(plugin_dir)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    took = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"yamldb plugin build failed:\n{out.stderr[-2000:]}")
    match = re.search(r"sha256: ([0-9a-f]{64})", out.stdout)
    actual = hashlib.sha256((plugin_dir / PLUGIN_FILE).read_bytes()).hexdigest()
    if not match or match.group(1) != actual:
        raise RuntimeError(f"build output does not name the file's sha256 {actual}:\n{out.stdout}")
    return actual, took


def _mysql_manifest(notes: list[str]) -> str | None:
    names = {p.stem for p in shipped_dir("dialects").glob("*.yaml")}
    if "mysql" in names:
        return "mysql"
    if "mariadb" in names:
        notes.append(
            "dialects/mysql.yaml was missing: yamldb used manifest=mariadb; the role statements decide "
            "what runs either way"
        )
        return "mariadb"
    notes.append("no mysql/mariadb manifest shipped: yamldb ran with the role statements only (manifest inferred)")
    return None


def start_stack(
    stack: contextlib.ExitStack,
    databases: tuple[str, ...],
    bao_log_level: str,
    log: Callable[[str], None],
    plugin_format: str = "zipapp",
) -> Stack:
    """Start everything; the caller's ExitStack owns the cleanup."""
    workdir = Path(tempfile.mkdtemp(prefix="yamldb-bench-"))
    stack.callback(shutil.rmtree, workdir, True)
    run_id = "b" + secrets.token_hex(3)  # 7 chars, unique per run: all our database users start with it
    plugin_dir = workdir / "plugins"
    plugin_dir.mkdir()
    cache_dir = workdir / "plugin-cache"
    cache_dir.mkdir(mode=0o700)
    notes: list[str] = []

    log(f"building the plugin: python -m yamldb.cli plugin build --format {plugin_format} --output DIR")
    sha, build_s = build_plugin(plugin_dir, plugin_format)
    pg = mariadb = None
    if "postgresql" in databases:
        log("starting a throw-away PostgreSQL cluster (scram-sha-256)")
        pg = PostgresCluster.start()
        stack.callback(pg.stop)
    if "mysql" in databases:
        log("creating a temporary MariaDB admin user on 127.0.0.1:3306")
        mariadb = MariaDBAdmin.start()
        stack.callback(mariadb.stop)
        for head in ("v-token-", "v-root-"):  # the username templates put the role name after these
            mariadb.track_prefix(head + run_id)
        mariadb.track_prefix("c" + run_id)  # the direct (ceiling) loop's users
    log(f"starting OpenBao dev server (log level {bao_log_level})")
    bao = OpenBaoDevServer.start(plugin_dir, log_level=bao_log_level)
    stack.callback(bao.stop)
    result = Stack(
        workdir,
        run_id,
        bao,
        pg,
        mariadb,
        plugin_dir,
        plugin_dir / PLUGIN_FILE,
        sha,
        cache_dir,
        build_s,
        _mysql_manifest(notes) if mariadb else None,
        notes,
    )
    result.register_yamldb("yamldb")
    bao.api("POST", f"sys/mounts/{MOUNT}", {"type": "database"})
    return result
