"""The parsed template: a tree of small node objects that rendering walks.

Expression nodes (`Expr`) have ev(ctx, dot, final) -> value; `final` is the piped-in value for a
pipeline stage. Statement nodes (`Stmt`) have emit(ctx, dot, out). Every node keeps the offset
(`pos`) of its source text, and expression nodes their source (`src`) for messages.
"""

from __future__ import annotations

from operator import attrgetter

from yamldb.errors import TemplateError
from yamldb.templates.gotemplate.fmt import to_text
from yamldb.templates.gotemplate.functions import TYPE_NAMES, Spec
from yamldb.templates.gotemplate.values import (
    FIELDS,
    MISSING,
    TOO_LARGE,
    Data,
    FuncError,
    RenderContext,
    Value,
    go_type,
)

__all__ = ["Action", "AndOr", "Branch", "Call", "Dot", "Expr", "Field", "Lit", "Pipe", "Stmt", "Text"]


class Lit:
    """A literal: a string, an integer (also 'c' characters) or true/false."""

    __slots__ = ("pos", "src", "value")

    def __init__(self, value: Value, pos: int, src: str) -> None:
        self.value = value
        self.pos = pos
        self.src = src

    def ev(self, ctx: RenderContext, dot: Value, final: object = MISSING) -> Value:
        return self.value


class Dot:
    """`.`: the data object, or inside {{with}} the value it bound."""

    __slots__ = ("pos", "src")

    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.src = "."

    def ev(self, ctx: RenderContext, dot: Value, final: object = MISSING) -> Value:
        return dot


class Field:
    """`.DisplayName` or `.RoleName`."""

    __slots__ = ("get", "name", "pos", "src")

    def __init__(self, name: str, pos: int) -> None:
        self.name = name
        self.pos = pos
        self.src = "." + name
        self.get = attrgetter(FIELDS[name])

    def ev(self, ctx: RenderContext, dot: Value, final: object = MISSING) -> Value:
        if type(dot) is Data:
            return self.get(dot)  # type: ignore[no-any-return]
        # Only reachable inside {{with}}, where dot is no longer the data object.
        raise TemplateError(f"can't evaluate field {self.name} in type {go_type(dot)}", self.pos)


class Pipe:
    """`a | f x | g`: each later stage gets the previous value as its last argument."""

    __slots__ = ("first", "pos", "rest", "src")

    def __init__(self, cmds: list[Expr], pos: int) -> None:
        self.first = cmds[0]
        self.rest = tuple(cmds[1:])
        self.pos = pos
        self.src = "(...)"

    def ev(self, ctx: RenderContext, dot: Value, final: object = MISSING) -> Value:
        v = self.first.ev(ctx, dot)
        for cmd in self.rest:
            v = cmd.ev(ctx, dot, v)
        return v


class Call:
    """A function call; `piped` says whether the previous pipeline stage supplies the last argument."""

    __slots__ = ("args", "checks", "fn", "name", "piped", "pos", "src")

    def __init__(
        self,
        spec: Spec,
        args: list[Expr],
        piped: bool,
        checks: tuple[tuple[int, type], ...],
        pos: int,
    ) -> None:
        self.name = spec.name
        self.fn = spec.fn
        self.args = tuple(args)
        self.piped = piped
        self.checks = checks  # (argument index, required type) verified at run time
        self.pos = pos
        self.src = spec.name

    def ev(self, ctx: RenderContext, dot: Value, final: object = MISSING) -> Value:
        vals = [a.ev(ctx, dot) for a in self.args]
        if self.piped:
            vals.append(final)  # type: ignore[arg-type]
        for i, typ in self.checks:
            if type(vals[i]) is not typ:
                raise TemplateError(
                    f"wrong type for argument {i + 1} of {self.name}: "
                    f"expected {TYPE_NAMES[typ]}; got {go_type(vals[i])}",
                    self.pos,
                )
        try:
            v = self.fn(ctx, *vals)
        except FuncError as e:
            raise TemplateError(f"error calling {self.name}: {e}", self.pos) from None
        if type(v) is str and not ctx.take(len(v)):  # type: ignore[arg-type]
            raise TemplateError(f"error calling {self.name}: result is {TOO_LARGE}", self.pos)
        return v


class AndOr:
    """and/or short-circuit: they return the first deciding operand, else the last."""

    __slots__ = ("args", "is_or", "piped", "pos", "src")

    def __init__(self, is_or: bool, args: list[Expr], piped: bool, pos: int) -> None:
        self.is_or = is_or
        self.args = tuple(args)
        self.piped = piped
        self.pos = pos
        self.src = "or" if is_or else "and"

    def ev(self, ctx: RenderContext, dot: Value, final: object = MISSING) -> Value:
        v: Value = False
        for a in self.args:
            v = a.ev(ctx, dot)
            if bool(v) is self.is_or:
                return v
        if self.piped:
            return final  # type: ignore[return-value]
        return v


Expr = Lit | Dot | Field | Pipe | Call | AndOr


class Text:
    """Text outside actions, copied to the output."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def emit(self, ctx: RenderContext, dot: Value, out: list[str]) -> None:
        out.append(self.text)


class Action:
    """`{{ pipeline }}`: prints the pipeline's value."""

    __slots__ = ("pipe",)

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe

    def emit(self, ctx: RenderContext, dot: Value, out: list[str]) -> None:
        v = self.pipe.ev(ctx, dot)
        text = v if type(v) is str else to_text(v)
        if not ctx.take(len(text)):  # type: ignore[arg-type]
            raise TemplateError(f"output is {TOO_LARGE}", self.pipe.pos)
        out.append(text)  # type: ignore[arg-type]


class Branch:
    """{{if}} and {{with}}; `with` also rebinds dot to the pipeline's value."""

    __slots__ = ("body", "is_with", "orelse", "pipe")

    def __init__(self, pipe: Pipe, body: list[Stmt], orelse: list[Stmt] | None, is_with: bool) -> None:
        self.pipe = pipe
        self.body = tuple(body)
        self.orelse = tuple(orelse or ())
        self.is_with = is_with

    def emit(self, ctx: RenderContext, dot: Value, out: list[str]) -> None:
        v = self.pipe.ev(ctx, dot)
        if v:  # Go truthiness: "", 0 and false are false; the data object is true
            inner = v if self.is_with else dot
            for node in self.body:
                node.emit(ctx, inner, out)
        else:
            for node in self.orelse:
                node.emit(ctx, dot, out)


Stmt = Text | Action | Branch
