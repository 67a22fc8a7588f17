"""A README (Markdown) as HTML that is safe on the repository page.

markdown-it-py with raw HTML off: ``<script>`` and every other tag in the source are escaped to text,
and its link validator drops ``javascript:``, ``vbscript:``, ``file:`` and non-image ``data:`` URLs
(the link stays as text). The CommonMark preset plus tables and strikethrough, as GitHub writes READMEs.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def render(text: str) -> str:
    return str(_MD.render(text))
