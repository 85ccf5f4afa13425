"""The parsed template: a tree of small node objects, compiled once into nested closures.

`compile()` turns each node into a closure that calls its children's closures directly, so a
render does no per-node dispatch. Expression nodes (`Expr`) compile to f(ctx, dot) -> value; a
piped call (the later stages of `a | f x`) to f(ctx, dot, final), `final` being the piped-in
value. Statement nodes (`Stmt`) compile to f(ctx, dot) -> text. Every node keeps the offset
(`pos`) of its source text, and expression nodes their source (`src`) for messages; the tree
itself stays for readers such as username_match.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import NoReturn

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

__all__ = [
    "Action",
    "AndOr",
    "Branch",
    "Call",
    "Dot",
    "Emit",
    "Eval",
    "Expr",
    "Field",
    "Lit",
    "Pipe",
    "Stage",
    "Stmt",
    "Text",
    "compile_block",
]

Eval = Callable[[RenderContext, Value], Value]
Stage = Callable[[RenderContext, Value, Value], Value]
Emit = Callable[[RenderContext, Value], str]


class Lit:
    """A literal: a string, an integer (also 'c' characters) or true/false."""

    __slots__ = ("pos", "src", "value")

    def __init__(self, value: Value, pos: int, src: str) -> None:
        self.value = value
        self.pos = pos
        self.src = src

    def compile(self) -> Eval:
        value = self.value
        return lambda ctx, dot: value


class Dot:
    """`.`: the data object, or inside {{with}} the value it bound."""

    __slots__ = ("pos", "src")

    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.src = "."

    def compile(self) -> Eval:
        return lambda ctx, dot: dot


class Field:
    """`.DisplayName` or `.RoleName`."""

    __slots__ = ("get", "name", "pos", "src")

    def __init__(self, name: str, pos: int) -> None:
        self.name = name
        self.pos = pos
        self.src = "." + name
        self.get = attrgetter(FIELDS[name])

    def compile(self) -> Eval:
        get, name, pos = self.get, self.name, self.pos

        def field(ctx: RenderContext, dot: Value) -> Value:
            if type(dot) is Data:
                return get(dot)  # type: ignore[no-any-return]
            # Only reachable inside {{with}}, where dot is no longer the data object.
            raise TemplateError(f"can't evaluate field {name} in type {go_type(dot)}", pos)

        return field


class Pipe:
    """`a | f x | g`: each later stage gets the previous value as its last argument."""

    __slots__ = ("first", "pos", "rest", "src")

    def __init__(self, cmds: list[Expr], pos: int) -> None:
        self.first = cmds[0]
        self.rest = tuple(cmds[1:])
        self.pos = pos
        self.src = "(...)"

    def compile(self) -> Eval:
        first: Eval = self.first.compile()
        # The parser makes every later stage a piped Call or AndOr, which compile to a Stage.
        stages: tuple[Stage, ...] = tuple(cmd.compile() for cmd in self.rest)  # type: ignore[misc]
        if not stages:
            return first
        if len(stages) == 1:
            only = stages[0]
            return lambda ctx, dot: only(ctx, dot, first(ctx, dot))

        def pipe(ctx: RenderContext, dot: Value) -> Value:
            v = first(ctx, dot)
            for stage in stages:
                v = stage(ctx, dot, v)
            return v

        return pipe


class Call:
    """A function call; `piped` says whether the previous pipeline stage supplies the last argument."""

    __slots__ = ("args", "checks", "fn", "name", "piped", "pos", "spec", "src")

    def __init__(
        self,
        spec: Spec,
        args: list[Expr],
        piped: bool,
        checks: tuple[tuple[int, type], ...],
        pos: int,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.fn = spec.fn
        self.args = tuple(args)
        self.piped = piped
        self.checks = checks  # (argument index, required type) verified at run time
        self.pos = pos
        self.src = spec.name

    def compile(self) -> Callable[..., Value]:
        """An Eval, or a Stage when the call is piped; the common shapes get a closure of their own.

        Each closure repeats the call's few lines (fn, its error, the budget) instead of sharing a
        helper: the extra Python call cost 10-20% of a whole render (callgrind, Vault defaults).
        """
        name, checks, pos, piped = self.name, self.checks, self.pos, self.piped
        fn = self.fn
        if self.spec.specialize is not None:
            literals = [a.value if type(a) is Lit else MISSING for a in self.args] + [MISSING] * piped
            fn = self.spec.specialize(*literals) or fn

        if all(type(a) is Lit for a in self.args):
            consts = tuple(a.value for a in self.args)  # type: ignore[union-attr]
            if not piped:  # literal types were checked at parse time: nothing to check here

                def call(ctx: RenderContext, dot: Value) -> Value:
                    try:
                        v = fn(ctx, *consts)
                    except FuncError as e:
                        _raise_failed(name, pos, e)
                    if type(v) is str:
                        ctx.remaining -= len(v)
                        if ctx.remaining < 0:
                            _raise_too_large(name, pos)
                    return v

                return call
            # Only the piped value, the last argument, can need a run-time check.
            assert all(i == len(consts) for i, _ in checks)
            want = checks[0][1] if checks else None

            def stage(ctx: RenderContext, dot: Value, final: Value) -> Value:
                if want is not None and type(final) is not want:
                    _raise_wrong_type(name, pos, len(consts), want, final)
                try:
                    v = fn(ctx, *consts, final)
                except FuncError as e:
                    _raise_failed(name, pos, e)
                if type(v) is str:
                    ctx.remaining -= len(v)
                    if ctx.remaining < 0:
                        _raise_too_large(name, pos)
                return v

            return stage

        argfns = tuple(a.compile() for a in self.args)

        def general(ctx: RenderContext, dot: Value, final: Value = MISSING) -> Value:  # type: ignore[assignment]
            vals = [f(ctx, dot) for f in argfns]
            if piped:
                vals.append(final)
            for i, typ in checks:
                if type(vals[i]) is not typ:
                    _raise_wrong_type(name, pos, i, typ, vals[i])
            try:
                v = fn(ctx, *vals)
            except FuncError as e:
                _raise_failed(name, pos, e)
            if type(v) is str:
                ctx.remaining -= len(v)
                if ctx.remaining < 0:
                    _raise_too_large(name, pos)
            return v

        return general


# The cold paths of a call, shared by its closures.


def _raise_wrong_type(name: str, pos: int, i: int, want: type, got: Value) -> NoReturn:
    raise TemplateError(
        f"wrong type for argument {i + 1} of {name}: expected {TYPE_NAMES[want]}; got {go_type(got)}", pos
    )


def _raise_failed(name: str, pos: int, e: FuncError) -> NoReturn:
    raise TemplateError(f"error calling {name}: {e}", pos) from None


def _raise_too_large(name: str, pos: int) -> NoReturn:
    raise TemplateError(f"error calling {name}: result is {TOO_LARGE}", pos)


class AndOr:
    """and/or short-circuit: they return the first deciding operand, else the last."""

    __slots__ = ("args", "is_or", "piped", "pos", "src")

    def __init__(self, is_or: bool, args: list[Expr], piped: bool, pos: int) -> None:
        self.is_or = is_or
        self.args = tuple(args)
        self.piped = piped
        self.pos = pos
        self.src = "or" if is_or else "and"

    def compile(self) -> Callable[..., Value]:
        """An Eval, or a Stage when piped (the piped value is the last operand, never a decider)."""
        args: tuple[Eval, ...] = tuple(a.compile() for a in self.args)
        is_or, piped = self.is_or, self.piped

        def and_or(ctx: RenderContext, dot: Value, final: Value = MISSING) -> Value:  # type: ignore[assignment]
            v: Value = False
            for a in args:
                v = a(ctx, dot)
                if bool(v) is is_or:
                    return v
            return final if piped else v

        return and_or


Expr = Lit | Dot | Field | Pipe | Call | AndOr


class Text:
    """Text outside actions, copied to the output."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def compile(self) -> Emit:
        text = self.text
        return lambda ctx, dot: text


