"""The plugin's TLS identity, made in a forked child (issue 6: memory) or, failing that, in-process."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest

from devenv.goplugin_host import make_host_cert
from yamldb.transport.tls import PendingIdentity, server_context


def usable(identity, tmp_path: Path) -> bool:
    context = server_context(identity, make_host_cert().cert_pem.decode(), tmp_path)
    return isinstance(context, ssl.SSLContext) and identity.cert_der and identity.handshake_field


def test_identity_from_the_child_is_a_working_certificate_and_key(tmp_path):
    pending = PendingIdentity()
    assert pending._pid > 0
    assert usable(pending.result(), tmp_path)
    with pytest.raises(ChildProcessError):
        os.waitpid(pending._pid, os.WNOHANG)  # reaped: no zombie left behind


def test_without_fork_it_is_made_in_process(tmp_path, monkeypatch):
    def no_fork() -> int:
        raise OSError("fork refused")

    monkeypatch.setattr(os, "fork", no_fork)
    assert usable(PendingIdentity().result(), tmp_path)


def test_two_pending_identities_differ(tmp_path):
    first, second = PendingIdentity().result(), PendingIdentity().result()
    assert first.cert_der != second.cert_der and first.key_pem != second.key_pem
