"""Recursive-descent parser for the FQL v10 subset, producing a small AST.

Newlines separate statements; a method chain may continue on the next line
(`Users\n  .all()`), but `(`, `[` and `!` only bind on the same line, as in
the core's grammar.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

from .errors import QueryError
from .lexer import Token, tokenize

THIS = "$$this"   # the implicit parameter of `.field` shorthand lambdas
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def number_value(v: Any) -> Any:
    """An integer literal beyond the Long range becomes a Double, as in the
    core (`9223372036854775808` is 9.223372036854776E18)."""
    if type(v) is int and not (INT64_MIN <= v <= INT64_MAX):
        try:
            return float(v)
        except OverflowError:
            return float("inf") if v > 0 else float("-inf")
    return v


@dataclass
class Node:
    span: Tuple[int, int]


@dataclass
class Lit(Node):
    value: Any


@dataclass
class Interp(Node):
    parts: List[Any]          # str or Node


@dataclass
class Var(Node):
    name: str


@dataclass
class Arr(Node):
    items: List[Node]


@dataclass
class Obj(Node):
    pairs: List[Tuple[str, Node]]


@dataclass
class Member(Node):
    obj: Node
    name: str
    optional: bool = False
    name_span: Tuple[int, int] = (0, 0)


@dataclass
class Index(Node):
    obj: Node
    index: Node
    optional: bool = False


@dataclass
class Call(Node):
    fn: Node
    args: List[Node]
    optional: bool = False
    # the argument list, parentheses included: where the core points its
    # errors about the call (arity, argument types, constraint failures)
    args_span: Optional[Tuple[int, int]] = None


@dataclass
class NonNull(Node):
    expr: Node


@dataclass
class Unary(Node):
    op: str
    expr: Node


@dataclass
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass
class If(Node):
    cond: Node
    then: Node
    other: Optional[Node]


@dataclass
class Let(Node):
    name: str
    expr: Node


@dataclass
class Block(Node):
    stmts: List[Node]


@dataclass
class Lambda(Node):
    params: List[str]
    body: Node
    variadic: bool = False
    # the body's source extent, parentheses included (a node's span excludes
    # the parentheses around it); a cursor stores this text
    body_src: Optional[Tuple[int, int]] = None


@dataclass
class ProjField:
    name: str
    expr: Optional[Node] = None            # `alias: expr`
    nested: Optional[List["ProjField"]] = None
    expr_src: Optional[Tuple[int, int]] = None   # source extent of `expr`


@dataclass
class Projection(Node):
    expr: Node
    fields: List[ProjField]


@dataclass
class At(Node):
    ts: Node
    body: Node


BINARY_PREC = [
    ("??",),
    ("||",),
    ("&&",),
    ("==", "!="),
    ("<", "<=", ">", ">="),
    ("isa",),
    ("|",),
    ("^",),
    ("&",),
    ("+", "-"),
    ("*", "/", "%"),
]

KEYWORDS = {"let", "if", "else", "true", "false", "null", "at", "isa"}


class Parser:
    def __init__(self, src: str, allow_dollar: bool = False) -> None:
        self.src = src
        self.allow_dollar = allow_dollar
        self.toks = tokenize(src, allow_dollar)
        self.i = 0

    # -- token helpers -------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def at_op(self, *ops: str) -> bool:
        t = self.tok
        return t.kind == "op" and t.value in ops

    def at_kw(self, kw: str) -> bool:
        t = self.tok
        return t.kind == "ident" and t.value == kw

    def next(self) -> Token:
        t = self.toks[self.i]
        if self.i < len(self.toks) - 1:
            self.i += 1
        return t

    def expr_src(self) -> Tuple[Node, Tuple[int, int]]:
        """An expression and its source extent, enclosing parentheses included."""
        start = self.tok.start
        e = self.expr()
        return e, (start, self.toks[self.i - 1].end)

    def expect_op(self, op: str) -> Token:
        if not self.at_op(op):
            self.error(f"Expected `{op}`")
        return self.next()

    def error(self, msg: str) -> None:
        t = self.tok
        if t.kind == "eof":
            raise QueryError.syntax(f"{msg}, found end of query", t.start, t.end)
        raise QueryError.syntax(msg, t.start, max(t.end, t.start + 1))

    # -- entry points ----------------------------------------------------
    def parse_query(self) -> Node:
        stmts = self.statements(end="eof")
        if not stmts:
            raise QueryError.syntax("Query is empty", 0, len(self.src))
        return Block((0, len(self.src)), stmts)

    def statements(self, end: str) -> List[Node]:
        stmts: List[Node] = []
        while True:
            while self.at_op(";"):
                self.next()
            if (end == "eof" and self.tok.kind == "eof") or (end == "}" and self.at_op("}")):
                break
            stmts.append(self.statement())
            if self.at_op(";"):
                continue
            if (end == "eof" and self.tok.kind == "eof") or (end == "}" and self.at_op("}")):
                break
            if not self.tok.nl_before:
                self.error("Expected end-of-statement")
        if stmts and isinstance(stmts[-1], Let):
            s = stmts[-1].span
            raise QueryError.syntax("Block must end with an expression", s[0], s[1])
        return stmts

    def statement(self) -> Node:
        if self.at_kw("let"):
            start = self.next().start
            t = self.tok
            if t.kind != "ident" or t.value in KEYWORDS:
                self.error("Expected identifier")
            name = self.next().value
            if self.at_op(":"):
                self.next()
                self.skip_type()
            self.expect_op("=")
            e = self.expr()
            return Let((start, e.span[1]), name, e)
        return self.expr()

    def skip_type(self) -> None:
        """Type annotations are accepted and ignored (no typechecker)."""
        depth = 0
        while True:
            t = self.tok
            if t.kind == "eof":
                return
            if t.kind == "op" and t.value in ("<", "(", "[", "{"):
                depth += 1
            elif t.kind == "op" and t.value in (">", ")", "]", "}"):
                if depth == 0:
                    return
                depth -= 1
            elif t.kind == "op" and t.value == "=" and depth == 0:
                return
            self.next()

    # -- expressions -----------------------------------------------------
    def expr(self) -> Node:
        # Arrow functions bind loosest.
        lam = self.try_lambda()
        if lam is not None:
            return lam
        return self.binary(0)

    def try_lambda(self) -> Optional[Node]:
        t = self.tok
        if t.kind == "ident" and t.value not in KEYWORDS and self.peek().kind == "op" \
                and self.peek().value == "=>":
            self.next()
            self.next()
            body, bsrc = self.expr_src()
            return Lambda((t.start, bsrc[1]), [t.value], body, False, bsrc)
        if self.at_op("("):
            # scan to the matching paren and look for `=>`
            depth = 0
            j = self.i
            while j < len(self.toks):
                tk = self.toks[j]
                if tk.kind == "eof":
                    return None
                if tk.kind == "op" and tk.value in ("(", "[", "{"):
                    depth += 1
                elif tk.kind == "op" and tk.value in (")", "]", "}"):
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            nxt = self.toks[j + 1] if j + 1 < len(self.toks) else None
            if nxt is None or nxt.kind != "op" or nxt.value != "=>":
                return None
            start = self.next().start
            params: List[str] = []
            variadic = False
            while not self.at_op(")"):
                if self.at_op("..."):
                    self.next()
                    variadic = True
                p = self.tok
                if p.kind != "ident" or p.value in KEYWORDS:
                    self.error("Expected parameter name")
                params.append(self.next().value)
                if self.at_op(":"):
                    self.next()
                    self.skip_type_param()
                if self.at_op(","):
                    self.next()
                elif not self.at_op(")"):
                    self.error("Expected `,` or `)`")
            self.next()
            self.expect_op("=>")
            body, bsrc = self.expr_src()
            return Lambda((start, bsrc[1]), params, body, variadic, bsrc)
        return None

    def skip_type_param(self) -> None:
        depth = 0
        while True:
            t = self.tok
            if t.kind == "eof":
                return
            if t.kind == "op" and t.value in ("<", "(", "[", "{"):
                depth += 1
            elif t.kind == "op" and t.value in (">", ")", "]", "}"):
                if depth == 0:
                    return
                depth -= 1
            elif t.kind == "op" and t.value == "," and depth == 0:
                return
            self.next()

    def binary(self, level: int) -> Node:
        if level >= len(BINARY_PREC):
            return self.power()
        ops = BINARY_PREC[level]
        left = self.binary(level + 1)
        while True:
            t = self.tok
            if (t.kind == "op" or (t.kind == "ident" and t.value == "isa")) and t.value in ops:
                self.next()
                right = self.binary(level + 1)
                left = Binary((left.span[0], right.span[1]), t.value, left, right)
            else:
                return left

    def power(self) -> Node:
        base = self.unary()
        if self.at_op("**"):
            self.next()
            exp = self.power()   # right associative
            return Binary((base.span[0], exp.span[1]), "**", base, exp)
        return base

    def unary(self, negated: bool = False) -> Node:
        if self.at_op("-", "!", "~", "+"):
            t = self.next()
            e = self.unary(t.value == "-")
            if t.value == "-" and isinstance(e, Lit) and isinstance(e.value, (int, float)) \
                    and not isinstance(e.value, bool):
                return Lit((t.start, e.span[1]), number_value(-e.value))
            return Unary((t.start, e.span[1]), t.value, e)
        e = self.postfix(self.primary())
        if not negated and isinstance(e, Lit) and type(e.value) is int:
            # `9223372036854775808` alone (not negated) is beyond Long
            e.value = number_value(e.value)
        return e

    def postfix(self, e: Node) -> Node:
        while True:
            t = self.tok
            if t.kind != "op":
                return e
            v = t.value
            if v in (".", "?."):
                nt = self.peek()
                if v == "?." and nt.kind == "op" and nt.value == "(":
                    self.next()
                    lp = self.tok.start
                    args = self.call_args()
                    end = self.toks[self.i - 1].end
                    e = Call((e.span[0], end), e, args, True, (lp, end))
                    continue
                self.next()
                nt = self.tok
                if nt.kind != "ident":
                    self.error("Expected field name")
                self.next()
                e = Member((e.span[0], nt.end), e, nt.value, v == "?.", (nt.start, nt.end))
            elif v == "?.[":
                self.next()
                idx = self.expr()
                end = self.expect_op("]").end
                e = Index((e.span[0], end), e, idx, True)
            elif t.nl_before:
                return e
            elif v == "(":
                lp = t.start
                args = self.call_args()
                end = self.toks[self.i - 1].end
                e = Call((e.span[0], end), e, args, False, (lp, end))
            elif v == "[":
                self.next()
                idx = self.expr()
                end = self.expect_op("]").end
                e = Index((e.span[0], end), e, idx)
            elif v == "!":
                self.next()
                e = NonNull((e.span[0], t.end), e)
            elif v == "{":
                fields = self.projection_fields()
                e = Projection((e.span[0], self.toks[self.i - 1].end), e, fields)
            else:
                return e

    def call_args(self) -> List[Node]:
        self.expect_op("(")
        args: List[Node] = []
        while not self.at_op(")"):
            a, asrc = self.expr_src()
            if _uses_this(a):
                a = Lambda(asrc, [THIS], a, False, asrc)
            args.append(a)
            if self.at_op(","):
                self.next()
            elif not self.at_op(")"):
                self.error("Expected `,` or `)`")
        self.next()
        return args

    def projection_fields(self) -> List[ProjField]:
        self.expect_op("{")
        fields: List[ProjField] = []
        while not self.at_op("}"):
            t = self.tok
            if t.kind not in ("ident", "str"):
                self.error("Expected field name")
            name = self.next().value
            if self.at_op(":"):
                self.next()
                ex, xsrc = self.expr_src()
                fields.append(ProjField(name, expr=ex, expr_src=xsrc))
            elif self.at_op("{"):
                fields.append(ProjField(name, nested=self.projection_fields()))
            else:
                fields.append(ProjField(name))
            if self.at_op(","):
                self.next()
            elif not self.at_op("}") and not self.tok.nl_before:
                self.error("Expected `,` or `}`")
        self.next()
        return fields

    def primary(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.next()
            v = t.value
            if type(v) is int and v > INT64_MAX + 1:
                v = number_value(v)        # out of range even when negated
            return Lit((t.start, t.end), v)
        if t.kind == "str":
            self.next()
            return Lit((t.start, t.end), t.value)
        if t.kind == "istr":
            self.next()
            parts: List[Any] = []
            for p in t.value:
                if isinstance(p, str):
                    parts.append(p)
                else:
                    _, text, off = p
                    # pad with spaces so spans stay true to the query text
                    sub = Parser(" " * off + text, self.allow_dollar)
                    parts.append(sub.expr())
            return Interp((t.start, t.end), parts)
        if t.kind == "ident":
            v = t.value
            if v == "true" or v == "false":
                self.next()
                return Lit((t.start, t.end), v == "true")
            if v == "null":
                self.next()
                return Lit((t.start, t.end), None)
            if v == "if":
                return self.if_expr()
            if v == "at" and self.peek().kind == "op" and self.peek().value == "(":
                self.next()
                self.expect_op("(")
                ts = self.expr()
                self.expect_op(")")
                body = self.block_or_expr()
                return At((t.start, body.span[1]), ts, body)
            if v in ("let", "else"):
                self.error(f"Unexpected `{v}`")
            self.next()
            return Var((t.start, t.end), v)
        if t.kind == "op":
            v = t.value
            if v == "(":
                self.next()
                e = self.expr()
                self.expect_op(")")
                return e
            if v == "[":
                self.next()
                items: List[Node] = []
                while not self.at_op("]"):
                    items.append(self.expr())
                    if self.at_op(","):
                        self.next()
                    elif not self.at_op("]"):
                        self.error("Expected `,` or `]`")
                end = self.next().end
                return Arr((t.start, end), items)
            if v == "{":
                if self.is_object():
                    return self.object_lit()
                return self.block()
            if v == ".":
                # `.field` shorthand: a member of the implicit parameter
                nt = self.peek()
                if nt.kind == "ident":
                    self.next()
                    self.next()
                    return Member((t.start, nt.end), Var((t.start, t.start), THIS),
                                  nt.value, False, (nt.start, nt.end))
        self.error("Unexpected token" if t.kind != "eof" else "Unexpected end of query")
        raise AssertionError

    def is_object(self) -> bool:
        a, b = self.peek(1), self.peek(2)
        if a.kind == "op" and a.value == "}":
            return True
        return a.kind in ("ident", "str") and b.kind == "op" and b.value == ":"

    def object_lit(self) -> Node:
        start = self.expect_op("{").start
        pairs: List[Tuple[str, Node]] = []
        while not self.at_op("}"):
            k = self.tok
            if k.kind not in ("ident", "str"):
                self.error("Expected object key")
            self.next()
            self.expect_op(":")
            pairs.append((k.value, self.expr()))
            if self.at_op(","):
                self.next()
            elif not self.at_op("}"):
                self.error("Expected `,` or `}`")
        end = self.next().end
        return Obj((start, end), pairs)

    def block(self) -> Node:
        start = self.expect_op("{").start
        stmts = self.statements(end="}")
        end = self.expect_op("}").end
        if not stmts:
            raise QueryError.syntax("Block is empty", start, end)
        return Block((start, end), stmts)

    def block_or_expr(self) -> Node:
        if self.at_op("{") and not self.is_object():
            return self.block()
        return self.expr()

    def if_expr(self) -> Node:
        start = self.next().start
        self.expect_op("(")
        cond = self.expr()
        self.expect_op(")")
        then = self.block_or_expr()
        other = None
        if self.at_kw("else"):
            self.next()
            other = self.block_or_expr()
        end = (other or then).span[1]
        return If((start, end), cond, then, other)


def _uses_this(n: Any) -> bool:
    """True when `n` refers to the shorthand parameter outside a nested lambda."""
    if isinstance(n, Var):
        return n.name == THIS
    if isinstance(n, Lambda):
        return False
    if isinstance(n, Node):
        for v in n.__dict__.values():
            if _uses_this(v):
                return True
        return False
    if isinstance(n, (list, tuple)):
        return any(_uses_this(x) for x in n)
    if isinstance(n, ProjField):
        return _uses_this(n.expr) or _uses_this(n.nested)
    return False


def free_vars(n: Any, bound: frozenset = frozenset(), out: Optional[set] = None) -> set:
    """Names a lambda needs from its environment (for serializing closures)."""
    if out is None:
        out = set()
    if isinstance(n, Var):
        if n.name not in bound:
            out.add(n.name)
    elif isinstance(n, Lambda):
        free_vars(n.body, bound | frozenset(n.params), out)
    elif isinstance(n, Block):
        b = bound
        for s in n.stmts:
            if isinstance(s, Let):
                free_vars(s.expr, b, out)
                b = b | {s.name}
            else:
                free_vars(s, b, out)
    elif isinstance(n, Node):
        for v in n.__dict__.values():
            if v is not n.span:
                free_vars(v, bound, out)
    elif isinstance(n, (list, tuple)):
        for x in n:
            free_vars(x, bound, out)
    elif isinstance(n, ProjField):
        free_vars(n.expr, bound, out)
        free_vars(n.nested, bound, out)
    return out


def parse(src: str, allow_dollar: bool = False) -> Node:
    return Parser(src, allow_dollar).parse_query()


def parse_expr(src: str, allow_dollar: bool = True) -> Node:
    p = Parser(src, allow_dollar)
    e = p.expr()
    if p.tok.kind != "eof":
        p.error("Unexpected token")
    return e
