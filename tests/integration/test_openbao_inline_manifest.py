"""Inline manifests in the connection config, and the operator's switch to refuse them (issue 5 §2)."""

from __future__ import annotations

import psycopg
import pytest

from devenv import OpenBaoAPIError

INLINE = """\
yamldb: 1
dialect: postgresql
statements:
  create:
    - CREATE ROLE "{{username}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' CONNECTION LIMIT 3;
"""


def config(pg, **extra) -> dict:
    return {
        "connection_url": pg.template_url(),
        "username": pg.superuser,
        "password": pg.password,
        "allowed_roles": "*",
        **extra,
    }


def test_inline_manifest_is_used(openbao, pg_cluster):
    openbao.api("POST", "database/config/inline", config(pg_cluster, plugin_name="yamldb", manifest_inline=INLINE))
    openbao.api("POST", "database/roles/inline", {"db_name": "inline"})  # no statements: the manifest's
    lease = openbao.api("GET", "database/creds/inline")
    with pg_cluster.connect() as conn:
        limit = conn.execute(
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (lease["data"]["username"],)
        ).fetchone()[0]
    assert limit == 3
    with psycopg.connect(
        host="127.0.0.1",
        port=pg_cluster.port,
        user=lease["data"]["username"],
        password=lease["data"]["password"],
        dbname="postgres",
    ):
        pass
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})


def test_inline_manifest_errors_point_into_the_text(openbao, pg_cluster):
    with pytest.raises(OpenBaoAPIError) as err:
        openbao.api(
            "POST",
            "database/config/inline-bad",
            config(pg_cluster, plugin_name="yamldb", manifest_inline="yamldb: 1\ndialect: postgresql\nstatments: {}\n"),
        )
    assert "manifest_inline:3:1" in str(err.value) and 'unknown key "statments"' in str(err.value)


def test_inline_manifest_cannot_name_a_dialect_file(openbao, pg_cluster):
    with pytest.raises(OpenBaoAPIError) as err:
        openbao.api(
            "POST",
            "database/config/inline-file",
            config(pg_cluster, plugin_name="yamldb", manifest_inline="yamldb: 1\ndialect: /etc/passwd.yaml\n"),
        )
    assert "names its dialect, not a file" in str(err.value)


def test_operator_can_refuse_inline_manifests(openbao, pg_cluster, built_plugin, plugin_cache):
    openbao.api(
        "POST",
        "sys/plugins/catalog/database/yamldb-strict",
        {
            "sha256": built_plugin.sha256,
            "command": "yamldb-database-plugin",
            "args": ["--no-inline-manifests"],
            "env": [f"YAMLDB_PLUGIN_CACHE={plugin_cache}"],
        },
    )
    with pytest.raises(OpenBaoAPIError) as err:
        openbao.api(
            "POST", "database/config/strict", config(pg_cluster, plugin_name="yamldb-strict", manifest_inline=INLINE)
        )
    assert "inline manifests are disabled" in str(err.value)
    openbao.api(
        "POST", "database/config/strict", config(pg_cluster, plugin_name="yamldb-strict", manifest="postgresql")
    )


def test_inline_manifest_builds_on_a_manifest_that_names_a_dialect(openbao, pg_cluster):
    # issue 11 §8: pg-sets (the operator's directory) says `dialect: postgresql`; this raised AttributeError.
    inline = "yamldb: 1\ndialect: pg-sets\nparameters:\n  schema: {default: public}\n"
    openbao.api(
        "POST", "database/config/inline-chain", config(pg_cluster, plugin_name="yamldb", manifest_inline=inline)
    )
    openbao.api(
        "POST", "database/roles/inline-chain", {"db_name": "inline-chain", "creation_statements": "yamldb:readonly"}
    )
    lease = openbao.api("GET", "database/creds/inline-chain")  # the set comes from pg-sets
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
    openbao.api("DELETE", "database/config/inline-chain")


@pytest.mark.parametrize(
    ("manifest", "url", "says"),
    [
        ("mysql", "postgresql://{{username}}:{{password}}@127.0.0.1:{port}/postgres", "is a postgresql:// URL"),
        ("postgresql", "{{username}}:{{password}}@tcp(127.0.0.1:{port})/", "is a Go MySQL DSN"),
        ("sqlite", "host=127.0.0.1 port={port} user={{username}}", "is a PostgreSQL key=value DSN"),
    ],
)
def test_a_url_for_another_database_is_refused_when_the_config_is_written(openbao, pg_cluster, manifest, url, says):
    # issue 11 §8: refused by `bao write database/config/...`, not at the first credential.
    with pytest.raises(OpenBaoAPIError) as err:
        openbao.api(
            "POST",
            "database/config/mismatch",
            config(
                pg_cluster,
                plugin_name="yamldb",
                manifest=manifest,
                connection_url=url.replace("{port}", str(pg_cluster.port)),
            ),
        )
    assert err.value.status == 400 and says in str(err.value)
