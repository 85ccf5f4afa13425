"""Manifest regular expressions run on RE2: linear time, and refused at validation when RE2 cannot
express them (issue 11 §7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from yamldb.errors import TemplateError
from yamldb.manifest.library import ManifestLibrary
from yamldb.manifest.loader import check_file, check_text
from yamldb.manifest.model import UsernameRules
from yamldb.manifest.patterns import fullmatch, pattern_problem
from yamldb.templates.gotemplate import UsernameTemplate
from yamldb.templates.username_rules import generate_username

LIBRARY = ManifestLibrary()

# 38 characters stalled Python's re for 9 s; each 2 more multiply that by 2.6. These would never finish.
HOSTILE = "a" * 5000 + "b"


def manifest_with_pattern(pattern: str) -> str:
    return f"yamldb: 1\ndialect: postgresql\nparameters:\n  schema:\n    default: public\n    pattern: '{pattern}'\n"


def test_catastrophic_backtracking_patterns_answer_at_once():
    assert fullmatch("(a|aa)+", HOSTILE) is False
    assert fullmatch("(a+)+$", HOSTILE) is False
    assert fullmatch("(a|aa)+", "a" * 5000) is True


def test_whole_value_must_match():
    assert fullmatch("[a-z_][a-z0-9_]*", "app_1")
    assert not fullmatch("[a-z_][a-z0-9_]*", "app; DROP TABLE x")
    assert not fullmatch("[a-z]+", "abc\n")  # unlike re.match with $, a trailing newline is no match
    assert fullmatch(r"\p{L}+", "Grüße")  # Unicode classes are still there


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", r"invalid escape sequence: \1"),
        ("(?=a)a", "invalid perl operator: (?="),
        ("(?<!a)b", "invalid perl operator: (?<!"),
        ("a{1001}", "invalid repetition size: {1001}"),
        ("(unclosed", "missing ): (unclosed"),
    ],
)
def test_patterns_re2_cannot_run_are_refused_with_file_line_col(pattern: str, reason: str, tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text(manifest_with_pattern(pattern))
    manifest, findings = check_file(path, LIBRARY.dialect_path, "m.yaml")
    assert manifest is None
    assert str(findings[0]) == (
        f"m.yaml:6:14: parameters.schema.pattern: {reason}; patterns use RE2 syntax, "
        "which matches in linear time and has no backreferences or look-around"
    )


def test_inline_manifest_patterns_are_checked_too():
    _, findings = check_text(manifest_with_pattern("(?=x)"), "manifest_inline", LIBRARY.dialect_path)
    assert str(findings[0]).startswith("manifest_inline:6:14: parameters.schema.pattern: invalid perl operator")


def test_allowed_characters_are_checked_as_they_are_used():
    text = "yamldb: 1\ndialect: postgresql\nusername:\n  allowed_characters: '(?!x)[a-z]'\n"
    _, findings = check_text(text, "m.yaml", LIBRARY.dialect_path)
    assert str(findings[0]).startswith("m.yaml:4:23: username.allowed_characters: invalid perl operator: (?!")


def test_allowed_characters_match_in_linear_time():
    rules = UsernameRules(template="{{ .DisplayName }}", allowed_characters="(a|aa)")
    with pytest.raises(TemplateError, match="characters outside"):
        generate_username(rules, UsernameTemplate.parse(rules.template), HOSTILE, "role")
    assert generate_username(rules, UsernameTemplate.parse(rules.template), "a" * 50, "role") == "a" * 50


def test_re2_refusals_do_not_reach_stderr(capfd):
    # The plugin's stderr is the host's log channel: RE2's own error lines must not land there.
    assert pattern_problem("(?P=name)x")
    assert capfd.readouterr().err == ""


def test_shipped_manifests_patterns_are_re2():
    for name in LIBRARY.names():
        LIBRARY.load(name)  # raises on a pattern RE2 refuses
