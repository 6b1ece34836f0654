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
        line = src[line_start:line_end]
        width = max(1, min(end, line_end) - start)
        gutter = " " * len(str(line_no))
        return (f"{head}\nat *query*:{line_no}:{col}\n{gutter} |\n"
                f"{line_no} | {line}\n{gutter} | {' ' * (col - 1)}{'^' * width}\n{gutter} |")


class ProtocolError(Exception):
    """An error answered with only `{"error": {code, message}}`."""

    def __init__(self, status: int, code: str, message: str,
                 headers: Optional[dict] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
