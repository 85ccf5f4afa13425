"""The public face of the engine: parse a username template once, render it for every new user."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from yamldb.errors import TemplateError
from yamldb.templates.gotemplate.lexer import Lexer
from yamldb.templates.gotemplate.nodes import Emit, Stmt, compile_block
from yamldb.templates.gotemplate.parser import Parser
from yamldb.templates.gotemplate.values import Data, RenderContext, clean

__all__ = ["MAX_TEMPLATE_SIZE", "UsernameTemplate"]

MAX_TEMPLATE_SIZE: Final = 100_000


class UsernameTemplate:
    """A parsed username template; parse once, render for every new user."""

    __slots__ = ("_emit", "nodes", "source")

    source: str
    nodes: tuple[Stmt, ...]  # the parsed tree (yamldb.templates.gotemplate.nodes), read-only by convention

    def __init__(self, source: str, nodes: list[Stmt]) -> None:
        self.source = source
        self.nodes = tuple(nodes)
        self._emit: Emit = compile_block(self.nodes)  # the tree as closures: what render runs

    @classmethod
    def parse(cls, source: str) -> UsernameTemplate:
        """Parse `source`; raises TemplateError (with `position`) if it is invalid."""
        if not isinstance(source, str):
            raise TemplateError("username template must be a string")
        if source == "":
            raise TemplateError("missing template")
        if len(source) >= MAX_TEMPLATE_SIZE:
            raise TemplateError(f"template too large ({len(source)} characters)")
        toks = Lexer(clean(source)).run()
        return cls(source, Parser(toks).template())

    def render(self, display_name: str, role_name: str, *, now: datetime | None = None) -> str:
        """Render for one user; `now` freezes unix_time/unix_time_millis/timestamp."""
        if type(display_name) is not str or type(role_name) is not str:
            raise TypeError("display_name and role_name must be str")
        return self._emit(RenderContext(now), Data(clean(display_name), clean(role_name)))

    def __repr__(self) -> str:
        return f"UsernameTemplate({self.source!r})"
