"""FQL v10 tokenizer.

Produces a flat token list.  Each token records whether a newline preceded it,
because FQL uses newlines as statement separators and the parser needs to know
where one expression may end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional

from .errors import QueryError


@dataclass
class Token:
    kind: str          # 'num', 'str', 'istr', 'ident', 'op', 'eof'
    value: Any
    start: int
    end: int
    nl_before: bool = False


PUNCT = [
    "...", "?.[", "?.", "??", "=>", "==", "!=", "<=", ">=", "&&", "||", "**",
    "(", ")", "{", "}", "[", "]", ",", ";", ":", ".", "!", "?", "+", "-",
    "*", "/", "%", "<", ">", "=", "&", "|", "^", "~",
]

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v",
           "0": "\0", "\\": "\\", "'": "'", '"': '"', "#": "#", "`": "`"}


def _ident_start(c: str) -> bool:
    return c.isalpha() or c == "_"


def _ident_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def tokenize(src: str, allow_dollar: bool = False) -> List[Token]:
    """Split `src` into tokens.

    `allow_dollar` admits `$name` identifiers: the server uses them for the
    variables it synthesizes for template value parts, never for user text.
    """
    toks: List[Token] = []
    i, n = 0, len(src)
    nl = False
    while i < n:
        c = src[i]
        if c == "\n":
            nl = True
            i += 1
            continue
        if c in " \t\r\f\v\ufeff":
            i += 1
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            if j < 0:
                raise QueryError.syntax("Unterminated block comment", i, n)
            if "\n" in src[i:j]:
                nl = True
            i = j + 2
            continue
        start = i
        if c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit()
                           and not (toks and toks[-1].kind in ("ident",) or toks and toks[-1].value in (")", "]"))):
            i, tok = _number(src, i)
            toks.append(Token("num", tok, start, i, nl))
        elif _ident_start(c) or (allow_dollar and c == "$"):
            i += 1
            while i < n and _ident_char(src[i]):
                i += 1
            toks.append(Token("ident", src[start:i], start, i, nl))
        elif c in "'\"":
            i, parts = _string(src, i)
            if len(parts) == 1 and isinstance(parts[0], str):
                toks.append(Token("str", parts[0], start, i, nl))
            elif not parts:
                toks.append(Token("str", "", start, i, nl))
            else:
                toks.append(Token("istr", parts, start, i, nl))
        else:
            for p in PUNCT:
                if src.startswith(p, i):
                    # `?.[` only when followed by '[' (optional index)
                    i += len(p)
                    toks.append(Token("op", p, start, i, nl))
                    break
            else:
                raise QueryError.syntax(f"Unexpected character `{c}`", i, i + 1)
        nl = False
    toks.append(Token("eof", None, n, n, nl))
    return toks


def _number(src: str, i: int):
    n = len(src)
    start = i
    if src.startswith(("0x", "0X"), i):
        i += 2
        while i < n and (src[i] in "0123456789abcdefABCDEF_"):
            i += 1
        return i, int(src[start + 2:i].replace("_", ""), 16)
    if src.startswith(("0b", "0B"), i):
        i += 2
        while i < n and src[i] in "01_":
            i += 1
        return i, int(src[start + 2:i].replace("_", ""), 2)
    if src.startswith(("0o", "0O"), i):
        i += 2
        while i < n and src[i] in "01234567_":
            i += 1
        return i, int(src[start + 2:i].replace("_", ""), 8)
    is_float = False
    while i < n and (src[i].isdigit() or src[i] == "_"):
        i += 1
    if i < n and src[i] == "." and i + 1 < n and src[i + 1].isdigit():
        is_float = True
        i += 1
        while i < n and (src[i].isdigit() or src[i] == "_"):
            i += 1
    if i < n and src[i] in "eE":
        j = i + 1
        if j < n and src[j] in "+-":
            j += 1
        if j < n and src[j].isdigit():
            is_float = True
            i = j
            while i < n and src[i].isdigit():
                i += 1
    text = src[start:i].replace("_", "")
    return i, (float(text) if is_float else int(text))


def _string(src: str, i: int):
    """Read a quoted string; returns (end, parts) where parts are str or
    ('expr', text, offset) for `#{...}` interpolations in double quotes."""
    q = src[i]
    n = len(src)
    i += 1
    buf: List[str] = []
    parts: List[Any] = []
    while True:
        if i >= n:
            raise QueryError.syntax("Unterminated string literal", i - 1, n)
        c = src[i]
        if c == q:
            i += 1
            break
        if c == "\\":
            if i + 1 >= n:
                raise QueryError.syntax("Unterminated string literal", i, n)
            e = src[i + 1]
            if e in ESCAPES:
                buf.append(ESCAPES[e])
                i += 2
            elif e == "u":
                if i + 2 < n and src[i + 2] == "{":
                    j = src.find("}", i + 3)
                    if j < 0:
                        raise QueryError.syntax("Invalid unicode escape", i, i + 2)
                    buf.append(chr(int(src[i + 3:j], 16)))
                    i = j + 1
                else:
                    h = src[i + 2:i + 6]
                    try:
                        buf.append(chr(int(h, 16)))
                    except ValueError:
                        raise QueryError.syntax("Invalid unicode escape", i, i + 2)
                    i += 6
            else:
                raise QueryError.syntax(f"Invalid escape `\\{e}`", i, i + 2)
            continue
        if q == '"' and c == "#" and i + 1 < n and src[i + 1] == "{":
            depth = 1
            j = i + 2
            while j < n and depth:
                if src[j] == "{":
                    depth += 1
                elif src[j] == "}":
                    depth -= 1
                j += 1
            if depth:
                raise QueryError.syntax("Unterminated string interpolation", i, n)
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(("expr", src[i + 2:j - 1], i + 2))
            i = j
            continue
        buf.append(c)
        i += 1
    if buf or not parts:
        parts.append("".join(buf))
    return i, parts
