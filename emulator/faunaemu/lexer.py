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
    for prefix, digits, base in (("0x", "0123456789abcdefABCDEF_", 16), ("0b", "01_", 2),
                                 ("0o", "01234567_", 8)):
        if src.startswith((prefix, prefix.upper()), i):
            i += 2
            while i < n and src[i] in digits:
                i += 1
            text = src[start + 2:i].replace("_", "")
            # like the core's grammar: at least one digit, and none of
            # another base glued on (`0xZZ`, `0b2`)
            if not text or (i < n and (src[i].isalnum() or src[i] == "_")):
                end = i
                while end < n and (src[end].isalnum() or src[end] == "_"):
                    end += 1
                raise QueryError.syntax(f"Invalid number literal `{src[start:max(end, i)]}`",
                                        start, max(end, i))
            return i, int(text, base)
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
    try:
        return i, (float(text) if is_float else int(text))
    except ValueError:
        raise QueryError.syntax(f"Invalid number literal `{src[start:i]}`", start, i)


def _codepoint(src: str, digits: str, start: int, end: int) -> str:
    """The character of a `\\x`/`\\u` escape; the core refuses code points
    beyond U+10FFFF and surrogates."""
    cp = int(digits, 16)
    if cp > 0x10FFFF:
        raise QueryError.syntax("Invalid escape sequence: outside of valid unicode range",
                                start, end)
    if 0xD800 <= cp <= 0xDFFF:
        raise QueryError.syntax("Invalid escape sequence: surrogates are disallowed", start, end)
    return chr(cp)


_HEX = "0123456789abcdefABCDEF"


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
                    # \\u{h…}: 1 to 6 hex digits
                    j = i + 3
                    while j < n and j - (i + 3) < 6 and src[j] in _HEX:
                        j += 1
                    if j == i + 3 or j >= n or src[j] != "}":
                        raise QueryError.syntax("Invalid unicode escape: expected 1 to 6 hex "
                                                "digits between `{` and `}`", i, min(j + 1, n))
                    buf.append(_codepoint(src, src[i + 3:j], i, j + 1))
                    i = j + 1
                else:
                    h = src[i + 2:i + 6]
                    if len(h) != 4 or any(c not in _HEX for c in h):
                        raise QueryError.syntax("Invalid unicode escape: expected 4 hex digits",
                                                i, min(i + 6, n))
                    buf.append(_codepoint(src, h, i, i + 6))
                    i += 6
            elif e == "x":
                h = src[i + 2:i + 4]
                if len(h) != 2 or any(c not in _HEX for c in h):
                    raise QueryError.syntax("Invalid hex escape: expected 2 hex digits",
                                            i, min(i + 4, n))
                buf.append(chr(int(h, 16)))
                i += 4
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
