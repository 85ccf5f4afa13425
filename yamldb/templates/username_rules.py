"""Generate a username the way a manifest says: template, case, allowed characters, length limit."""

from __future__ import annotations

import re
from functools import lru_cache

from yamldb.errors import TemplateError
from yamldb.manifest.model import UsernameRules
from yamldb.manifest.patterns import fullmatch
from yamldb.templates.gotemplate import UsernameTemplate

__all__ = ["generate_username"]

_POSIX_CLASS = re.compile(r"\[:\^?[a-z]+:\]")


def generate_username(rules: UsernameRules, template: UsernameTemplate, display_name: str, role_name: str) -> str:
    """Render `template` for one user and hold the result to the manifest's username rules."""
    name = template.render(display_name, role_name)
    if rules.case == "lower":
        name = name.lower()
    elif rules.case == "upper":
        name = name.upper()
    if not name:
        raise TemplateError("the username template produced an empty username")
    allowed = rules.allowed_characters
    if allowed and not _only_allowed(allowed, name):
        outside = "".join(dict.fromkeys(c for c in name if not fullmatch(allowed, c)))
        raise TemplateError(
            f"generated username has characters outside {allowed} "
            f"({outside!r}); adjust the username template (e.g. with replace, or without "
            ".DisplayName)"
        )
    limit = rules.max_length
    if limit:
        size = len(name) if name.isascii() else len(name.encode())
        if size > limit:
            raise TemplateError(
                f"generated username is {size} bytes, longer than the dialect's "
                f"limit of {limit}; add `| truncate {limit}` to the username template"
            )
    return name


def _only_allowed(allowed: str, name: str) -> bool:
    """Whether `name` matches (?:allowed)*, as RE2 decides; the ASCII set answers what it can."""
    repeated, ascii_allowed = _allowed_rule(allowed)
    if ascii_allowed is not None and name.isascii() and ascii_allowed.issuperset(name):
        return True  # every character matches the class alone, so the whole name matches it repeated
    return fullmatch(repeated, name)


@lru_cache(maxsize=256)
def _allowed_rule(allowed: str) -> tuple[str, frozenset[str] | None]:
    """(?:allowed)*, and the ASCII characters `allowed` matches alone if it is one bracket class.

    An RE2 call costs more than the rest of a username (~7 µs); a set lookup per character
    answers the same for a class, which has no anchors or alternatives that would make a
    character's match depend on its neighbours. Anything else is left to RE2.
    """
    repeated = f"(?:{allowed})*"
    if not _is_one_bracket_class(allowed):
        return repeated, None
    return repeated, frozenset(c for c in map(chr, range(128)) if fullmatch(allowed, c))


def _is_one_bracket_class(pattern: str) -> bool:
    """Whether `pattern` is a single RE2 bracket expression, `[...]` or `[^...]`, and nothing else."""
    if not pattern.startswith("["):
        return False
    i = 2 if pattern.startswith("[^") else 1
    if pattern[i : i + 1] == "]":  # a ] right after [ or [^ is a literal
        i += 1
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "]":
            return i == len(pattern) - 1
        posix = _POSIX_CLASS.match(pattern, i)
        i = posix.end() if posix else i + 1
    return False
