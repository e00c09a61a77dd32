"""User-controlled text (file and member names, captions, person and collection names, error
messages) made safe for Streamlit's markdown-rendering elements: shown as the plain text it is."""

from __future__ import annotations

import re

#: Every ASCII punctuation character markdown (CommonMark, GFM, Streamlit's :color[] and
#: :emoji: directives, $math$) could give meaning to; CommonMark lets each be backslash-escaped,
#: which also breaks autolinks (``http\://``, ``www\.``) and image syntax (``\!\[``).
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$@&=%^\"'/;,?])")


def md(value: object) -> str:
    """``value`` as text that markdown shows literally (one line: newlines become spaces)."""
    text = re.sub(r"[\r\n\t\f\v]+", " ", str(value))
    return _SPECIAL.sub(r"\\\1", text)
