"""A hostile manifest or pattern costs its own request only (issue 11 §7), through a real OpenBao.

Another connection served by the same plugin process issues and revokes credentials the whole time;
its latencies are printed (the figures are in docs/benchmarks.md, from bench/hostile.py), and every one
of its requests must succeed. Before the limits, the 12 MB manifest took 38 s here and (a|aa)+ against
100 characters would not have answered within the request's 60 s deadline at all.
"""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from devenv import OpenBaoAPIError
from tests.integration.conftest import PLUGIN_NAME

CREATE = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
REVOKE = 'DROP ROLE IF EXISTS "{{name}}";'


def statements(n_bytes: int) -> str:
    head = "yamldb: 1\ndialect: postgresql\nstatements:\n  create:\n"
    return head + "    - SELECT 1;\n" * ((n_bytes - len(head)) // 16)


def alias_bomb() -> str:
    lines = ["yamldb: 1", "dialect: postgresql", 'l0: &l0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def with_pattern(pattern: str) -> str:
    return (
        "yamldb: 1\ndialect: postgresql\nparameters:\n  tag:\n    default: a\n"
        f"    pattern: '{pattern}'\nsets:\n  tagged:\n    create:\n      - {CREATE}\n"
        "      - COMMENT ON ROLE \"{{name}}\" IS '{{tag}}';\n"
    )


class Steady(threading.Thread):
    """Credentials issued and revoked in a loop on one connection."""

    def __init__(self, bao, role: str) -> None:
        super().__init__(daemon=True)
        self.bao, self.role = bao, role
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                lease = self.bao.api("GET", f"database/creds/{self.role}")
                self.bao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
            except Exception as exc:  # every failure counts, whatever its type
                self.errors.append(str(exc))
            self.latencies.append(time.monotonic() - start)


def refusal(bao, path: str, body: dict, method: str = "POST") -> str:
    with pytest.raises(OpenBaoAPIError) as err:
        bao.api(method, path, body)
    return str(err.value)


def test_hostile_manifests_and_patterns_are_refused_while_another_connection_works(openbao, pg_cluster):
    base = {
        "plugin_name": PLUGIN_NAME,
        "connection_url": pg_cluster.template_url(),
        "username": pg_cluster.superuser,
        "password": pg_cluster.password,
        "allowed_roles": "*",
    }
    openbao.api("POST", "database/config/cost-steady", {**base, "manifest": "postgresql"})
    openbao.api(
        "POST",
        "database/roles/cost-steady",
        {"db_name": "cost-steady", "creation_statements": CREATE, "revocation_statements": REVOKE},
    )
    steady = Steady(openbao, "cost-steady")
    steady.start()
    timings: dict[str, float] = {}

    def timed(name: str, call):
        start = time.monotonic()
        try:
            return call()
        finally:
            timings[name] = time.monotonic() - start

    try:
        message = timed(
            "12 MB",
            lambda: refusal(openbao, "database/config/cost-big", {**base, "manifest_inline": statements(12_000_000)}),
        )
        assert "manifest_inline: the manifest is 11999" in message and "over the limit of 1048576 bytes" in message
        assert "it was not parsed" in message and "alias" not in message

        message = timed(
            "1 MB of nodes",
            lambda: refusal(openbao, "database/config/cost-nodes", {**base, "manifest_inline": statements(1_000_000)}),
        )
        assert "the manifest has more than 10000 YAML nodes" in message

        message = timed(
            "alias bomb",
            lambda: refusal(openbao, "database/config/cost-bomb", {**base, "manifest_inline": alias_bomb()}),
        )
        assert "aliases expand the manifest to more than 10000 values" in message

        message = refusal(openbao, "database/config/cost-backref", {**base, "manifest_inline": with_pattern(r"(a)\1")})
        assert "manifest_inline:6:14: parameters.tag.pattern: invalid escape sequence: \\1" in message

        openbao.api("POST", "database/config/cost-pattern", {**base, "manifest_inline": with_pattern("(a|aa)+")})
        openbao.api(
            "POST",
            "database/roles/cost-pattern",
            {"db_name": "cost-pattern", "creation_statements": f"yamldb:tagged tag={'a' * 99}b"},
        )
        message = timed("(a|aa)+ x100", lambda: refusal(openbao, "database/creds/cost-pattern", {}, "GET"))
        assert "does not match '(a|aa)+'" in message
    finally:
        steady.stop.set()
        steady.join(timeout=120)
    assert steady.errors == []
    assert len(steady.latencies) > 0
    ms = sorted(x * 1000 for x in steady.latencies)
    print(
        f"\nsteady connection: {len(ms)} issue+revoke, p50 {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms; "
        "hostile requests: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
    )


def test_the_size_limit_is_set_at_registration(openbao, pg_cluster, built_plugin, plugin_cache):
    openbao.api(
        "POST",
        "sys/plugins/catalog/database/yamldb-small",
        {
            "sha256": built_plugin.sha256,
            "command": "yamldb-database-plugin",
            "args": ["--max-manifest-bytes=2KiB"],
            "env": [f"YAMLDB_PLUGIN_CACHE={plugin_cache}"],
        },
    )
    base = {
        "plugin_name": "yamldb-small",
        "connection_url": pg_cluster.template_url(),
        "username": pg_cluster.superuser,
        "password": pg_cluster.password,
        "allowed_roles": "*",
    }
    message = refusal(openbao, "database/config/small-big", {**base, "manifest_inline": statements(4096)})
    assert "over the limit of 2048 bytes (2.0 KiB)" in message
    # Under the limit, and the shipped dialect it builds on (3 KiB) is not held to the operator's limit.
    small = "yamldb: 1\ndialect: postgresql\n" + "# a comment line of padding, 48 bytes long .....\n" * 20
    assert 1000 < len(small) < 2048
    openbao.api("POST", "database/config/small-ok", {**base, "manifest_inline": small})
