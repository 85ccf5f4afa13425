"""Recursive descent over the tokens, following text/template/parse, into the node tree.

Function names, argument counts and literal argument types are checked here, at parse time
(Go checks the count only when the call runs).
"""

from __future__ import annotations

from typing import Final

from yamldb.errors import TemplateError
from yamldb.templates.gotemplate.fmt import go_quote
from yamldb.templates.gotemplate.functions import FUNCTIONS, GO_ONLY_FUNCTIONS, NOT_VARIADIC, TYPE_NAMES, Spec
from yamldb.templates.gotemplate.lexer import (
    T_DOT,
    T_EOF,
    T_FIELD,
    T_IDENT,
    T_KEYWORD,
    T_LIT,
    T_LPAREN,
    T_PIPE,
    T_RDELIM,
    T_RPAREN,
    T_SPACE,
    T_TEXT,
    Token,
)
from yamldb.templates.gotemplate.nodes import (
    Action,
    AndOr,
    Branch,
    Call,
    Dot,
    Expr,
    Field,
    Lit,
    Pipe,
    Stmt,
    Text,
)
from yamldb.templates.gotemplate.values import FIELDS, MISSING, FuncError

__all__ = ["MAX_DEPTH", "Parser"]

MAX_DEPTH: Final = 100  # parens, if/with and else-if chains; far below Python's recursion limit


class _Stop:
    """An {{else}} or {{end}} that closes the enclosing list."""

    __slots__ = ("chained", "kind", "pos")

    def __init__(self, kind: str, pos: int, chained: Token | None = None) -> None:
        self.kind = kind  # "else", "end" or "eof"
        self.pos = pos
        self.chained = chained  # the "if"/"with" of "{{else if ...}}"


class _Ident:
    """A function name before it is known whether it heads a command or is an argument."""

    __slots__ = ("pos", "spec", "src")

    def __init__(self, spec: Spec, pos: int) -> None:
        self.spec = spec
        self.pos = pos
        self.src = spec.name


_Operand = Lit | Dot | Field | Pipe | _Ident


