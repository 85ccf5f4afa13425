"""generate_username: the manifest's case, allowed_characters and max_length applied to a rendered name.

allowed_characters is decided as RE2 decides `(?:allowed)*` (yamldb.manifest.patterns.fullmatch,
the reference here); a pattern that is one bracket class is answered from a set of the ASCII
characters it matches, which must never disagree with RE2.
"""

from __future__ import annotations

import pytest

from yamldb.errors import TemplateError
from yamldb.manifest.model import UsernameRules
from yamldb.manifest.patterns import fullmatch
from yamldb.templates.gotemplate import UsernameTemplate
from yamldb.templates.username_rules import _is_one_bracket_class, generate_username

CLASSES = [
    r"[A-Z0-9_$]",
    r"[^\x{10000}-\x{10FFFF}]",
    r"[a-z]",
    r"[^a-z]",
    r"[]a]",
    r"[^]a]",
    r"[[:alpha:]_]",
    r"[[:^digit:]]",
    r"[\]a-c]",
    r"[a-c\\]",
    r"[\w-]",
    r"[.]",
    r"[|^$]",
]
NOT_CLASSES = [
    r"\w",
    r"[a-z]|^X",
    r"^[a-z]",
    r"[a-z]$",
    r"(?i)[a-z]",
    r"ab|c",
    r"[ab][cd]",
    r"\b[a-z]",
    r"[a-z]+",
    r"[a]|[b]",
    r"(a|aa)",
    r".",
]
NAMES = ["abc", "ABC_1$", "]a]", "a-b", "ab cd", "Xabc", "abcd", "acbd", "a|b^$", "a.b", "é", "a😀", "a\\b", "9"]


@pytest.mark.parametrize("pattern", CLASSES)
def test_bracket_classes_are_recognised(pattern: str) -> None:
    assert _is_one_bracket_class(pattern)


@pytest.mark.parametrize("pattern", NOT_CLASSES)
def test_other_patterns_are_left_to_re2(pattern: str) -> None:
    assert not _is_one_bracket_class(pattern)


@pytest.mark.parametrize("pattern", CLASSES + NOT_CLASSES)
def test_allowed_characters_agree_with_re2(pattern: str) -> None:
    rules = UsernameRules(template="{{ .DisplayName }}", allowed_characters=pattern)
    template = UsernameTemplate.parse(rules.template)
    for name in NAMES:
        allowed = fullmatch(f"(?:{pattern})*", name)
        if allowed:
            assert generate_username(rules, template, name, "r") == name
        else:
            with pytest.raises(TemplateError, match="characters outside"):
                generate_username(rules, template, name, "r")


def test_characters_outside_are_named_once_each() -> None:
    rules = UsernameRules(template="{{ .DisplayName }}", allowed_characters="[A-Z0-9_$]")
    with pytest.raises(TemplateError) as info:
        generate_username(rules, UsernameTemplate.parse(rules.template), "V-a-b.C", "r")
    assert info.value.message.startswith("generated username has characters outside [A-Z0-9_$] ('-ab.');")


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("abcde", None),
        ("abcdef", "generated username is 6 bytes, longer than the dialect's limit of 5"),
        ("ééa", None),  # 5 bytes in 3 characters
        ("ééé", "generated username is 6 bytes, longer than the dialect's limit of 5"),
    ],
)
def test_max_length_counts_utf8_bytes(name: str, error: str | None) -> None:
    rules = UsernameRules(template="{{ .DisplayName }}", max_length=5)
    template = UsernameTemplate.parse(rules.template)
    if error is None:
        assert generate_username(rules, template, name, "r") == name
    else:
        with pytest.raises(TemplateError, match=error):
            generate_username(rules, template, name, "r")


def test_case_is_applied_before_the_rules() -> None:
    rules = UsernameRules(template="{{ .DisplayName }}", case="upper", allowed_characters="[A-Z]")
    assert generate_username(rules, UsernameTemplate.parse(rules.template), "abc", "r") == "ABC"
    with pytest.raises(TemplateError, match="empty username"):
        generate_username(rules, UsernameTemplate.parse(rules.template), "", "r")