class Action:
    """`{{ pipeline }}`: prints the pipeline's value."""

    __slots__ = ("pipe",)

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe

    def compile(self) -> Emit:
        ev, pos = self.pipe.compile(), self.pipe.pos

        def action(ctx: RenderContext, dot: Value) -> str:
            v = ev(ctx, dot)
            text: str = v if type(v) is str else to_text(v)  # type: ignore[assignment]
            ctx.remaining -= len(text)
            if ctx.remaining < 0:
                raise TemplateError(f"output is {TOO_LARGE}", pos)
            return text

        return action


class Branch:
    """{{if}} and {{with}}; `with` also rebinds dot to the pipeline's value."""

    __slots__ = ("body", "is_with", "orelse", "pipe")

    def __init__(self, pipe: Pipe, body: list[Stmt], orelse: list[Stmt] | None, is_with: bool) -> None:
        self.pipe = pipe
        self.body = tuple(body)
        self.orelse = tuple(orelse or ())
        self.is_with = is_with

    def compile(self) -> Emit:
        cond, is_with = self.pipe.compile(), self.is_with
        body, orelse = compile_block(self.body), compile_block(self.orelse)

        def branch(ctx: RenderContext, dot: Value) -> str:
            v = cond(ctx, dot)
            if v:  # Go truthiness: "", 0 and false are false; the data object is true
                return body(ctx, v if is_with else dot)
            return orelse(ctx, dot)

        return branch


Stmt = Text | Action | Branch


def compile_block(stmts: Sequence[Stmt]) -> Emit:
    """One closure printing `stmts` in order: the whole template, or an if/with branch."""
    emits = tuple(s.compile() for s in stmts)
    if not emits:
        return lambda ctx, dot: ""
    if len(emits) == 1:
        return emits[0]
    return lambda ctx, dot: "".join([emit(ctx, dot) for emit in emits])