class Parser:
    """Recursive descent over the token list, following text/template/parse."""

    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0

    def next(self) -> Token:
        t = self.toks[self.i]
        if t.kind != T_EOF:
            self.i += 1
        return t

    def backup(self) -> None:
        self.i -= 1

    def next_non_space(self) -> Token:
        t = self.next()
        while t.kind == T_SPACE:
            t = self.next()
        return t

    def peek_non_space(self) -> Token:
        t = self.next_non_space()
        if t.kind != T_EOF:
            self.backup()
        return t

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TemplateError("max expression depth exceeded", pos)

    def template(self) -> list[Stmt]:
        nodes, stop = self.item_list()
        if stop.kind != "eof":
            raise TemplateError(f"unexpected {{{{{stop.kind}}}}}", stop.pos)
        return nodes

    def item_list(self) -> tuple[list[Stmt], _Stop]:
        nodes: list[Stmt] = []
        while True:
            t = self.next()
            if t.kind == T_EOF:
                return nodes, _Stop("eof", t.pos)
            if t.kind == T_TEXT:
                nodes.append(Text(t.text))
                continue
            node = self.action()
            if isinstance(node, _Stop):
                return nodes, node
            nodes.append(node)

    def expect_rdelim(self, context: str) -> None:
        t = self.next_non_space()
        if t.kind != T_RDELIM:
            raise TemplateError(f"unexpected {t.describe()} in {context}", t.pos)

    def action(self) -> Stmt | _Stop:
        t = self.next_non_space()
        if t.kind == T_KEYWORD:
            kw = t.text
            if kw in ("if", "with"):
                return self.control(t)
            if kw == "else":
                nxt = self.peek_non_space()
                if nxt.kind == T_KEYWORD and nxt.text in ("if", "with"):
                    self.next_non_space()
                    return _Stop("else", t.pos, nxt)
                self.expect_rdelim("else")
                return _Stop("else", t.pos)
            if kw == "end":
                self.expect_rdelim("end")
                return _Stop("end", t.pos)
            if kw == "nil":
                raise TemplateError("nil is not a command", t.pos)
            raise TemplateError(f"{{{{{kw}}}}} is not supported in username templates", t.pos)
        self.backup()
        return Action(self.pipeline("command", T_RDELIM, t.pos))

    def control(self, kw: Token) -> Branch:
        self.enter(kw.pos)
        context = kw.text
        pipe = self.pipeline(context, T_RDELIM, kw.pos)
        body, stop = self.item_list()
        orelse: list[Stmt] | None = None
        if stop.kind == "eof":
            raise TemplateError(f"unexpected end of template: {{{{{context}}}}} has no {{{{end}}}}", kw.pos)
        if stop.kind == "else":
            if stop.chained is not None:
                if stop.chained.text != context:
                    raise TemplateError(
                        f"{{{{else {stop.chained.text}}}}} is not allowed in {{{{{context}}}}}",
                        stop.chained.pos,
                    )
                # {{else if x}} is {{else}}{{if x}}...{{end}} sharing the outer {{end}}.
                orelse = [self.control(stop.chained)]
            else:
                orelse, stop = self.item_list()
                if stop.kind != "end":
                    found = "end of template" if stop.kind == "eof" else "{{else}}"
                    raise TemplateError(f"expected {{{{end}}}}; found {found}", stop.pos)
        self.depth -= 1
        return Branch(pipe, body, orelse, context == "with")

    def pipeline(self, context: str, end: int, pos: int) -> Pipe:
        stages: list[list[_Operand]] = []
        while True:
            t = self.next_non_space()
            if t.kind == end:
                if not stages:
                    raise TemplateError(f"missing value for {context}", t.pos)
                return self.build(stages, pos)
            if t.kind in (T_IDENT, T_FIELD, T_DOT, T_LIT, T_LPAREN):
                self.backup()
                args, piped = self.command()
                stages.append(args)
                if piped and self.peek_non_space().kind == end:
                    raise TemplateError("missing command after |", t.pos)
                continue
            raise TemplateError(f"unexpected {t.describe()} in {context}", t.pos)

    def command(self) -> tuple[list[_Operand], bool]:
        args: list[_Operand] = []
        start = self.peek_non_space().pos
        while True:
            op = self.operand()
            if op is not None:
                args.append(op)
            t = self.next()
            if t.kind == T_SPACE:
                continue
            if t.kind in (T_RDELIM, T_RPAREN):
                self.backup()
                piped = False
                break
            if t.kind == T_PIPE:
                piped = True
                break
            raise TemplateError(f"unexpected {t.describe()} in operand", t.pos)
        if not args:
            raise TemplateError("empty command", start)
        return args, piped

    def operand(self) -> _Operand | None:
        node = self.term()
        if node is None:
            return None
        t = self.toks[self.i]
        if t.kind == T_FIELD:
            if isinstance(node, Field):
                raise TemplateError(f"can't evaluate field {t.value} in type string", t.pos)
            if isinstance(node, (Lit, Dot)):
                raise TemplateError(f"unexpected . after term {go_quote(node.src)}", t.pos)
            raise TemplateError(f"can't evaluate field {t.value}: only .DisplayName and .RoleName exist", t.pos)
        return node

    def term(self) -> _Operand | None:
        t = self.next_non_space()
        k = t.kind
        if k == T_IDENT:
            name = t.text
            spec = FUNCTIONS.get(name)
            if spec is None:
                if name in GO_ONLY_FUNCTIONS:
                    raise TemplateError(f'function "{name}" is not supported in username templates', t.pos)
                raise TemplateError(f'function "{name}" not defined', t.pos)
            return _Ident(spec, t.pos)
        if k == T_LIT:
            return Lit(t.value, t.pos, t.text)
        if k == T_FIELD:
            if t.text[1:] not in FIELDS:
                raise TemplateError(
                    f'unknown field "{t.text}": only .DisplayName and .RoleName are available',
                    t.pos,
                )
            return Field(t.text[1:], t.pos)
        if k == T_DOT:
            return Dot(t.pos)
        if k == T_LPAREN:
            self.enter(t.pos)
            pipe = self.pipeline("parenthesized pipeline", T_RPAREN, t.pos)
            self.depth -= 1
            return pipe
        if k == T_KEYWORD and t.text == "nil":
            raise TemplateError("nil is not supported in username templates", t.pos)
        if k != T_EOF:
            self.backup()
        return None

    def build(self, stages: list[list[_Operand]], pos: int) -> Pipe:
        """Turn parsed stages into executable commands, checking what Go checks late."""
        cmds: list[Expr] = []
        for n, args in enumerate(stages):
            head = args[0]
            if isinstance(head, _Ident):
                cmds.append(self.call(head, args[1:], n > 0))
                continue
            if n > 0:
                raise TemplateError(f"non executable command in pipeline stage {n + 1}", head.pos)
            if len(args) > 1:
                raise TemplateError(f"can't give argument to non-function {head.src}", args[1].pos)
            cmds.append(head)
        return Pipe(cmds, pos)

    def arg(self, op: _Operand) -> Expr:
        # A bare function name as an argument is a call without arguments.
        return self.call(op, [], False) if isinstance(op, _Ident) else op

    def call(self, ident: _Ident, ops: list[_Operand], piped: bool) -> Expr:
        spec = ident.spec
        nargs = len(ops) + piped
        nparams = len(spec.params)
        if spec.variadic is NOT_VARIADIC and nargs != nparams:
            raise TemplateError(f"wrong number of args for {spec.name}: want {nparams} got {nargs}", ident.pos)
        if spec.variadic is not NOT_VARIADIC and nargs < nparams:
            raise TemplateError(
                f"wrong number of args for {spec.name}: want at least {nparams} got {nargs}",
                ident.pos,
            )
        types: list[type | None] = list(spec.params[:nargs])
        types += [spec.variadic] * (nargs - len(types))  # type: ignore[list-item]
        checks: list[tuple[int, type]] = []
        for i, typ in enumerate(types):
            if typ is None:
                continue
            if i < len(ops) and isinstance(ops[i], Lit):
                lit = ops[i]
                assert isinstance(lit, Lit)
                if type(lit.value) is not typ:
                    raise TemplateError(
                        f"wrong type for argument {i + 1} of {spec.name}: expected {TYPE_NAMES[typ]}; found {lit.src}",
                        lit.pos,
                    )
                continue
            checks.append((i, typ))
        if spec.check is not None:
            literals = [op.value if isinstance(op, Lit) else MISSING for op in ops] + [MISSING] * piped
            try:
                spec.check(*literals)
            except FuncError as e:
                raise TemplateError(f"error calling {spec.name}: {e}", ident.pos) from None
        args = [self.arg(op) for op in ops]
        if spec.name in ("and", "or"):
            return AndOr(spec.name == "or", args, piped, ident.pos)
        return Call(spec, args, piped, tuple(checks), ident.pos)
