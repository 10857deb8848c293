"""Values into markdown (PR comments, run summaries) that render as the text they are: no links, mentions or HTML."""

from __future__ import annotations

import re
from typing import Any

_ZWSP = "\u200b"  # a zero-width space breaks GitHub's autolinks, @mentions and #references without showing
_PUNCT = re.compile(r"([\\`*_\[\]<>|~!])")
_AUTOLINK = re.compile(r"(?i)(https?|ftp|file|mailto)(:)|\b(www)(\.)")
_MENTION = re.compile(r"([@#])(?=[\w-])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _one_line(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return _CONTROL.sub("", text)


def md_text(value: Any) -> str:
    """`value` as literal markdown text on one line, safe in a table cell: markdown punctuation escaped, HTML
    shown as text, autolinks (http://, www.), @mentions and #references defused."""
    text = _one_line(value).replace("&", "&amp;")
    text = _PUNCT.sub(r"\\\1", text)
    text = _AUTOLINK.sub(lambda m: (m.group(1) or m.group(3)) + _ZWSP + (m.group(2) or m.group(4)), text)
    return _MENTION.sub(lambda m: m.group(1) + _ZWSP, text)


def md_code(value: Any, in_table: bool = True) -> str:
    """`value` as an inline code span that no backtick inside it can close early (CommonMark: a longer fence)."""
    text = _one_line(value)
    if text == "":
        return "` `"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith(("`", " ")) or text.endswith(("`", " ")):
        text = f" {text} "
    if in_table:
        text = text.replace("|", "\\|")  # GFM splits table cells on | even inside code spans
    return f"{fence}{text}{fence}"
