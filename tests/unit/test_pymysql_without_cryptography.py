"""PyMySQL without cryptography until a server asks for RSA password encryption (issue 17: resident memory).

The MySQL adapter imports PyMySQL without the cryptography package (~9 MB resident), which PyMySQL needs
only for MySQL 8's sha256_password / caching_sha2_password full authentication over plain text. These
tests run a fresh interpreter (this one may have imported cryptography already) against a stand-in MySQL 8
server that asks for exactly that, so the RSA path is the real one PyMySQL takes.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PLUGIN = b"caching_sha2_password"
# CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH
CAPABILITIES = 0x1 | 0x200 | 0x8000 | 0x80000
SALT = bytes(range(65, 85))  # 20 bytes, no NUL
OK = b"\x00\x00\x00" + struct.pack("<HH", 0, 0)

CLIENT = """
import json, sys
from yamldb.engine.drivers.mysql import MysqlAdapter
from yamldb.manifest.model import PoolSettings

adapter = MysqlAdapter()
adapter.load_driver()
import pymysql

before = "cryptography" in sys.modules
port, password = sys.stdin.read().split()
args = adapter.connect_args({}, None, PoolSettings())
pymysql.connect(host="127.0.0.1", port=int(port), user="u8", password=password, read_timeout=30, **args).close()
print(json.dumps({"before": before, "after": "cryptography" in sys.modules}))
"""


class Mysql8FullAuth:
    """One connection as a MySQL 8 server greets a user whose password is not in its cache: caching_sha2_password,
    fast path refused ("perform full authentication"), its RSA public key on request, the password decrypted."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(30)
        self.port = self.listener.getsockname()[1]
        self.received: list[bytes] = []  # the password, as the server decrypted it
        self.error: list[BaseException] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(30)
                self._session(conn)
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error.append(exc)
        finally:
            self.listener.close()

    @staticmethod
    def _send(conn: socket.socket, seq: int, payload: bytes) -> None:
        conn.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload)

    @staticmethod
    def _recv(conn: socket.socket) -> tuple[int, bytes]:
        def exactly(n: int) -> bytes:
            data = b""
            while len(data) < n:
                chunk = conn.recv(n - len(data))
                if not chunk:
                    raise ConnectionError("client closed the connection")
                data += chunk
            return data

        head = exactly(4)
        return head[3], exactly(int.from_bytes(head[:3], "little"))

    def _session(self, conn: socket.socket) -> None:
        greeting = (
            b"\x0a8.0.36\x00"
            + struct.pack("<I", 7)
            + SALT[:8]
            + b"\x00"
            + struct.pack("<HBHHB", CAPABILITIES & 0xFFFF, 45, 0, CAPABILITIES >> 16, len(SALT) + 1)
            + bytes(10)
            + SALT[8:]
            + b"\x00"
            + PLUGIN
            + b"\x00"
        )
        self._send(conn, 0, greeting)
        seq, _response = self._recv(conn)  # the fast-path scramble
        self._send(conn, seq + 1, b"\x01\x04")  # perform full authentication
        seq, ask = self._recv(conn)
        assert ask == b"\x02", ask  # the client asks for the public key
        public = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._send(conn, seq + 1, b"\x01" + public)
        seq, encrypted = self._recv(conn)
        oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
        xored = self.key.decrypt(encrypted, oaep)
        self.received.append(bytes(b ^ SALT[i % len(SALT)] for i, b in enumerate(xored)).rstrip(b"\x00"))
        self._send(conn, seq + 1, OK)
        while True:  # SET NAMES, SET AUTOCOMMIT: OK to every query, until COM_QUIT
            _seq, command = self._recv(conn)
            if command[:1] == b"\x01":
                return
            self._send(conn, 1, OK)


def test_full_rsa_authentication_imports_cryptography_when_the_server_asks_for_it():
    server = Mysql8FullAuth()
    password = "Lp-" + hashlib.sha256(b"rsa").hexdigest()[:20]
    result = subprocess.run(
        [sys.executable, "-c", CLIENT],
        input=f"{server.port} {password}",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    server.thread.join(30)
    assert result.returncode == 0, result.stderr
    assert not server.error, server.error
    seen = json.loads(result.stdout)
    assert seen["before"] is False  # PyMySQL loaded, cryptography not
    assert server.received == [password.encode()]  # encrypted with the server's key, decrypted by it
    assert seen["after"] is True


def test_a_pymysql_that_needs_cryptography_at_import_still_imports(tmp_path):
    # A PyMySQL release whose _auth imports cryptography outside a try block: imported again, as it is.
    package = tmp_path / "pymysql"
    package.mkdir()
    (package / "__init__.py").write_text("from . import _auth\n")
    (package / "_auth.py").write_text("from cryptography.hazmat.primitives import hashes\n")
    probe = (
        "import sys\n"
        "from yamldb.engine.drivers.mysql import MysqlAdapter\n"
        "MysqlAdapter().load_driver()\n"
        "import pymysql._auth\n"
        "print(pymysql.__file__, pymysql._auth.hashes.__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(package / "__init__.py"), "cryptography.hazmat.primitives.hashes"]
