"""User-controlled text (file and member names, captions, person and collection names, error
messages) made safe for Streamlit's markdown-rendering elements: shown as the plain text it is."""

from __future__ import annotations

import re

#: Every ASCII punctuation character markdown (CommonMark, GFM, Streamlit's :color[] and
#: :emoji: directives, $math$) could give meaning to; CommonMark lets each be backslash-escaped,
#: which breaks links and image syntax (``\!\[``).
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$@&=%^\"'/;,?])")
#: GFM still turns escaped ``www.x.org``, ``http://`` and ``a@b.org`` into links: an invisible
#: WORD JOINER (U+2060) after each ``.``, ``:`` and ``@`` breaks them and changes nothing seen.
_AUTOLINK = re.compile(r"(\\[.:@])")


def md(value: object) -> str:
    """``value`` as text that markdown shows literally (one line: newlines become spaces)."""
    text = re.sub(r"[\r\n\t\f\v]+", " ", str(value))
    return _AUTOLINK.sub("\\1\u2060", _SPECIAL.sub(r"\\\1", text))


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 face``, ``2 faces``, ``0 people`` (``many`` for irregular plurals)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
