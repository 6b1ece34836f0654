"""Errors raised while parsing or evaluating a query.

A QueryError becomes a Fauna error body: `{"error": {code, message}, "summary", ...}`
with HTTP 400 unless told otherwise.  The summary mimics the core's rendering:
`error: <msg>\nat *query*:L:C\n  |\nL | <line>\n  | ^^^\n  |`.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

Span = Optional[Tuple[int, int]]


class QueryError(Exception):
    def __init__(self, code: str, message: str, span: Span = None,
                 status: int = 400, summary_msg: Optional[str] = None,
                 abort: Any = None, has_abort: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.span = span
        self.status = status
        # The diagnostic text shown in `summary`; defaults to the message.
        self.summary_msg = summary_msg if summary_msg is not None else message
        self.abort = abort
        self.has_abort = has_abort

    @classmethod
    def syntax(cls, msg: str, start: int, end: int) -> "QueryError":
        """Parse failures are reported by the core as a failed validation."""
        return cls("invalid_query", "The query failed 1 validation check",
                   (start, end), summary_msg=msg)

    @classmethod
    def validation(cls, msg: str, span: Span) -> "QueryError":
        return cls("invalid_query", "The query failed 1 validation check",
                   span, summary_msg=msg)

    def with_span(self, span: Span) -> "QueryError":
        if self.span is None:
            self.span = span
        return self

    def render_summary(self, src: Optional[str]) -> str:
        head = f"error: {self.summary_msg}"
        if src is None or self.span is None:
            return head
        start, end = self.span
        start = max(0, min(start, len(src)))
        end = max(start + 1, min(end, len(src)))
        line_no = src.count("\n", 0, start) + 1
        line_start = src.rfind("\n", 0, start) + 1
        line_end = src.find("\n", start)
        if line_end < 0:
            line_end = len(src)
        col = start - line_start + 1
        if end - 1 > line_end:
            return head + "\n" + render_multiline(src, start, end, line_no, line_start, col)
        line = src[line_start:line_end]
        width = max(1, min(end, line_end) - start)
        gutter = " " * len(str(line_no))
        return (f"{head}\nat *query*:{line_no}:{col}\n{gutter} |\n"
                f"{line_no} | {line}\n{gutter} | {' ' * (col - 1)}{'^' * width}\n{gutter} |")


def render_multiline(src: str, start: int, end: int, first: int, line_start: int, col: int) -> str:
    """The core's rendering of a span over several lines: the lines get a
    margin, `_` runs from it to the first and last characters.

        at *query*:1:16
          |
        1 |   TestColl.create({
          |  ________________^
        2 | |   ts: "Thing",
        3 | | })
          | |__^
          |
    """
    lines = src[line_start:].split("\n")
    last = src.count("\n", 0, end - 1) + 1
    lines = lines[:last - first + 1]
    last_col = (end - 1) - (src.rfind("\n", 0, end - 1) + 1)     # 0-based, last char
    w = len(str(last))
    gutter = " " * w
    out = [f"at *query*:{first}:{col}", f"{gutter} |"]
    for k, text in enumerate(lines):
        no = str(first + k).rjust(w)
        out.append(f"{no} | {'  ' if k == 0 else '| '}{text}")
        if k == 0:
            out.append(f"{gutter} |  {'_' * col}^")
    out.append(f"{gutter} | |{'_' * (last_col + 1)}^")
    out.append(f"{gutter} |")
    return "\n".join(out)


def arity_text(n: int, at: str = "exactly") -> str:
    """The core's wording of an expected argument count."""
    if n == 0 and at in ("exactly", "at most"):
        return "no arguments"
    return f"{at} {n} argument{'s' if n != 1 else ''}"


def arity_error(expected: str, given: int) -> QueryError:
    """`expected` as arity_text words it, e.g. "exactly 2 arguments"."""
    return QueryError("invalid_function_invocation",
                      f"callee function expects {expected}, but {given} "
                      f"{'was' if given == 1 else 'were'} provided.")


def no_args(args: list) -> None:
    if args:
        raise arity_error("no arguments", len(args))


class ProtocolError(Exception):
    """An error answered with only `{"error": {code, message}}`."""

    def __init__(self, status: int, code: str, message: str,
                 headers: Optional[dict] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
