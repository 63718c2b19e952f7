"""Turn an HTML page into readable plain text with the standard library parser."""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

# Elements whose content is never shown to a reader.
_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe", "canvas"})
# Elements set apart from their neighbours by line breaks on both sides.
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "details", "div", "dl", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "ul",
    }
)  # fmt: skip
# Elements that start a new line (list items, table rows, line breaks).
_LINE = frozenset({"br", "dd", "dt", "li", "tr"})
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "wbr"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._skip_depth = 0
        self._in_title = False
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP and tag not in _VOID:
            self._skip_depth += 1
        elif tag == "pre":
            self._pre_depth += 1
        if tag in _BLOCK or tag in _LINE:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        elif tag in {"td", "th"} and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP and self._skip_depth:
            self._skip_depth -= 1
        elif tag == "pre" and self._pre_depth:
            self._pre_depth -= 1
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif self._pre_depth:
            self.parts.append(data)
        elif not self._skip_depth:
            text = re.sub(r"\s+", " ", data)
            if not self.parts or self.parts[-1][-1:].isspace():
                text = text.lstrip()  # no space at the start of a line or after one
            if text:
                self.parts.append(text)


def html_to_text(markup: str) -> tuple[str, str]:
    """Extract the title and the readable text of an HTML document.

    Scripts, styles and other invisible elements are dropped; block elements
    become line breaks, list items start with ``"- "``; runs of blank lines are
    collapsed.

    Args:
        markup: The HTML source.

    Returns:
        A ``(title, text)`` pair; ``title`` is empty when the page has none.
    """
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    lines = (line.rstrip() for line in "".join(parser.parts).splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = re.sub(r"\s+", " ", "".join(parser.title_parts)).strip()
    return title, text
