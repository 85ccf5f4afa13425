"""Tests for yamldb.templates.gotemplate: Vault/OpenBao username templates.

Expected values are Go's (text/template + fmt + Vault's sdk/helper/template) and
are computed independently here (hashlib, base64, literal strings) rather than
through the module under test.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import tracemalloc
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yamldb.errors import TemplateError
from yamldb.templates.gotemplate import MAX_TEMPLATE_SIZE, UsernameTemplate

NOW = datetime(2024, 3, 5, 7, 8, 9, 123456, tzinfo=timezone.utc)
NOW_UNIX = 1709622489  # date -u -d 2024-03-05T07:08:09Z +%s

POSTGRES = (
    '{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) '
    "(random 20) (unix_time) | truncate 63 }}"
)
MYSQL = (
    '{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 10) (.RoleName | truncate 10) '
    "(random 20) (unix_time) | truncate 32 }}"
)
MYSQL_LEGACY = '{{ printf "v-%s-%s-%s" (.RoleName | truncate 4) (random 20) | truncate 16 }}'
DEFAULTS = [(POSTGRES, 63), (MYSQL, 32), (MYSQL_LEGACY, 16)]


def render(source: str, display: str = "dn", role: str = "rn", now: datetime = NOW) -> str:
    return UsernameTemplate.parse(source).render(display, role, now=now)


def parse_error(source: str) -> TemplateError:
    with pytest.raises(TemplateError) as info:
        UsernameTemplate.parse(source)
    return info.value


def render_error(source: str, display: str = "dn", role: str = "rn") -> TemplateError:
    tpl = UsernameTemplate.parse(source)  # must parse: the error is an execution error
    with pytest.raises(TemplateError) as info:
        tpl.render(display, role, now=NOW)
    return info.value


# ------------------------------------------------------ Vault defaults ----


def test_postgres_default_shape() -> None:
    out = render(POSTGRES, "token", "readonly")
    assert re.fullmatch(rf"v-token-readonly-[A-Za-z0-9]{{20}}-{NOW_UNIX}", out)


def test_postgres_default_truncates_names_to_8() -> None:
    out = render(POSTGRES, "oidc-alice@example.com", "reporting-readonly")
    assert re.fullmatch(rf"v-oidc-ali-reportin-[A-Za-z0-9]{{20}}-{NOW_UNIX}", out)
    assert len(out) == 2 + 8 + 1 + 8 + 1 + 20 + 1 + 10


def test_mysql_default_is_cut_at_32() -> None:
    out = render(MYSQL, "token", "ro")
    # v- token - ro - <20 random> - : exactly 32, so the unix time is cut off entirely
    assert re.fullmatch(r"v-token-ro-[A-Za-z0-9]{20}-", out)
    assert len(out) == 32
    out = render(MYSQL, "approle-long-name", "readwrite-role")
    assert re.fullmatch(r"v-approle-lo-readwrite--[A-Za-z0-9]{8}", out)
    assert len(out) == 32


def test_mysql_legacy_default() -> None:
    out = render(MYSQL_LEGACY, "token", "readonly")
    assert re.fullmatch(r"v-read-[A-Za-z0-9]{9}", out)
    out = render(MYSQL_LEGACY, "token", "ro")
    assert re.fullmatch(r"v-ro-[A-Za-z0-9]{11}", out)


def test_mysql_legacy_missing_argument_is_what_truncate_cuts_off() -> None:
    # The legacy template has three %s but two arguments; Go prints %!s(MISSING).
    untruncated = '{{ printf "v-%s-%s-%s" (.RoleName | truncate 4) (random 20) }}'
    out = render(untruncated, "token", "readonly")
    assert re.fullmatch(r"v-read-[A-Za-z0-9]{20}-%!s\(MISSING\)", out)


def test_defaults_are_random_per_render() -> None:
    tpl = UsernameTemplate.parse(POSTGRES)
    names = {tpl.render("token", "ro", now=NOW) for _ in range(20)}
    assert len(names) == 20


def test_default_now_is_current_time() -> None:
    before = int(time.time())
    out = int(UsernameTemplate.parse("{{ unix_time }}").render("a", "b"))
    assert before <= out <= int(time.time()) + 1


def test_source_is_kept_and_repr() -> None:
    tpl = UsernameTemplate.parse(POSTGRES)
    assert tpl.source == POSTGRES
    assert "UsernameTemplate(" in repr(tpl)


# ----------------------------------------------------- Vault functions ----


def test_random_charset_and_length() -> None:
    out = render("{{ random 500 }}")
    assert re.fullmatch(r"[A-Za-z0-9]{500}", out)
    assert len(set(out)) > 40  # all 62 characters are reachable
    assert render("{{ random 0 }}") == ""


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param("{{ random -1 }}", "error calling random: length must be >= 0 but was -1", id="negative"),
        pytest.param("{{ random 1000000 }}", "error calling random: length must be <= 65536", id="random"),
        pytest.param("{{ random 1000000000 }}", "length must be <= 65536 but was 1000000000", id="random-huge"),
        pytest.param('{{ printf "%9999999s" "" }}', "error calling printf: width 9999999 is too large", id="width"),
        pytest.param('{{ printf "%.2000000d" 1 }}', "error calling printf: width 2000000 is too large", id="prec"),
        pytest.param('{{ printf "%[2]*.5000000x" 1 "a" }}', "width 5000000 is too large", id="indexed"),
    ],
)
def test_literal_sizes_that_can_never_render_are_refused_when_parsed(source: str, message: str) -> None:
    # Judged when the template is parsed, so a config that could never render is refused when
    # it is written, even inside a branch the trial render skips.
    assert message in parse_error(source).message
    assert message in parse_error("{{ if false }}" + source + "{{ end }}").message


def test_random_computed_length_is_checked_when_rendered() -> None:
    err = render_error("{{ random (len .DisplayName) }}", display="x" * 1_000_000)
    assert err.message == "error calling random: length must be <= 65536 but was 1000000"


@pytest.mark.parametrize(
    ("source", "display", "expected"),
    [
        ("{{ .DisplayName | truncate 3 }}", "abcdef", "abc"),
        ("{{ .DisplayName | truncate 6 }}", "abcdef", "abcdef"),
        ("{{ .DisplayName | truncate 100 }}", "abcdef", "abcdef"),
        ("{{ truncate 2 .DisplayName }}", "abcdef", "ab"),
        # bytes, not characters: é is 2 bytes, € is 3
        ("{{ .DisplayName | truncate 2 }}", "éa", "é"),
        ("{{ .DisplayName | truncate 3 }}", "éa", "éa"),
        # a cut inside a multi-byte character drops the partial character
        ("{{ .DisplayName | truncate 1 }}", "éa", ""),
        ("{{ .DisplayName | truncate 4 }}", "a€b", "a€"),
        ("{{ .DisplayName | truncate 3 }}", "a€b", "a"),
        ("{{ .DisplayName | truncate 5 }}", "😀😀", "😀"),
    ],
)
def test_truncate_counts_utf8_bytes(source: str, display: str, expected: str) -> None:
    assert render(source, display) == expected


@pytest.mark.parametrize("n", [0, -1, -100])
def test_truncate_rejects_non_positive_length(n: int) -> None:
    err = render_error(f"{{{{ .DisplayName | truncate {n} }}}}")
    assert err.message == f"error calling truncate: max length must be > 0 but was {n}"
    assert err.position == 18


def _go_truncate_sha256(n: int, s: str) -> str:
    data = s.encode()
    if len(data) <= n:
        return s
    return data[: n - 8].decode() + hashlib.sha256(data[n - 8 :]).hexdigest()[:8]


@pytest.mark.parametrize(
    ("n", "display"),
    [
        (9, "abcdefghij"),
        (10, "abcdefghij"),
        (10, "abcdefghijk"),
        (20, "a-really-long-display-name-for-the-user"),
        (12, "x" * 12),
        (12, "x" * 13),
    ],
)
def test_truncate_sha256_matches_independent_computation(n: int, display: str) -> None:
    out = render(f"{{{{ .DisplayName | truncate_sha256 {n} }}}}", display)
    assert out == _go_truncate_sha256(n, display)
    assert len(out.encode()) <= n


def test_truncate_sha256_exact_value() -> None:
    expected = "ab" + hashlib.sha256(b"cdefghijk").hexdigest()[:8]
    assert render("{{ .DisplayName | truncate_sha256 10 }}", "abcdefghijk") == expected


def test_truncate_sha256_hashes_the_exact_cut_bytes() -> None:
    # cut index 2 falls inside "€" (3 bytes): the hash covers its last byte
    # onward, exactly as Go hashes str[2:], and the partial prefix is dropped.
    display = "a€bcdefghij"
    data = display.encode()
    expected = "a" + hashlib.sha256(data[2:]).hexdigest()[:8]
    assert render("{{ .DisplayName | truncate_sha256 10 }}", display) == expected


@pytest.mark.parametrize("n", [8, 0, -3])
def test_truncate_sha256_rejects_length_up_to_8(n: int) -> None:
    err = render_error(f'{{{{ truncate_sha256 {n} "abc" }}}}')
    assert err.message == f"error calling truncate_sha256: max length must be > 8 but was {n}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ "MiXed-Case" | uppercase }}', "MIXED-CASE"),
        ('{{ "MiXed-Case" | lowercase }}', "mixed-case"),
        ('{{ "ÉcOLE" | lowercase }}', "école"),
        # one-to-one case mappings only, like Go's strings.ToUpper
        ('{{ "straße" | uppercase }}', "STRAßE"),
        ('{{ "a-b-c" | replace "-" "_" }}', "a_b_c"),
        ('{{ replace "-" "_" "a-b-c" }}', "a_b_c"),
        ('{{ "aaa" | replace "a" "bb" }}', "bbbbbb"),
        ('{{ "abc" | replace "x" "y" }}', "abc"),
        ('{{ "ab" | replace "" "-" }}', "-a-b-"),
        ('{{ "hi" | hex }}', "6869"),
        ('{{ "é" | hex }}', "c3a9"),
        ('{{ "6869" | decode_hex }}', "hi"),
        ('{{ "C3A9" | decode_hex }}', "é"),
        ('{{ "" | decode_hex }}', ""),
        ('{{ "aGVsbG8=" | decode_base64 }}', "hello"),
        ('{{ "aGVs\\nbG8=" | decode_base64 }}', "hello"),
        ('{{ "ff" | decode_hex }}', "\ufffd"),
        ('{{ "hello" | base64 | decode_base64 }}', "hello"),
    ],
)
def test_string_functions(source: str, expected: str) -> None:
    assert render(source) == expected


def test_sha256_and_base64_match_stdlib() -> None:
    display = "user@example.com/é"
    assert render("{{ .DisplayName | sha256 }}", display) == hashlib.sha256(display.encode()).hexdigest()
    assert render("{{ .DisplayName | base64 }}", display) == base64.b64encode(display.encode()).decode()
    assert render('{{ "a" | base64 }}') == "YQ=="


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('{{ "zz" | decode_hex }}', "error calling decode_hex: encoding/hex: invalid byte"),
        ('{{ "abc" | decode_hex }}', "odd length hex string"),
        ('{{ "aGVsbG8" | decode_base64 }}', "error calling decode_base64: illegal base64 data"),
        ('{{ "a!==" | decode_base64 }}', "illegal base64 data"),
        ('{{ "é" | decode_base64 }}', "illegal base64 data"),
    ],
)
def test_decode_errors(source: str, message: str) -> None:
    assert message in render_error(source).message


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*", "anything", True),
        ("", "", True),
        ("", "x", False),
        ("abc", "abc", True),
        ("abc", "abcd", False),
        ("release/*", "release/1.2", True),
        ("release/*", "main", False),
        ("*-prod", "db-prod", True),
        ("*-prod", "db-prod-2", False),
        ("a*b*c", "aXXbYYc", True),
        ("a*b*c", "aXXcYYb", False),
        ("a*a", "a", False),
        ("a*a", "aa", True),
        ("*mid*", "xxmidxx", True),
        ("a**b", "ab", True),
        ("a?c", "abc", False),  # only * is a wildcard
        ("[ab]", "a", False),
    ],
)
def test_glob(pattern: str, value: str, expected: bool) -> None:
    src = f'{{{{ glob "{pattern}" .DisplayName }}}}'
    assert render(src, value) == ("true" if expected else "false")
    assert render(f'{{{{ if glob "{pattern}" .DisplayName }}}}y{{{{ end }}}}', value) == ("y" if expected else "")


def test_unix_time_and_millis_use_frozen_now() -> None:
    assert render("{{ unix_time }}") == str(NOW_UNIX)
    assert render("{{ unix_time_millis }}") == str(NOW_UNIX * 1000 + 123)
    naive = datetime(2024, 3, 5, 7, 8, 9)  # naive is taken as UTC
    assert render("{{ unix_time }}", now=naive) == str(NOW_UNIX)
    other_zone = NOW.astimezone(timezone(timedelta(hours=5)))
    assert render("{{ unix_time }}", now=other_zone) == str(NOW_UNIX)


def test_one_clock_reading_per_render() -> None:
    out = UsernameTemplate.parse("{{ unix_time_millis }} {{ unix_time_millis }}").render("a", "b")
    first, second = out.split()
    assert first == second


@pytest.mark.parametrize(
    "source",
    [
        '{{ unix_time }} {{ unix_time_millis }} {{ timestamp "2006-01-02T15:04:05.000000Z07:00" }}',
        '{{ timestamp "2006-01-02T15:04:05.000000Z07:00" }} {{ unix_time_millis }} {{ unix_time }}',
    ],
)
def test_unix_time_and_timestamp_read_the_same_clock(source: str) -> None:
    # Whichever function reads the clock first, the others print the same instant.
    before = time.time()
    parts = UsernameTemplate.parse(source).render("a", "b").split()
    stamp = next(p for p in parts if "T" in p)
    seconds, millis = sorted((p for p in parts if "T" not in p), key=len)
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert int(millis) == int(when.timestamp() * 1000) == int(seconds) * 1000 + int(millis) % 1000
    assert before - 1 <= when.timestamp() <= time.time() + 1


def test_unix_time_before_1970_rounds_down_like_go() -> None:
    just_before = datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert render("{{ unix_time }} {{ unix_time_millis }}", now=just_before) == "-1 -1"


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("2006-01-02T15:04:05Z07:00", "2024-03-05T07:08:09Z"),
        ("2006-01-02 15:04:05.000", "2024-03-05 07:08:09.123"),
        ("2006-01-02T15:04:05.000000Z0700", "2024-03-05T07:08:09.123456Z"),
        ("15:04:05.000000000", "07:08:09.123456000"),
        ("05.999999999", "09.123456"),
        ("05,000", "09,123"),
        ("06 1 2 3 4 5", "24 3 5 7 8 9"),
        ("Jan January Mon Monday", "Mar March Tue Tuesday"),
        ("03:04 PM pm", "07:08 AM am"),
        ("_2|02|2", " 5|05|5"),
        ("002 __2", "065  65"),
        ("MST -0700 -07:00 -07 Z07:00 Z0700", "UTC +0000 +00:00 +00 Z Z"),
        ("20060102150405", "20240305070809"),
        ("Janet _2006", "Janet _2024"),
        ("no tokens here", "no tokens here"),
        ("", ""),
    ],
)
def test_timestamp_go_layouts_utc(layout: str, expected: str) -> None:
    assert render(f'{{{{ timestamp "{layout}" }}}}') == expected


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("Mon Jan _2 15:04:05 MST 2006", "Wed Dec 25 18:04:05 -0530 2024"),
        ("2006-01-02T15:04:05.000Z07:00", "2024-12-25T18:04:05.060-05:30"),
        ("3:04PM", "6:04PM"),
        (".999", ".06"),
        ("Z0700|-07|Z07:00:00|-070000", "-0530|-05|-05:30:00|-053000"),
    ],
)
def test_timestamp_with_offset(layout: str, expected: str) -> None:
    now = datetime(2024, 12, 25, 18, 4, 5, 60000, tzinfo=timezone(-timedelta(hours=5, minutes=30)))
    assert render(f'{{{{ timestamp "{layout}" }}}}', now=now) == expected


def test_timestamp_named_zone_and_trimmed_zero_fraction() -> None:
    now = datetime(2024, 7, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=2), "CEST"))
    assert render('{{ timestamp "15:04 MST Z07:00.999" }}', now=now) == "12:00 CEST +02:00"


def test_uuid_shape_and_uniqueness() -> None:
    tpl = UsernameTemplate.parse("{{ uuid }}")
    values = {tpl.render("a", "b") for _ in range(50)}
    assert len(values) == 50
    for value in values:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", value)


# -------------------------------------------------------------- printf ----


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ('"%s-%s" "a" "b"', "a-b"),
        ('"%5s|" "ab"', "   ab|"),
        ('"%-5s|" "ab"', "ab   |"),
        ('"%.3s" "abcdef"', "abc"),
        ('"%5.1s" "xyz"', "    x"),
        ('"%3s" "é"', "  é"),  # width counts runes
        ('"%.1s" "éa"', "é"),  # precision counts runes
        ('"%d" 42', "42"),
        ('"%05d" 42', "00042"),
        ('"%05d" -42', "-0042"),
        ('"%+d|% d" 5 5', "+5| 5"),
        ('"%-05d|" 3', "3    |"),
        ('"%08.3d" 5', "     005"),
        ('"%.0d|" 0', "|"),
        ('"%x|%X|%#x|%x" 255 255 255 -255', "ff|FF|0xff|-ff"),
        ('"%#08x" 255', "0x000000ff"),
        ('"%o|%#o|%O|%b|%#b" 8 8 8 5 5', "10|010|0o10|101|0b101"),
        ('"%c|%c" 65 128512', "A|😀"),
        ('"%q|%q|%+q" 65 39 233', "'A'|'\\''|'\\u00e9'"),
        ('"%U|%#U" 128512 65', "U+1F600|U+0041 'A'"),
        ('"%x|%X|% x|%#x|%# x" "hi" "hi" "hi" "hi" "hi"', "6869|6869|68 69|0x6869|0x68 0x69"),
        ('"%.1x|%6x|%-6x|" "hi" "hi" "hi"', "68|  6869|6869  |"),
        ('"%q" "a\\"b"', '"a\\"b"'),
        ('"%q" "tab\\there\\n"', '"tab\\there\\n"'),
        ('"%q|%+q" "é" "é"', '"é"|"\\u00e9"'),
        ('"%#q|%#q" "ab" "a`b"', '`ab`|"a`b"'),
        ('"%q" "\\x01\\x7f"', '"\\x01\\x7f"'),
        ('"%v|%v|%v" "s" 7 true', "s|7|true"),
        ('"%t|%t" true false', "true|false"),
        ('"%#v|%+v" "s" 7', '"s"|7'),
        ('"%T|%T|%T" "s" 7 true', "string|int|bool"),
        ('"100%%"', "100%"),
        ('"%5%"', "%"),
        ('"%s"', "%!s(MISSING)"),
        ('"%s %d" "a"', "a %!d(MISSING)"),
        ('"%s" "a" "b" 3 true', "a%!(EXTRA string=b, int=3, bool=true)"),
        ('"x" 1', "x%!(EXTRA int=1)"),
        ('"%d" "abc"', "%!d(string=abc)"),
        ('"%s" 5', "%!s(int=5)"),
        ('"%d" true', "%!d(bool=true)"),
        ('"%x" true', "%!x(bool=true)"),
        ('"%z" "a"', "%!z(string=a)"),
        ('"%5d" "ab"', "%!d(string=   ab)"),
        ('"%"', "%!(NOVERB)"),
        ('"abc%-"', "abc%!(NOVERB)"),
        ('"%[2]s-%[1]s" "a" "b"', "b-a"),
        ('"%[1]s%[1]s" "a" "b"', "aa"),  # reordered: no EXTRA report
        ('"%[3]s" "a"', "%!s(BADINDEX)"),
        ('"%[x]s" "a"', "%!s(BADINDEX)"),
        ('"%*d|" 5 42', "   42|"),
        ('"%-*d|" 4 7', "7   |"),
        ('"%*d|" -4 7', "7   |"),
        ('"%.*s" 2 "abc"', "ab"),
        ('"%*d" "x" 5', "%!(BADWIDTH)5"),
        ('"%.*d" "x" 5', "%!(BADPREC)5"),
        ('"%s" (print 1 2)', "1 2"),
    ],
)
def test_printf_matches_go_fmt(args: str, expected: str) -> None:
    assert render("{{ printf " + args + " }}") == expected


def test_printf_of_the_data_object() -> None:
    assert render('{{ printf "%v|%s" . . }}') == "{dn rn}|{dn rn}"
    assert render('{{ printf "%+v" . }}') == "{DisplayName:dn RoleName:rn}"
    assert render('{{ printf "%#v" . }}') == ('dbplugin.UsernameMetadata{DisplayName:"dn", RoleName:"rn"}')
    assert render('{{ printf "%d" . }}') == "{%!d(string=dn) %!d(string=rn)}"
    assert render('{{ printf "%T" . }}') == "dbplugin.UsernameMetadata"
    assert render("{{ . }}") == "{dn rn}"


def test_printf_piped_value_is_last_argument() -> None:
    assert render('{{ .DisplayName | printf "%s-%s" "x" }}', "me") == "x-me"
    assert render('{{ "%s!" | printf }}') == "%!s(MISSING)!"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Formats of text, %s and %% with one string per %s (every Vault default) take a shortcut;
        # anything else takes the general printer. Both must print what Go prints.
        ('{{ printf "a%sb%%c%s" .DisplayName .RoleName }}', "adnb%crn"),
        ('{{ printf "%%s%s%%" .DisplayName }}', "%sdn%"),
        ('{{ printf "" }}', ""),
        ('{{ printf "%%" }}', "%"),
        ('{{ printf "v-%s" "%d%s" }}', "v-%d%s"),
        ('{{ printf "%s-%s" (len .DisplayName) .RoleName }}', "%!s(int=2)-rn"),
        ('{{ printf "%s-%s" . .RoleName }}', "{dn rn}-rn"),
        ('{{ printf "%s-%s" .DisplayName }}', "dn-%!s(MISSING)"),
        ('{{ printf "%s" .DisplayName .RoleName }}', "dn%!(EXTRA string=rn)"),
        ('{{ printf "%s%" .DisplayName }}', "dn%!(NOVERB)"),
        ('{{ printf "%5s|%s" .DisplayName .RoleName }}', "   dn|rn"),
        ('{{ .RoleName | printf "<%s-%s>" .DisplayName }}', "<dn-rn>"),
        ('{{ "%s-%s" | printf "x" }}', "x%!(EXTRA string=%s-%s)"),
    ],
)
def test_printf_plain_formats(source: str, expected: str) -> None:
    assert render(source) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (524_287, "x"),  # printf computes 1048574 characters, the output 1 more: within the budget
        (524_288, "error calling truncate: result is too large"),  # printf spends the whole budget
        (524_289, "error calling printf: result is too large"),  # printf alone would pass it
    ],
)
def test_printf_plain_format_is_held_to_the_budget(size: int, expected: str) -> None:
    source = '{{ printf "%s%s" .DisplayName .DisplayName | truncate 1 }}'
    tpl = UsernameTemplate.parse(source)
    try:
        out = tpl.render("x" * size, "r", now=NOW)
    except TemplateError as exc:
        out = exc.message
        assert exc.position is not None
    assert out.startswith(expected)


def test_printf_plain_format_refuses_before_allocating() -> None:
    # 80 copies of a 200,000-character name would be a 16 MB string; the budget stops it first.
    tpl = UsernameTemplate.parse("{{ printf " + '"' + "%s" * 80 + '"' + " .DisplayName" * 80 + " }}")
    name = "x" * 200_000
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError, match="error calling printf: result is too large"):
            tpl.render(name, "r", now=NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000


def test_print_and_println_spacing() -> None:
    # Sprint puts a space between operands only when neither is a string.
    assert render('{{ print 1 2 "a" 3 "b" "c" true }}') == "1 2a3bctrue"
    assert render('{{ println 1 "a" }}') == "1 a\n"
    assert render("{{ print }}") == ""


# -------------------------------------------------------------- syntax ----


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("plain text", "plain text"),
        ("a {{ .DisplayName }} b {{ .RoleName }} c", "a dn b rn c"),
        ("{{.DisplayName|uppercase}}", "DN"),
        ("  a  {{- .DisplayName -}}  b  ", "  adnb  "),
        ("a\n\t {{- .DisplayName }}\n", "adn\n"),
        ("{{ .DisplayName -}} \n\t x", "dnx"),
        ("{{-3}}", "-3"),  # "{{-" without a space is a number, not a trim marker
        ("x {{- 3}}", "x3"),
        ("a{{/* a comment */}}b", "ab"),
        ("a{{/* multi\nline {{ .Nope }} */}}b", "ab"),
        ("a {{- /* trimmed */ -}} b", "ab"),
        ("a {{- /* left only */}} b", "a b"),
        ("{{ (.DisplayName) }}", "dn"),
        ("{{ ((.DisplayName | uppercase) | lowercase) }}", "dn"),
        (
            '{{ printf "%s/%d" (.DisplayName | replace "d" (printf "%s" (.RoleName | uppercase))) '
            '(len (print .RoleName "xyz")) }}',
            "RNn/5",
        ),
        ('{{ "a" | printf "%s%s" (printf "%s" "b") }}', "ba"),
        ("{{ uppercase (lowercase .DisplayName) }}", "DN"),
        ('{{ printf "%s-%s" unix_time "x" }}', f"{NOW_UNIX}-x"),
        ("{{ .DisplayName }}{{ .RoleName }}", "dnrn"),
        ("{{\n.DisplayName\n}}", "dn"),
        ("}} not an action {", "}} not an action {"),
        ('{{ "}}" }}', "}}"),
        ('{{ "{{" }}', "{{"),
    ],
)
def test_template_syntax(source: str, expected: str) -> None:
    assert render(source) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"tab\\there"', "tab\there"),
        ('"nl\\n"', "nl\n"),
        ('"q\\"q"', 'q"q'),
        ('"back\\\\slash"', "back\\slash"),
        ('"\\x41\\x42"', "AB"),
        ('"\\xc3\\xa9"', "é"),  # \x escapes are bytes, joined as UTF-8
        ('"\\u00e9\\U0001F600"', "é😀"),
        ('"\\101\\102"', "AB"),
        ('"\\a\\b\\f\\r\\v"', "\a\b\f\r\v"),
        ('"é€"', "é€"),
        ("`raw \\n {{ }}`", "raw \\n {{ }}"),
        ("`cr\r\nlf`", "cr\nlf"),  # Go drops CR from raw strings
        ("42", "42"),
        ("-7", "-7"),
        ("+7", "7"),
        ("0x1F", "31"),
        ("0X1f", "31"),
        ("0o17", "15"),
        ("017", "15"),
        ("0b101", "5"),
        ("1_000_000", "1000000"),
        ("0", "0"),
        ("9223372036854775807", "9223372036854775807"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("'a'", "97"),
        ("'\\n'", "10"),
        ("'\\''", "39"),
        ("'\\x41'", "65"),
        ("'é'", "233"),
        ("true", "true"),
        ("false", "false"),
    ],
)
def test_literals(literal: str, expected: str) -> None:
    assert render("{{ " + literal + " }}") == expected


@pytest.mark.parametrize(
    ("source", "role", "expected"),
    [
        ('{{ if eq .RoleName "admin" }}A{{ else }}U{{ end }}', "admin", "A"),
        ('{{ if eq .RoleName "admin" }}A{{ else }}U{{ end }}', "ro", "U"),
        ('{{ if eq .RoleName "a" }}1{{ else if eq .RoleName "b" }}2{{ else }}3{{ end }}', "b", "2"),
        ('{{ if eq .RoleName "a" }}1{{ else if eq .RoleName "b" }}2{{ else }}3{{ end }}', "c", "3"),
        ('{{ if eq .RoleName "a" }}1{{ else if eq .RoleName "b" }}2{{ end }}', "c", ""),
        ("{{ if .RoleName }}set{{ else }}empty{{ end }}", "", "empty"),
        ("{{ if .RoleName }}set{{ else }}empty{{ end }}", "x", "set"),
        ("{{ if 0 }}t{{ else }}f{{ end }}", "", "f"),
        ("{{ if -1 }}t{{ else }}f{{ end }}", "", "t"),
        ("{{ if false }}t{{ else }}f{{ end }}", "", "f"),
        ("{{ if . }}t{{ end }}", "", "t"),
        ("{{ if .RoleName | len | eq 3 }}three{{ end }}", "abc", "three"),
        ('{{ if .RoleName }}{{ if eq .RoleName "x" }}X{{ end }}!{{ end }}', "x", "X!"),
        ("{{- if .RoleName -}}\n  {{ .RoleName }}\n{{- end -}}\n", "r", "r"),
        ("{{ with .RoleName }}[{{ . }}]{{ else }}none{{ end }}", "ro", "[ro]"),
        ("{{ with .RoleName }}[{{ . }}]{{ else }}none{{ end }}", "", "none"),
        ("{{ with .RoleName }}{{ . }}{{ else with .DisplayName }}d:{{ . }}{{ end }}", "", "d:dn"),
        ("{{ with . }}{{ .RoleName }}{{ end }}", "r", "r"),
    ],
)
def test_control_flow(source: str, role: str, expected: str) -> None:
    assert render(source, "dn", role) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('eq "a" "a"', "true"),
        ('eq "a" "b"', "false"),
        ('eq "a" "b" "c" "a"', "true"),
        ("eq 1 1", "true"),
        ("eq true true", "true"),
        ('ne "a" "b"', "true"),
        ("ne 1 1", "false"),
        ("lt 1 2", "true"),
        ("lt 2 1", "false"),
        ('lt "a" "b"', "true"),
        ("le 2 2", "true"),
        ("le 3 2", "false"),
        ("gt 3 2", "true"),
        ("gt 2 2", "false"),
        ("ge 2 2", "true"),
        ("ge 1 2", "false"),
        ("and 1 2", "2"),
        ('and 1 0 "x"', "0"),
        ('and "" 1', ""),
        ('or 0 "" "z"', "z"),
        ("or 0 false", "false"),
        ('or "first" 2', "first"),
        ('not ""', "true"),
        ("not 1", "false"),
        ("not false", "true"),
        ('len "abc"', "3"),
        ('len "é€"', "5"),
        ('len ""', "0"),
        ('"x" | and 1', "x"),
        ("0 | or 0", "0"),
    ],
)
def test_builtins(expr: str, expected: str) -> None:
    assert render("{{ " + expr + " }}") == expected


def test_and_or_short_circuit() -> None:
    # the failing call is never evaluated
    assert render("{{ or 1 (truncate 0 .DisplayName) }}") == "1"
    assert render("{{ and 0 (truncate 0 .DisplayName) }}") == "0"


# -------------------------------------------------------------- errors ----


@pytest.mark.parametrize(
    ("source", "message", "position"),
    [
        ("{{ trunc 5 .DisplayName }}", 'function "trunc" not defined', 3),
        ("x{{ .DisplayName | trunc 5 }}", 'function "trunc" not defined', 19),
        ("{{ html .DisplayName }}", 'function "html" is not supported', 3),
        ("{{ .Foo }}", 'unknown field ".Foo"', 3),
        ("{{ .displayname }}", 'unknown field ".displayname"', 3),
        ("{{ .DisplayName.Length }}", "can't evaluate field Length in type string", 15),
        ('{{ "a".x }}', 'unexpected . after term "\\"a\\""', 6),
        ("{{ truncate 5 }}", "wrong number of args for truncate: want 2 got 1", 3),
        ('{{ uppercase "a" "b" }}', "wrong number of args for uppercase: want 1 got 2", 3),
        ('{{ "a" | uppercase "b" }}', "wrong number of args for uppercase: want 1 got 2", 9),
        ("{{ unix_time 1 }}", "wrong number of args for unix_time: want 0 got 1", 3),
        ('{{ "x" | uuid }}', "wrong number of args for uuid: want 0 got 1", 9),
        ("{{ printf }}", "wrong number of args for printf: want at least 1 got 0", 3),
        ("{{ eq 1 }}", "wrong number of args for eq: want at least 2 got 1", 3),
        ("{{ not }}", "wrong number of args for not: want 1 got 0", 3),
        ('{{ printf "%s" truncate }}', "wrong number of args for truncate: want 2 got 0", 15),
        ('{{ truncate "8" .DisplayName }}', 'expected int; found "8"', 12),
        ("{{ uppercase 5 }}", "expected string; found 5", 13),
        ("{{ printf 5 }}", "expected string; found 5", 10),
        ("{{ random true }}", "expected int; found true", 10),
        ('{{ "a" | "b" }}', "non executable command in pipeline stage 2", 9),
        ("{{ .DisplayName | .RoleName }}", "non executable command in pipeline stage 2", 18),
        ('{{ .DisplayName "x" }}', "can't give argument to non-function .DisplayName", 16),
        ("{{ 1 2 }}", "can't give argument to non-function 1", 5),
        ("{{", "unclosed action", 0),
        ("ab{{ .DisplayName", "unclosed action", 2),
        ("{{ .DisplayName }", 'unexpected "}" in action', 16),
        ("{{ .DisplayName ", "unclosed action", 0),
        ("{{/* never closed }}", "unclosed comment", 0),
        ("{{/* c */ }}", "comment ends before closing delimiter", 9),
        ("{{ /* c */ }}", 'unexpected "/" in action', 3),
        ("{{ }}", "missing value for command", 3),
        ("{{ if }}x{{ end }}", "missing value for if", 6),
        ("{{ () }}", "missing value for parenthesized pipeline", 4),
        ("{{ .DisplayName | }}", "missing command after |", 3),
        ("{{ | .DisplayName }}", 'unexpected "|" in command', 3),
        ("{{ (.DisplayName }}", "unclosed left paren", 3),
        ("{{ .DisplayName) }}", "unexpected right paren", 15),
        ("{{ (.DisplayName)(.RoleName) }}", 'unexpected "(" in operand', 17),
        ("{{ end }}", "unexpected {{end}}", 3),
        ("{{ else }}", "unexpected {{else}}", 3),
        ("{{ if 1 }}x", "{{if}} has no {{end}}", 3),
        ("{{ if 1 }}x{{ else }}y", "expected {{end}}; found end of template", 22),
        ("{{ if 1 }}x{{ else }}y{{ else }}z{{ end }}", "expected {{end}}; found {{else}}", 25),
        ("{{ if 1 }}{{ else with 2 }}{{ end }}", "{{else with}} is not allowed in {{if}}", 18),
        ("{{ end 1 }}", 'unexpected "1" in end', 7),
        ("{{ $x := 1 }}", "variables are not supported", 3),
        ("{{ $.DisplayName }}", "variables are not supported", 3),
        ("{{ x = 1 }}", "variable assignment is not supported", 5),
        ("{{ range .DisplayName }}{{ end }}", "{{range}} is not supported", 3),
        ('{{ define "x" }}{{ end }}', "{{define}} is not supported", 3),
        ('{{ template "x" }}', "{{template}} is not supported", 3),
        ('{{ block "x" . }}{{ end }}', "{{block}} is not supported", 3),
        ("{{ break }}", "{{break}} is not supported", 3),
        ("{{ nil }}", "nil is not a command", 3),
        ('{{ printf "%v" nil }}', "nil is not supported", 15),
        ("{{ 1.5 }}", "only integer constants are supported", 3),
        ("{{ 1e3 }}", "only integer constants are supported", 3),
        ("{{ 0x1p4 }}", "only integer constants are supported", 3),
        ("{{ 2i }}", "only integer constants are supported", 3),
        ("{{ 3x }}", 'bad number syntax: "3x"', 3),
        ("{{ - }}", 'illegal number syntax: "-"', 3),
        ("{{ 09 }}", 'illegal number syntax: "09"', 3),
        ("{{ 9223372036854775808 }}", "overflows int", 3),
        ("{{ .Display-Name }}", "bad character U+002D '-'", 11),
        ("{{ upper-case }}", "bad character U+002D '-'", 8),
        ("{{ \u00a0 }}", "unrecognized character in action: U+00A0", 3),
        ('{{ "abc }}', "unterminated quoted string", 3),
        ('{{ "a\nb" }}', "unterminated quoted string", 3),
        ("{{ `abc }}", "unterminated raw quoted string", 3),
        ("{{ 'ab' }}", "malformed character constant: 'ab'", 3),
        ("{{ '' }}", "malformed character constant", 3),
        ("{{ 'a }}", "unterminated character constant", 3),
        ('{{ "\\q" }}', "invalid escape sequence \\q", 4),
        ('{{ "\\x4" }}', "invalid escape \\x4", 4),
        ('{{ "\\ud800" }}', "invalid Unicode escape \\ud800", 4),
        ('{{ "\\400" }}', "invalid octal escape \\400", 4),
        ('{{ "\\\'" }}', "invalid escape sequence \\'", 4),
        ("", "missing template", None),
    ],
)
def test_parse_errors(source: str, message: str, position: int | None) -> None:
    err = parse_error(source)
    assert message in err.message
    assert err.position == position
    assert "\n" not in str(err)
    assert "Traceback" not in str(err)


def test_template_size_limit() -> None:
    assert UsernameTemplate.parse("x" * (MAX_TEMPLATE_SIZE - 1)).render("a", "b") == "x" * (MAX_TEMPLATE_SIZE - 1)
    assert "template too large" in parse_error("x" * MAX_TEMPLATE_SIZE).message


def test_nesting_limit() -> None:
    deep = "{{ " + "(" * 200 + "1" + ")" * 200 + " }}"
    assert parse_error(deep).message == "max expression depth exceeded"
    deep_if = "{{ if 1 }}" * 200 + "x" + "{{ end }}" * 200
    assert parse_error(deep_if).message == "max expression depth exceeded"
    ok = "{{ " + "(" * 30 + '"x"' + ")" * 30 + " }}"
    assert render(ok) == "x"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ .DisplayName | random }}", "wrong type for argument 1 of random: expected int; got string"),
        ("{{ 5 | uppercase }}", "wrong type for argument 1 of uppercase: expected string; got int"),
        ("{{ truncate (len .DisplayName) (len .DisplayName) }}", "argument 2 of truncate: expected string; got int"),
        ('{{ glob "*" (eq 1 1) }}', "argument 2 of glob: expected string; got bool"),
        ("{{ . | uppercase }}", "expected string; got dbplugin.UsernameMetadata"),
        ('{{ eq 1 "a" }}', "error calling eq: incompatible types for comparison"),
        ("{{ eq 1 true }}", "incompatible types for comparison"),
        ("{{ lt true false }}", "error calling lt: invalid type for comparison"),
        ('{{ lt 1 "a" }}', "incompatible types for comparison"),
        ("{{ lt . . }}", "invalid type for comparison"),
        ("{{ gt true false }}", "error calling gt: invalid type for comparison"),
        ("{{ len 5 }}", "error calling len: len of type int"),
        ("{{ len . }}", "len of type dbplugin.UsernameMetadata"),
        ('{{ with "x" }}{{ .DisplayName }}{{ end }}', "can't evaluate field DisplayName in type string"),
        ("{{ if truncate 0 .RoleName }}x{{ end }}", "max length must be > 0 but was 0"),
        ("{{ (truncate 0 .RoleName) }}", "max length must be > 0 but was 0"),
    ],
)
def test_execution_errors(source: str, message: str) -> None:
    err = render_error(source)
    assert message in err.message
    assert err.position is not None
    assert "\n" not in str(err)


def test_untaken_branch_is_not_executed() -> None:
    assert render("{{ if false }}{{ truncate 0 .RoleName }}{{ end }}ok") == "ok"


def test_lone_surrogates_in_names_become_replacement_characters() -> None:
    out = render("{{ .DisplayName | truncate 10 }}|{{ .RoleName | sha256 }}", "a\ud800b", "\udfff")
    assert out == "a\ufffdb|" + hashlib.sha256("\ufffd".encode()).hexdigest()


# -------------------------------------------------------- bounded cost ----

_NEST8 = '(printf "%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s" '


@pytest.mark.parametrize(
    ("source", "display", "message"),
    [
        ('{{ replace "" (random 65536) (random 65536) }}', "", "error calling replace: result is too large"),
        ("{{ printf .DisplayName 1 }}", "%9999999d", "error calling printf: result is too large"),
        ("{{ printf " + _NEST8 * 7 + '(printf "%1000s" "")))))))) }}', "", "error calling printf: result is too"),
        ("{{ " + "hex (" * 25 + ".DisplayName" + ")" * 25 + " }}", "abc", "error calling hex: result is too large"),
        ("{{ " + "base64 (" * 60 + ".DisplayName" + ")" * 60 + " }}", "abc", "error calling base64: result is too"),
        (
            '{{ replace "a" "aaaaaaaa" (replace "a" "aaaaaaaa" (replace "a" "aaaaaaaa" '
            '(replace "a" "aaaaaaaa" (replace "a" "aaaaaaaa" (replace "a" "aaaaaaaa" .DisplayName))))) }}',
            "aaaa",
            "error calling replace: result is too large",
        ),
        ("{{ print" + " (random 65536)" * 20 + " }}", "", "result is too large"),
        ('{{ timestamp (printf "%600000s" "") }}', "", "error calling timestamp: result is too large"),
        ("{{ .DisplayName }}{{ .DisplayName }}{{ .DisplayName }}", "x" * 400_000, "output is too large"),
        ("{{ random 65536 }}" * 17, "", "too large: a username template may compute at most 1048576 characters"),
    ],
)
def test_templates_that_would_allocate_huge_memory_fail_cleanly(source: str, display: str, message: str) -> None:
    # Each of these allocates from hundreds of megabytes to terabytes without the render budget.
    err = render_error(source, display=display)
    assert message in err.message
    assert err.position is not None


def test_budget_leaves_room_for_large_but_sane_templates() -> None:
    assert len(render("{{ random 65536 }}")) == 65536
    assert render('{{ printf "%1000000s" "x" | truncate 3 }}') == "   "
    assert render('{{ printf "%999999999s" }}') == "%!(NOVERB)"  # Go reads no width there at all
    assert render('{{ printf "%%5000000d" }}') == "%5000000d"  # an escaped %, not a width


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.sampled_from([".DisplayName", '"ab"', "(random 9000)", '(printf "%90000s" "")']),
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(["hex", "base64", "uppercase", "sha256"]), inner).map(
                lambda a: f"({a[0]} {a[1]})"
            ),
            st.tuples(inner, inner).map(lambda a: f'(replace "a" {a[0]} {a[1]})'),
            st.tuples(inner, inner).map(lambda a: f'(printf "%[1]s%[2]s%[1]s%[2]s" {a[0]} {a[1]})'),
            st.tuples(inner, inner).map(lambda a: f"(print {a[0]} {a[1]} {a[0]})"),
        ),
        max_leaves=12,
    )
)
def test_any_composition_stays_within_the_budget(expr: str) -> None:
    try:
        out = UsernameTemplate.parse("{{ " + expr + " }}").render("aaaa", "r", now=NOW)
    except TemplateError as exc:
        assert "too large" in exc.message
        return
    assert len(out) <= 1 << 20


# ---------------------------------------------------------- properties ----

_FRAGMENTS = [
    "{{",
    "}}",
    "{{- ",
    " -}}",
    " ",
    "|",
    "(",
    ")",
    ".DisplayName",
    ".RoleName",
    ".",
    '"%s"',
    '"%d-%q%"',
    '"%[2]*.3x"',
    "`x`",
    "8",
    "-1",
    "0",
    "63",
    "'a'",
    "true",
    "printf",
    "truncate",
    "truncate_sha256",
    "random",
    "eq",
    "lt",
    "and",
    "or",
    "not",
    "len",
    "if",
    "else",
    "end",
    "with",
    "uppercase",
    "replace",
    "glob",
    "timestamp",
    '"2006 Jan .000"',
    "unix_time",
    "uuid",
    "base64",
    "decode_hex",
    "decode_base64",
    "hex",
    "print",
    "/*",
    "*/",
    "x",
    "\n",
    "$",
    "nil",
    '"\\x',
    "1.5",
    "=",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_parse_arbitrary_text_raises_only_template_error(source: str) -> None:
    try:
        UsernameTemplate.parse(source)
    except TemplateError:
        pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_FRAGMENTS), max_size=25).map("".join),
    st.text(max_size=30),
    st.text(max_size=30),
)
def test_token_soup_parses_and_renders_or_raises_template_error(source: str, display: str, role: str) -> None:
    try:
        tpl = UsernameTemplate.parse(source)
    except TemplateError:
        return
    try:
        out = tpl.render(display, role, now=NOW)
    except TemplateError:
        return
    assert isinstance(out, str)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_default_templates_never_fail_or_exceed_their_limit(display: str, role: str) -> None:
    for source, limit in DEFAULTS:
        out = UsernameTemplate.parse(source).render(display, role, now=NOW)
        assert len(out.encode()) <= limit
        assert out.startswith("v-")


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=40),
    st.lists(
        st.one_of(
            st.text(max_size=10),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.booleans(),
        ),
        max_size=4,
    ),
)
def test_printf_with_arbitrary_format_never_fails(fmt: str, args: list[str | int | bool]) -> None:
    def literal(value: str | int | bool) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        return "`" + value.replace("`", "").replace("\r", "") + "`"

    source = "{{ printf .DisplayName " + " ".join(literal(a) for a in args) + " }}"
    out = UsernameTemplate.parse(source).render(fmt, "r", now=NOW)
    assert isinstance(out, str)
    if "%" not in fmt and not args:
        assert out == fmt
