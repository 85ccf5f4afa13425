"""yamldb in a 3-node OpenBao raft cluster (issue 14): failover under load, whole-cluster restart, teardown.

The scenarios are bench/ha.py's, run short; `make ha-bench` runs them long (docs/ha.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import ha
from devenv import HarnessUnavailable, PostgresCluster
from devenv.cluster import FAST, OpenBaoCluster
from devenv.openbao import process_start_time
from devenv.pluginfile import PLUGIN_FILE
from tests.conftest import require
from tests.integration.conftest import PLUGIN_NAME, BuiltPlugin


def start_cluster(plugin: BuiltPlugin, size: int = 3) -> OpenBaoCluster:
    try:
        # Not warmed: the new active node's first request also unpacks the plugin (the slower case).
        cluster = OpenBaoCluster.start(
            {PLUGIN_FILE: plugin.directory / PLUGIN_FILE}, size=size, raft=FAST, stabilization_time="1s", warm=False
        )
    except HarnessUnavailable as exc:
        require(exc)
    cluster.register(PLUGIN_NAME, PLUGIN_FILE, "v" + plugin_version())
    cluster.api("POST", "sys/mounts/database", {"type": "database"})
    return cluster


def plugin_version() -> str:
    import yamldb

    return yamldb.__version__


@pytest.fixture(scope="module")
def cluster(built_plugin: BuiltPlugin) -> Iterator[OpenBaoCluster]:
    cluster = start_cluster(built_plugin)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def db(cluster: OpenBaoCluster, pg_cluster: PostgresCluster) -> ha.Database:
    database = ha.Database(pg_cluster, "ha-" + secrets.token_hex(3))
    database.configure(cluster)
    return database


def test_three_nodes_one_plugin_file_registered_once(cluster: OpenBaoCluster, built_plugin: BuiltPlugin) -> None:
    active = cluster.active()
    assert len(cluster.standbys()) == 2 and active not in cluster.standbys()
    assert {s["node_id"]: s["voter"] for s in cluster.raft_servers()} == {"n1": True, "n2": True, "n3": True}
    for node in cluster.nodes:  # each node has its own copy, byte for byte the registered file
        copy = node.plugin_dir / PLUGIN_FILE
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == built_plugin.sha256
        assert os.access(copy, os.X_OK)
    entry = cluster.api("GET", f"sys/plugins/catalog/database/{PLUGIN_NAME}?version=v{plugin_version()}")["data"]
    assert (entry["sha256"], entry["command"]) == (built_plugin.sha256, PLUGIN_FILE)
    for standby in cluster.standbys():  # the catalog is replicated: a standby reads the same entry
        assert (
            standby.api("GET", f"sys/plugins/catalog/database/{PLUGIN_NAME}?version=v{plugin_version()}")["data"][
                "sha256"
            ]
            == built_plugin.sha256
        )


def test_failover_under_load_keeps_every_lease_and_leaves_only_expiring_users(
    cluster: OpenBaoCluster, db: ha.Database
) -> None:
    result = ha.failover(cluster, db, workers=8, before=2.0, after=2.0, ttl="1h", log=lambda _: None)
    summary = result["summary"]

    assert result["new_active"] != result["killed"]
    assert result["killed_plugin_exit_s"] is not None, "the killed node's plugin process outlived it"
    for group, seen in summary["groups"].items():
        assert seen["first_success_s"] is not None, f"{group} clients got no credential after the failover"
    assert result["credentials_issued"] > 0
    # Every credential a client received has its lease on the new active node, and revoke -prefix
    # -sync there dropped every one of those users.
    assert result["leases_lost"] == []
    assert result["issued_users_left"] == []
    # Users whose request was cut by the kill never reached a client; they carry VALID UNTIL
    # (request time + TTL + 5 s), so they expire.
    assert len(result["orphans"]) <= len(summary["in_flight"]), (result["orphans"], summary["in_flight"])
    assert result["orphans_unbounded"] == []
    # The killed node came back and rejoined as a voter.
    assert len(cluster.standbys()) == 2
    assert all(server["voter"] for server in cluster.raft_servers())


def test_whole_cluster_restart_keeps_leases_and_plugins_do_not_outlive_their_node(
    cluster: OpenBaoCluster, db: ha.Database
) -> None:
    result = ha.restart(cluster, db, leases=6, log=lambda _: None)

    assert sum(map(len, result["plugin_processes_before"].values())) >= 1
    assert result["plugin_processes_after_stop"] == {}, "plugin processes outlived their stopped node"
    assert result["leases_lost"] == []
    # Renew after the restart ran the plugin again (no operator step) and moved VALID UNTIL.
    assert result["plugin_after_renew"], "no plugin process on the active node after the renew"
    assert result["renew_ttl"] == 7200
    before = dt.datetime.fromisoformat(result["valid_until_before"])
    after = dt.datetime.fromisoformat(result["valid_until_after"])
    assert after - before > dt.timedelta(minutes=50)
    assert result["revoked_user_gone"]
    assert result["users_left"] == []
    assert result["leftovers_after_start"] == {}


def test_stop_leaves_no_process_and_no_directory(built_plugin: BuiltPlugin, pg_cluster: PostgresCluster) -> None:
    cluster = start_cluster(built_plugin, size=1)
    base: Path = cluster.base_dir
    try:
        ha.Database(pg_cluster, "ha-stop").configure(cluster)  # a plugin process is running now
        node = cluster.active()
        watched = {pid: process_start_time(pid) for pid in [node.pid, *node.plugin_pids(PLUGIN_FILE)]}
        assert len(watched) >= 2
        cluster.kill(node)  # the plugin is orphaned; stop() must still account for it
    finally:
        cluster.stop()
    assert not base.exists()
    assert [pid for pid, started in watched.items() if process_start_time(pid) == started] == []
