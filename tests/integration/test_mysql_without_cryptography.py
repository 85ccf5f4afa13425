"""A MariaDB connection leaves the cryptography package unimported (issue 17: resident memory).

PyMySQL needs cryptography only when a MySQL 8 server asks for RSA password encryption
(tests/unit/test_pymysql_without_cryptography.py); MariaDB's mysql_native_password never does. A fresh
interpreter, since this one may have imported cryptography for other tests.
"""

from __future__ import annotations

import os
import subprocess
import sys

from devenv import MariaDBAdmin

PROBE = """
import os, sys
from sqlalchemy.engine import make_url
from yamldb.engine.executor import PoolSettings, SqlEngine
from yamldb.redact import Scrubber

engine = SqlEngine(make_url(os.environ["PROBE_URL"]), PoolSettings(), {}, Scrubber([]))
engine.verify("SELECT 1")
engine.dispose()
print("pymysql" in sys.modules, "cryptography" in sys.modules)
"""


def test_connecting_to_mariadb_does_not_import_cryptography(mariadb_admin: MariaDBAdmin):
    admin = mariadb_admin
    url = f"mysql+pymysql://{admin.user}:{admin.password}@{admin.host}:{admin.port}/"
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, "PROBE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]  # connected with PyMySQL, without cryptography
