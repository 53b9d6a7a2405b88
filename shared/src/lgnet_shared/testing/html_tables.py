"""A page's tables as a browser builds them. The HTML parsing algorithm moves text and elements that stand in a table
but outside its cells before the table ("foster parenting"): a note meant for a row shows above the whole table, away
from the row it is about. String checks on the markup do not see it; this walks the page as the parser would and names
what stands outside a cell."""

from __future__ import annotations

from html.parser import HTMLParser

TABLE = {"table", "thead", "tbody", "tfoot", "tr"}
CELL = {"td", "th", "caption"}
# What may stand in a table outside a cell without being moved out of it.
ALLOWED_IN_TABLE = TABLE | CELL | {"colgroup", "col", "script", "style", "template"}
IMPLIED_BY_START = {
    "td": {"td", "th"},
    "th": {"td", "th"},
    "tr": {"td", "th", "tr"},
    **{t: {"td", "th", "tr", "thead", "tbody", "tfoot"} for t in ("thead", "tbody", "tfoot")},
}
IMPLIED_BY_END = {
    "tr": {"td", "th"},
    **{t: {"td", "th", "tr"} for t in ("thead", "tbody", "tfoot")},
    "table": {"td", "th", "tr", "thead", "tbody", "tfoot"},
}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Walk(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []  # the table family's open elements, innermost last
        self.problems: list[str] = []

    def _in_table_outside_cell(self) -> bool:
        return bool(self.stack) and self.stack[-1] in TABLE

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._in_table_outside_cell() and tag not in ALLOWED_IN_TABLE:
            hidden = tag == "input" and ("type", "hidden") in attrs
            if not hidden:
                self.problems.append(
                    f"<{tag}> inside <{self.stack[-1]}> but outside a cell, at line {self.getpos()[0]}"
                )
        if tag in TABLE | CELL:
            self._close_implied(IMPLIED_BY_START.get(tag, set()))
            self.stack.append(tag)

    def _close_implied(self, closed: set[str]) -> None:
        """End tags the markup may leave out (`</td>` before the next cell, `</tr>` before the next row)."""
        while self.stack and self.stack[-1] in closed:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID or tag not in TABLE | CELL:
            return
        self._close_implied(IMPLIED_BY_END.get(tag, set()))
        if not self.stack or self.stack[-1] != tag:
            opened = self.stack[-1] if self.stack else "nothing"
            self.problems.append(f"</{tag}> closes {opened}, at line {self.getpos()[0]}")
            if tag in self.stack:  # what the browser does: closes up to it
                del self.stack[len(self.stack) - 1 - self.stack[::-1].index(tag) :]
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if data.strip() and self._in_table_outside_cell():
            self.problems.append(f"text {data.strip()[:40]!r} inside <{self.stack[-1]}> but outside a cell")


def table_problems(html: str) -> list[str]:
    """What a browser would move out of the page's tables (empty when every table is well built)."""
    walk = _Walk()
    walk.feed(html)
    walk.close()
    return walk.problems
