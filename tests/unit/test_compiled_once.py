"""Initialize compiles every operation once and keeps it (issue 12 §2), and the username length check
tests the template that will run: the config's override when there is one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from yamldb.errors import ConfigError
from yamldb.lifecycle.database import ManifestDatabase
from yamldb.lifecycle.requests import DeleteUser, ExpirationChange, NewUser, PasswordChange, UpdateUser
from yamldb.manifest.library import ManifestLibrary
from yamldb.templates import sql

LONG = '{{ printf "v-%s-%s" .DisplayName (random 40) }}'


def test_requests_after_initialize_compile_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    db = ManifestDatabase()
    db.initialize({"connection_url": str(tmp_path / "app.db"), "manifest": "sqlite"}, True)
    compiled = db._current().compiled
    assert {op for op, _ in compiled.operations} >= {"create", "renew", "rotate", "revoke", "rollback"}

    def no_parsing(*args, **kwargs):
        raise AssertionError("a statement template was parsed after Initialize")

    monkeypatch.setattr(sql.StatementTemplate, "parse", no_parsing)
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    user = db.new_user(NewUser("token", "r", soon, password="Pw-1-secret"))
    db.update_user(UpdateUser(user, password=PasswordChange("Pw-2-secret"), expiration=ExpirationChange(soon)))
    assert db.user_exists(user) is True
    db.delete_user(DeleteUser(user))
    assert db.user_exists(user) is False
    db.close()


def test_the_length_check_tests_the_configs_username_template():
    db = ManifestDatabase()
    config = {"connection_url": "u:p@tcp(127.0.0.1:1)/", "manifest": "mysql", "username_template": LONG}
    with pytest.raises(ConfigError, match=r"username_template: can produce \d+-byte usernames; mysql allows 32"):
        db.initialize(config, False)


def test_a_fitting_override_rescues_a_manifest_whose_own_template_is_too_long(tmp_path: Path):
    (tmp_path / "long.yaml").write_text(f"yamldb: 1\ndialect: mysql\nusername:\n  template: '{LONG}'\n")
    db = ManifestDatabase(ManifestLibrary([tmp_path]))
    config = {"connection_url": "u:p@tcp(127.0.0.1:1)/", "manifest": "long"}
    with pytest.raises(ConfigError, match=r"username\.template: can produce"):
        db.initialize(config, False)
    db.initialize({**config, "username_template": "{{ random 20 }}"}, False)
    db.close()


def test_a_roles_statements_are_compiled_once_per_connection_and_the_cache_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from yamldb.lifecycle import database

    db = ManifestDatabase()
    db.initialize({"connection_url": str(tmp_path / "app.db"), "manifest": "sqlite"}, True)
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    role_sql = ('CREATE TABLE "t_{{name}}" (x int);',)
    parsed: list[str] = []
    real_parse = sql.StatementTemplate.parse.__func__

    def counting(cls, text, rules):
        parsed.append(text)
        return real_parse(cls, text, rules)

    monkeypatch.setattr(sql.StatementTemplate, "parse", classmethod(counting))
    for n in range(3):
        db.new_user(NewUser("token", "r", soon, password=f"Pw-{n}-secret", statements=role_sql))
    assert parsed == [role_sql[0]]  # three requests, one compilation

    monkeypatch.setattr(database, "_OPERATIONS_KEPT", 4)
    for n in range(10):  # ever-new statements: the cache is emptied when full, never larger
        db.new_user(NewUser("token", "r", soon, password="Pw-x-secret", statements=(f"SELECT {n};",)))
        assert len(db._current().operations) <= 4
    db.close()
