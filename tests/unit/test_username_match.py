"""The username-template matcher behind `yamldb sweep`: every name a template renders matches (and its
clock is read back), names it could not render do not, and templates it cannot bound are refused."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yamldb.errors import TemplateError
from yamldb.manifest.library import ManifestLibrary
from yamldb.templates.gotemplate import UsernameTemplate
from yamldb.templates.username_match import UsernameMatcher
from yamldb.templates.username_rules import generate_username

NOW = datetime(2026, 3, 5, 7, 8, 9, tzinfo=UTC)
NOW_UNIX = int(NOW.timestamp())
POSTGRES = (
    '{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) '
    "(unix_time) | truncate 63 }}"
)
MYSQL = (
    '{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 10) (.RoleName | truncate 10) (random 20) '
    "(unix_time) | truncate 32 }}"
)
ORACLE = (
    '{{ printf "V_%s_%s_%s_%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) '
    '(unix_time) | truncate 30 | uppercase | replace "-" "_" | replace "." "_" }}'
)
LIBRARY = ManifestLibrary()
SHIPPED = sorted(LIBRARY.names())

ascii_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=24)


def matcher(source: str, **rules) -> UsernameMatcher:
    return UsernameMatcher.parse(UsernameTemplate.parse(source), **rules)


def test_postgres_default_reads_the_clock():
    m = matcher(POSTGRES)
    name = UsernameTemplate.parse(POSTGRES).render("token", "readonly", now=NOW)
    found = m.match(name, now=NOW_UNIX + 10)
    assert found is not None and found.created == NOW_UNIX
    assert m.describe() == "v-{.DisplayName:0..8}-{.RoleName:0..8}-{base62:20}-{unix_time}"


@pytest.mark.parametrize(
    "name",
    [
        "postgres",
        "root",
        "app_user",
        "v-token-readonly",
        "v-token-readonly-ABCDEFGHIJKLMNOPQRS-1772694489",  # 19 random characters
        "v-token-readonly-ABCDEFGHIJKLMNOPQRST-177269448",  # 9 clock digits
        "v-token-readonly-ABCDEFGHIJKLM_OPQRST-1772694489",  # '_' is not base62
        "v-token-readonly-ABCDEFGHIJKLMNOPQRST-1772694489x",  # trailing text
        "x-token-readonly-ABCDEFGHIJKLMNOPQRST-1772694489",  # wrong literal
        "v-tokentoken-readonly-ABCDEFGHIJKLMNOPQRST-1772694489",  # display name longer than 8
        "v-token-readonly-ABCDEFGHIJKLMNOPQRST-0000000123",  # a clock reading from 1970
        "v-token-readonly-ABCDEFGHIJKLMNOPQRST-9999999999",  # a clock reading from the future
        "v-tökén-readonly-ABCDEFGHIJKLMNOPQRST-1772694489",  # non-ASCII: never swept
    ],
)
def test_names_the_postgres_template_cannot_produce(name):
    assert matcher(POSTGRES).match(name, now=NOW_UNIX) is None


def test_mysql_default_is_cut_before_the_clock():
    m = matcher(MYSQL)
    name = UsernameTemplate.parse(MYSQL).render("token-abcdef", "readonly-role", now=NOW)
    assert len(name) == 32
    found = m.match(name, now=NOW_UNIX)
    assert found is not None and found.created is None  # the clock was cut off: no creation time from the name
    short = UsernameTemplate.parse(MYSQL).render("t", "r", now=NOW)  # 2+1+1+1+1+20+1 = 27, clock cut too
    assert m.match(short, now=NOW_UNIX) is not None
    # The visible random part must be base62 and a full 32 characters when cut.
    assert m.match(name[:-1] + "-", now=NOW_UNIX) is None
    assert m.match(name[:31], now=NOW_UNIX) is None


@settings(max_examples=300, deadline=None)
@given(display=ascii_text, role=ascii_text, template=st.sampled_from([POSTGRES, MYSQL, ORACLE]))
def test_every_rendered_name_matches(display, role, template):
    tpl = UsernameTemplate.parse(template)
    name = tpl.render(display, role, now=NOW)
    found = matcher(template).match(name, now=NOW_UNIX)
    assert found is not None, name
    # When the whole clock is in the name, it is read back exactly, never later.
    if str(NOW_UNIX) in name and found.created is not None:
        assert found.created == NOW_UNIX


@pytest.mark.parametrize("manifest", SHIPPED)
def test_every_shipped_manifest_template_matches_its_own_names(manifest):
    loaded = LIBRARY.load(manifest)
    rules = loaded.username
    tpl = UsernameTemplate.parse(rules.template)
    m = UsernameMatcher.parse(
        tpl, max_length=rules.max_length, case=rules.case, allowed_characters=rules.allowed_characters
    )
    for display, role in (("token", "readonly"), ("oidc-alice.smith", "app-writer-long-name"), ("", "")):
        name = generate_username(rules, tpl, display, role)
        assert m.match(name) is not None, (manifest, name, m.describe())


def test_oracle_case_and_replace():
    m = matcher(ORACLE)
    name = UsernameTemplate.parse(ORACLE).render("my.app", "ro-le", now=NOW)
    assert name.startswith("V_MY_APP_RO_LE_")
    assert m.match(name, now=NOW_UNIX) is not None
    assert m.match(name.lower(), now=NOW_UNIX) is None  # uppercase: lower-case letters cannot occur
    assert m.match(name.replace("V_MY_APP", "V_MY.APP"), now=NOW_UNIX) is None  # '.' was replaced


def test_the_manifest_case_rule_applies_after_the_template():
    src = '{{ printf "v_%s_%s" (.RoleName | truncate 8) (random 20) }}'
    lower = matcher(src, case="lower")
    assert lower.match("v_role_" + "a" * 20) is not None
    assert lower.match("v_role_" + "A" * 20) is None


def test_when_a_name_reads_two_ways_the_later_clock_counts():
    # Role and display name are free text around the clock: the name parses with either reading.
    src = "{{.RoleName | truncate 30}}_{{unix_time}}_{{random 8}}{{.DisplayName | truncate 30}}"
    name = "a_1600000000_AAAAAAAA_1700000000_BBBBBBBB"
    found = matcher(src).match(name, now=1_800_000_000)
    assert found is not None and found.created == 1_700_000_000


def test_a_reading_without_the_clock_makes_the_time_unknown():
    # Cut at 14: "r-1700000000-X" has the clock in full, but a role of 13+ characters cut there has none.
    src = '{{ printf "%s-%s-%s" .RoleName (unix_time) (random 8) | truncate 14 }}'
    found = matcher(src).match("r-1700000000-X", now=1_800_000_000)
    assert found is not None and found.created is None


@pytest.mark.parametrize(
    "source, why",
    [
        ("{{.RoleName}}-{{unix_time}}", "no random part"),
        ('{{ printf "v-%s" (random 4) }}', "no random part"),
        ('{{ if eq .RoleName "x" }}a{{ end }}{{ random 20 }}', "{{if}}/{{with}}"),
        ('{{ printf "v-%s-%s" (timestamp "2006") (random 20) }}', "`timestamp`"),
        ('{{ printf "v-%s-%s" (.RoleName | base64) (random 20) }}', "`base64`"),
        ('{{ printf "v-%s-%s" (.RoleName | replace "ab" "c") (random 20) }}', "one character by one character"),
        ('{{ printf "v-%5s-%s" .RoleName (random 20) }}', "only %s, %d, %v"),
        ('{{ printf "v-%d-%s" .RoleName (random 20) }}', "wrong type"),
        ('{{ printf "v-%s" .RoleName (random 20) }}', "with 2 arguments"),
        ("{{ . }}{{ random 20 }}", "`.`"),
    ],
)
def test_templates_it_cannot_bound_are_refused(source, why):
    with pytest.raises(TemplateError) as info:
        matcher(source)
    assert why in info.value.message


def test_uuid_sha256_and_print():
    src = '{{ print "u-" (uuid) "-" (.RoleName | sha256) }}'
    tpl = UsernameTemplate.parse(src)
    m = matcher(src)
    assert m.match(tpl.render("d", "role")) is not None
    assert m.match("u-" + "g" * 8 + "-0000-0000-0000-000000000000-" + "0" * 64) is None


def test_random_characters_are_base62_only():
    m = matcher('{{ printf "k%s" (random 10) }}')
    assert m.match("k" + string.ascii_letters[:10]) is not None
    assert m.match("k" + "-" * 10) is None
