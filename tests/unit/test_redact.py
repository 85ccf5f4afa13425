"""Secrets and the forms SQL escaping gives them are scrubbed from messages."""

from yamldb.redact import MASK, Scrubber


def test_secret_and_its_sql_escaped_forms_are_masked():
    scrub = Scrubber(["pa'ss\\word"])
    for form in ("pa'ss\\word", "pa''ss\\word", "pa\\'ss\\\\word", "pa''ss\\\\word"):
        assert scrub(f"near '{form}' at line 1") == f"near '{MASK}' at line 1"


def test_extend_adds_secrets_without_compounding_variants():
    base = Scrubber(["root-password"])
    extended = base.extend(["new'password"])
    assert extended("root-password / new''password") == f"{MASK} / {MASK}"
    assert len(extended._build()) == len(Scrubber(["root-password", "new'password"])._build())


def test_extending_with_nothing_new_keeps_the_scrubber():
    base = Scrubber(["root-password"])
    assert base.extend([]) is base
    assert base.extend(["", "root-password"]) is base
    assert base.extend(["other-secret"])("other-secret") == MASK


def test_short_and_empty_values_are_not_scrubbed():
    assert Scrubber(["", "ab"])("ab and more") == "ab and more"
