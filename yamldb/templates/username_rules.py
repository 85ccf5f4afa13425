"""Generate a username the way a manifest says: template, case, allowed characters, length limit."""

from __future__ import annotations

from yamldb.errors import TemplateError
from yamldb.manifest.model import UsernameRules
from yamldb.manifest.patterns import fullmatch
from yamldb.templates.gotemplate import UsernameTemplate

__all__ = ["generate_username"]


def generate_username(rules: UsernameRules, template: UsernameTemplate, display_name: str, role_name: str) -> str:
    """Render `template` for one user and hold the result to the manifest's username rules."""
    name = template.render(display_name, role_name)
    if rules.case == "lower":
        name = name.lower()
    elif rules.case == "upper":
        name = name.upper()
    if not name:
        raise TemplateError("the username template produced an empty username")
    if rules.allowed_characters and not fullmatch(f"(?:{rules.allowed_characters})*", name):
        outside = "".join(dict.fromkeys(c for c in name if not fullmatch(rules.allowed_characters, c)))
        raise TemplateError(
            f"generated username has characters outside {rules.allowed_characters} "
            f"({outside!r}); adjust the username template (e.g. with replace, or without "
            ".DisplayName)"
        )
    limit = rules.max_length
    if limit and len(name.encode()) > limit:
        raise TemplateError(
            f"generated username is {len(name.encode())} bytes, longer than the dialect's "
            f"limit of {limit}; add `| truncate {limit}` to the username template"
        )
    return name
