"""A streaming, bounded JSON reader for the one shape an export's posts file has: a list of posts
(or an object holding one under ``ig_posts``/``posts``), read one post at a time.

``json.loads`` holds the whole file and every string in it at once: 64 posts files of 32 MB,
each one caption, took 2.1 GB. Here the file is read in 64 KiB pieces; every string keeps at
most ``max_string`` characters (the rest is read past, never held); a list keeps at most
``max_items`` items and an object ``max_keys`` keys; nesting past ``max_depth`` is refused. So a
post costs a few KB whatever the file holds, and only one post is held at a time.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, Protocol

CHUNK = 64 * 1024


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...
_PLAIN = re.compile(r'[^"\\]*')
_SPACE = re.compile(r"[ \t\r\n]*")
_SCALAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class Reader:
    """Tokens of a UTF-8 JSON text read piece by piece from ``f``."""

    def __init__(self, f: Readable, max_string: int, max_items: int = 1000, max_keys: int = 100,
                 max_depth: int = 64) -> None:
        self.f = f
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.max_string, self.max_items, self.max_keys, self.max_depth = max_string, max_items, max_keys, max_depth

    # -- the buffer ---------------------------------------------------------------------------
    def _fill(self, need: int = 1) -> bool:
        """At least ``need`` characters after ``pos`` (False at the end of the file)."""
        while len(self.buf) - self.pos < need and not self.eof:
            data = self.f.read(CHUNK)
            self.eof = not data
            try:
                text = self.decoder.decode(data, final=self.eof)
            except UnicodeDecodeError as exc:
                raise ValueError(f"not JSON ({exc})") from None
            self.buf = self.buf[self.pos:] + text
            self.pos = 0
        return len(self.buf) - self.pos >= need

    def _peek(self) -> str:
        while True:
            if not self._fill():
                raise ValueError("not JSON (it ends too early)")
            m = _SPACE.match(self.buf, self.pos)
            self.pos = m.end() if m else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]

    def _expect(self, ch: str) -> None:
        if self._peek() != ch:
            raise ValueError(f"not JSON ({ch!r} expected at {self.buf[self.pos:self.pos + 20]!r})")
        self.pos += 1

    # -- values -------------------------------------------------------------------------------
    def string(self) -> str:
        """The string at ``pos`` (after its quote is checked): at most ``max_string`` characters kept."""
        self._expect('"')
        kept: list[str] = []
        size = 0
        while True:
            if not self._fill():
                raise ValueError("not JSON (a string never ends)")
            m = _PLAIN.match(self.buf, self.pos)
            piece = m.group() if m else ""
            if size < self.max_string and piece:
                kept.append(piece[:self.max_string - size])
                size += len(kept[-1])
            self.pos += len(piece)
            if self.pos >= len(self.buf):
                continue
            ch = self.buf[self.pos]
            if ch == '"':
                self.pos += 1
                text = "".join(kept)
                return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            # a backslash escape
            if not self._fill(2):
                raise ValueError("not JSON (a string never ends)")
            kind = self.buf[self.pos + 1]
            if kind == "u":
                if not self._fill(6):
                    raise ValueError("not JSON (a string never ends)")
                try:
                    out = chr(int(self.buf[self.pos + 2:self.pos + 6], 16))
                except ValueError:
                    raise ValueError("not JSON (a bad \\u escape)") from None
                self.pos += 6
            elif kind in _ESCAPES:
                out = _ESCAPES[kind]
                self.pos += 2
            else:
                raise ValueError(f"not JSON (a bad escape \\{kind})")
            if size < self.max_string:
                kept.append(out)
                size += 1

    def value(self, depth: int = 0) -> Any:
        """The next value, bounded (see the module's notes)."""
        if depth > self.max_depth:
            raise ValueError("nested too deeply to be a posts file")
        ch = self._peek()
        if ch == '"':
            return self.string()
        if ch == "[":
            return list(self.items(depth))
        if ch == "{":
            out: dict[str, Any] = {}
            for key, value in self.members(depth):
                if len(out) < self.max_keys:
                    out[key] = value
            return out
        return self.scalar()

    def items(self, depth: int) -> Iterator[Any]:
        """The items of the list at ``pos``, one at a time (past ``max_items``, read and dropped)."""
        self._expect("[")
        n = 0
        if self._peek() == "]":
            self.pos += 1
            return
        while True:
            item = self.value(depth + 1)
            if n < self.max_items:
                yield item
            n += 1
            ch = self._peek()
            self.pos += 1
            if ch == "]":
                return
            if ch != ",":
                raise ValueError(f"not JSON (',' or ']' expected, found {ch!r})")

    def members(self, depth: int) -> Iterator[tuple[str, Any]]:
        self._expect("{")
        if self._peek() == "}":
            self.pos += 1
            return
        while True:
            key = self.string()
            self._expect(":")
            yield key, self.value(depth + 1)
            ch = self._peek()
            self.pos += 1
            if ch == "}":
                return
            if ch != ",":
                raise ValueError(f"not JSON (',' or '}}' expected, found {ch!r})")

    def scalar(self) -> Any:
        self._fill(400)
        m = _SCALAR.match(self.buf, self.pos)
        if m is None or m.end() - m.start() > 350:
            raise ValueError(f"not JSON (unexpected {self.buf[self.pos:self.pos + 20]!r})")
        self.pos = m.end()
        return json.loads(m.group())

    def end(self) -> None:
        """Only white space may follow the value."""
        while self._fill():
            m = _SPACE.match(self.buf, self.pos)
            self.pos = m.end() if m else self.pos
            if self.pos < len(self.buf):
                raise ValueError("not JSON (extra data after the value)")


def posts(f: Readable, max_string: int) -> Iterator[Any]:
    """The posts of a posts file, one at a time: the items of a top-level list, or of the list under
    ``ig_posts``/``posts`` of a top-level object (ValueError for another shape). Strings keep at
    most ``max_string`` characters."""
    r = Reader(f, max_string)
    ch = r._peek()
    if ch == "[":
        yield from r.items(0)
    elif ch == "{":
        r.pos += 1
        found = False
        if r._peek() == "}":
            r.pos += 1
        else:
            while True:
                key = r.string()
                r._expect(":")
                if key in ("ig_posts", "posts") and not found:
                    found = True
                    if r._peek() != "[":
                        raise ValueError("Instagram posts file of an unexpected shape (not a list)")
                    yield from r.items(1)
                else:
                    r.value(1)
                ch = r._peek()
                r.pos += 1
                if ch == "}":
                    break
                if ch != ",":
                    raise ValueError(f"not JSON (',' or '}}' expected, found {ch!r})")
    else:
        raise ValueError("Instagram posts file of an unexpected shape (not a list)")
    r.end()
