"""The connection settings of the plugin's periodic sweep, checked when the config is written."""

from __future__ import annotations

import pytest

from yamldb.errors import ConfigError
from yamldb.lifecycle.sweep import DEFAULT_GRACE, SweepSettings
from yamldb.manifest.library import ManifestLibrary
from yamldb.templates.gotemplate import UsernameTemplate

LIBRARY = ManifestLibrary()


def test_off_by_default():
    assert SweepSettings.from_config({}) is None
    assert SweepSettings.from_config({"sweep_interval": ""}) is None


def test_durations_as_vault_sends_them():
    settings = SweepSettings.from_config({"sweep_interval": "10m", "sweep_grace": "30", "sweep_max_ttl": "1h"})
    assert settings == SweepSettings(600.0, 30.0, 3600.0)
    assert SweepSettings.from_config({"sweep_interval": 60}).grace == DEFAULT_GRACE


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"sweep_interval": "soon"}, "sweep_interval: not a duration"),
        ({"sweep_interval": "0.5s"}, "at least 1s"),
        ({"sweep_grace": "1h"}, "sweep_interval is not"),
        ({"sweep_interval": "1m", "sweep_max_ttl": "x"}, "sweep_max_ttl: not a duration"),
    ],
)
def test_bad_settings_name_the_key(raw, message):
    with pytest.raises(ConfigError) as info:
        SweepSettings.from_config(raw)
    assert message in str(info.value)


def test_a_database_without_expiry_needs_sweep_max_ttl():
    manifest = LIBRARY.load("mariadb")
    template = UsernameTemplate.parse(manifest.username.template)
    with pytest.raises(ConfigError) as info:
        SweepSettings(60.0).check(manifest, template)
    assert "needs sweep_max_ttl" in str(info.value)
    SweepSettings(60.0, max_ttl=3600.0).check(manifest, template)


def test_postgresql_trusts_valid_until():
    manifest = LIBRARY.load("postgresql")
    SweepSettings(60.0).check(manifest, UsernameTemplate.parse(manifest.username.template))


@pytest.mark.parametrize(
    "manifest, template, message",
    [
        ("postgresql", "{{ .RoleName }}", "no random part"),
        ("oracle", '{{ printf "V_%s" (random 20) }}', "no list_users query"),
    ],
)
def test_a_sweep_it_cannot_do_safely_is_refused(manifest, template, message):
    with pytest.raises(ConfigError) as info:
        SweepSettings(60.0, max_ttl=60.0).check(LIBRARY.load(manifest), UsernameTemplate.parse(template))
    assert message in str(info.value)
