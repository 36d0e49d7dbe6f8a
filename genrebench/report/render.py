"""A report as a list of blocks, rendered twice: Markdown (`index.md`) and a self-contained HTML page.

The HTML has its style inline and no scripts; figures are PNG files beside it referenced by relative
paths, so the folder opens in a browser from disk and can be zipped or copied as a whole.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field

_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Cell:
    text: str
    bold: bool = False
    href: str | None = None


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Warn:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[Cell | str]]
    row_classes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Image:
    src: str  # relative to the report folder
    alt: str


Block = Heading | Para | Warn | Bullets | Table | Image


def fmt(value, digits: int = 3) -> str:
    """A number for a table, rounded to `digits` decimals; missing or NaN as an em dash."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—" if value is None else str(value)
    return "—" if math.isnan(x) else f"{x:.{digits}f}"


def fmt_count(value) -> str:
    """Like `fmt`, but whole numbers (parameters, epochs, counts) without decimals."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return fmt(value)
    return f"{x:.0f}" if not math.isnan(x) and x.is_integer() else fmt(x)


def _cell(c: Cell | str) -> Cell:
    return c if isinstance(c, Cell) else Cell(str(c))


# ---- Markdown ------------------------------------------------------------------------------------

def _md_cell(c: Cell | str) -> str:
    c = _cell(c)
    text = c.text.replace("|", "\\|").replace("\n", " ")
    if c.href:
        text = f"[{text}]({c.href})"
    return f"**{text}**" if c.bold and text else text


def _md_block(b: Block) -> str:
    if isinstance(b, Heading):
        return f"{'#' * b.level} {b.text}"
    if isinstance(b, Para):
        return b.text
    if isinstance(b, Warn):
        return f"> **Warning:** {b.text}"
    if isinstance(b, Bullets):
        return "\n".join(f"- {item}" for item in b.items)
    if isinstance(b, Image):
        return f"![{b.alt}]({b.src})"
    lines = ["| " + " | ".join(_md_cell(h) for h in b.headers) + " |",
             "|" + "|".join(" --- " for _ in b.headers) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
    return "\n".join(lines)


def to_markdown(blocks: list[Block]) -> str:
    return "\n\n".join(_md_block(b) for b in blocks) + "\n"


# ---- HTML ----------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; overflow-wrap: anywhere; }
h1, h2, h3 { line-height: 1.2; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; overflow-wrap: normal; }
th { background: #f3f3f3; } tr.baseline td { background: #eef5ff; }
td strong { color: #0a5; } code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
.warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: .5em .8em; margin: .8em 0; }
img { max-width: 100%; border: 1px solid #eee; margin: .5em 0; }
"""


def _inline(text: str) -> str:
    """Escaped text with `code` spans."""
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text, quote=False))


def _html_cell(c: Cell | str, tag: str) -> str:
    c = _cell(c)
    body = _inline(c.text)
    if c.href:
        body = f'<a href="{html.escape(c.href)}">{body}</a>'
    if c.bold:
        body = f"<strong>{body}</strong>"
    return f"<{tag}>{body}</{tag}>"


def _html_table(t: Table) -> str:
    head = "<tr>" + "".join(_html_cell(h, "th") for h in t.headers) + "</tr>"
    body = []
    for i, row in enumerate(t.rows):
        cls = t.row_classes[i] if i < len(t.row_classes) and t.row_classes[i] else ""
        attr = f' class="{html.escape(cls)}"' if cls else ""
        body.append(f"<tr{attr}>" + "".join(_html_cell(c, "td") for c in row) + "</tr>")
    return f"<table>\n<thead>{head}</thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"


def _html_block(b: Block) -> str:
    if isinstance(b, Heading):
        return f"<h{b.level}>{_inline(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        return f"<p>{_inline(b.text)}</p>"
    if isinstance(b, Warn):
        return f'<p class="warn"><strong>Warning:</strong> {_inline(b.text)}</p>'
    if isinstance(b, Bullets):
        return "<ul>\n" + "\n".join(f"<li>{_inline(i)}</li>" for i in b.items) + "\n</ul>"
    if isinstance(b, Image):
        return f'<figure><img src="{html.escape(b.src)}" alt="{html.escape(b.alt)}"></figure>'
    return _html_table(b)


def to_html(blocks: list[Block], title: str) -> str:
    body = "\n".join(_html_block(b) for b in blocks)
    # The viewport line lets a phone lay the page out at its own width (tables scroll inside their box).
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
