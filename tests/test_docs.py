"""The docs must not drift from the code: every `genrebench` command they show parses against the real CLI, and
every relative link (and its #anchor) leads somewhere. `make docs-check` runs just this file.

Commands are parsed, never run: click's `make_context` checks options, arguments and value types without
calling the command, so the check takes milliseconds and touches no store, dataset or network.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
import typer.main

import genrebench.cli

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Fenced blocks whose lines are shell commands; yaml, text and unlabelled-but-other blocks are not.
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}
FENCE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
# A shell operator ends the genrebench part of a line (`genrebench list && ...`).
SHELL_OPERATORS = {"&&", "||", "|", ";", ">", ">>", "2>", "2>&1", "&"}
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _click_class(name: str) -> type[Exception]:
    """A click exception class as typer raises it. typer >= 0.29 vendors click (`typer._click`), so the `click`
    package's classes would not catch them; `typer.BadParameter` (public) derives from the right ones."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


UsageError = _click_class("UsageError")        # NoSuchOption, BadParameter, MissingParameter, ... derive from it
ClickException = _click_class("ClickException")


@dataclass(frozen=True)
class DocCommand:
    """One `genrebench ...` command shown in a doc: where it is, as written, and its arguments."""

    path: Path
    line: int
    text: str
    args: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"


def shell_blocks(text: str) -> list[list[tuple[int, str]]]:
    """The lines (1-based number, text) of every ```bash / ```sh / plain ``` block; indented fences (inside list
    items) count too."""
    blocks: list[list[tuple[int, str]]] = []
    fence, current = None, None
    for number, line in enumerate(text.splitlines(), start=1):
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group("fence")
                current = [] if m.group("lang").lower() in SHELL_LANGS else None
            continue
        if m and m.group("fence")[0] == fence[0] and len(m.group("fence")) >= len(fence) and not m.group("lang"):
            if current is not None:
                blocks.append(current)
            fence, current = None, None
        elif current is not None:
            current.append((number, line))
    return blocks


def logical_lines(block: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Lines joined across trailing-backslash continuations, numbered by their first line."""
    out: list[tuple[int, str]] = []
    start, parts = None, []
    for number, line in block:
        stripped = line.rstrip()
        if start is None:
            start = number
        if stripped.endswith("\\"):
            parts.append(stripped[:-1])
            continue
        parts.append(stripped)
        out.append((start, " ".join(p.strip() for p in parts)))
        start, parts = None, []
    if parts:  # a block that ends on a continuation: keep what there is
        out.append((start, " ".join(p.strip() for p in parts)))
    return out


def command_args(line: str) -> list[str] | None:
    """The arguments after `genrebench` on a shell line, or None when the line runs something else.

    Strips a `$ ` prompt, `.venv/bin/`, `python -m`, leading `VAR=value` assignments and a trailing `# comment`
    (shlex drops a `#` only where it starts a word, as bash does, so `a#b` survives).
    """
    text = line.strip()
    if text.startswith("$ "):
        text = text[2:].lstrip()
    if not text or text.startswith("#"):
        return None
    tokens = shlex.split(text, comments=True)
    while tokens and ENV_ASSIGNMENT.match(tokens[0]):
        tokens = tokens[1:]
    if tokens[:2] in (["python", "-m"], ["python3", "-m"], [".venv/bin/python", "-m"]):
        tokens = tokens[2:]
    if not tokens or tokens[0].removeprefix(".venv/bin/") != "genrebench":
        return None
    args = tokens[1:]
    for i, token in enumerate(args):
        if token in SHELL_OPERATORS:
            return args[:i]
    return args


def collect_commands(path: Path, text: str | None = None) -> list[DocCommand]:
    """Every genrebench command in the shell blocks of one markdown file."""
    text = path.read_text(encoding="utf-8") if text is None else text
    found = []
    for block in shell_blocks(text):
        for number, line in logical_lines(block):
            args = command_args(line)
            if args is not None:
                found.append(DocCommand(path, number, line.strip(), tuple(args)))
    return found


def parse_cli(args: list[str] | tuple[str, ...]):
    """Parse `genrebench ARGS` down the subcommand chain without invoking anything; returns the last click context.

    Raises click's UsageError (BadParameter, NoSuchOption, MissingParameter, ...) for an unknown command or
    option, a missing required argument or a value of the wrong type.
    """
    cmd = typer.main.get_command(genrebench.cli.app)
    ctx = cmd.make_context("genrebench", list(args), resilient_parsing=False)
    while hasattr(cmd, "resolve_command"):  # a group: its subcommand name and arguments are still to parse
        # click >= 8.2 keeps the subcommand name in `_protected_args` (`protected_args` is deprecated there).
        protected = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args
        rest = [*protected, *ctx.args]
        if not rest:
            raise UsageError(f"{ctx.command_path} needs a command", ctx=ctx)
        name, sub, rest = cmd.resolve_command(ctx, rest)
        ctx = sub.make_context(name, rest, parent=ctx, resilient_parsing=False)
        cmd = sub
    return ctx


COMMANDS = [c for path in DOC_FILES for c in collect_commands(path)]


def test_docs_show_commands() -> None:
    """An empty parametrization would silently check nothing: the README and the docs both show commands."""
    assert COMMANDS, "no genrebench command found in README.md or docs/*.md: is the collector broken?"
    files = {c.path for c in COMMANDS}
    assert ROOT / "README.md" in files
    assert any(p.parent == ROOT / "docs" for p in files)


@pytest.mark.parametrize("command", COMMANDS, ids=[c.where for c in COMMANDS])
def test_doc_command_parses(command: DocCommand) -> None:
    problem = None
    try:
        parse_cli(command.args)
    except typer.Exit as exc:  # an eager --help shown in a doc prints the help and exits 0
        problem = f"exits {exc.exit_code} while parsing" if exc.exit_code else None
    except ClickException as exc:
        problem = exc.format_message()
    if problem:  # failed outside the except block, so the report is this one line, not a chained traceback
        pytest.fail(f"{command.where}: `{command.text}` does not match the CLI: {problem}", pytrace=False)


# ---- the checker itself: it must find commands where docs put them, and it must be able to fail ----------------

SAMPLE = """\
Some text with `genrebench run not-in-a-block` inline.

```bash
$ genrebench run baseline --quick   # a comment
.venv/bin/genrebench study baseline \\
  --trials 3 --jobs 2               # continued
MLFLOW_TRACKING_URI=http://h:5000 genrebench runs --limit 5
genrebench list && echo done
optuna studies --storage sqlite:///mlruns/optuna.db
```

- a list item
  ```sh
  genrebench models 'vgg*'
  ```

```yaml
genrebench: not a command
```

```
python -m genrebench report demo
```
"""


def test_collector_finds_every_form(tmp_path: Path) -> None:
    found = collect_commands(tmp_path / "sample.md", SAMPLE)
    assert [(c.line, c.args) for c in found] == [
        (4, ("run", "baseline", "--quick")),
        (5, ("study", "baseline", "--trials", "3", "--jobs", "2")),
        (7, ("runs", "--limit", "5")),
        (8, ("list",)),
        (14, ("models", "vgg*")),
        (22, ("report", "demo")),
    ]


@pytest.mark.parametrize("args", [
    ["run", "baseline", "--no-such-option"],   # unknown option
    ["predict", "--run", "RUN_ID"],            # missing required argument (the audio files)
    ["runs", "--limit", "many"],               # wrong value type
    ["runs", "--limit", "0"],                  # out of range (min=1)
    ["no-such-command"],                       # unknown command
    ["data"],                                  # a group without its command
])
def test_parse_cli_rejects(args: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_cli(args)


def test_parse_cli_accepts_placeholders() -> None:
    ctx = parse_cli(["predict", "song.wav", "--run", "RUN_ID", "--top", "5"])
    assert ctx.params["run"] == "RUN_ID"
    assert ctx.params["top"] == 5


# ---- links ----------------------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(?P<target>\S+)")
INLINE_CODE = re.compile(r"`+[^`]*`+")


@dataclass(frozen=True)
class DocLink:
    path: Path
    line: int
    target: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"


def prose_lines(text: str) -> list[tuple[int, str]]:
    """Lines outside fenced blocks, with inline code removed (a link shown as code is not a link)."""
    out, fence = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        m = FENCE.match(line)
        if m and (fence is None or (m.group("fence")[0] == fence[0] and len(m.group("fence")) >= len(fence))):
            fence = m.group("fence") if fence is None else None
            continue
        if fence is None:
            out.append((number, INLINE_CODE.sub("", line)))
    return out


def collect_links(path: Path) -> list[DocLink]:
    links = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        targets = [m.group("target") for m in LINK.finditer(line)]
        targets += [m.group("target") for m in REFERENCE.finditer(line)]
        links += [DocLink(path, number, t) for t in targets]
    return links


def is_external(target: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target))


def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors for a file's headings: lower case, punctuation dropped, spaces to hyphens, repeats -1, -2."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


LINKS = [link for path in DOC_FILES for link in collect_links(path) if not is_external(link.target)]


def test_docs_have_links() -> None:
    assert LINKS, "no relative link found in README.md or docs/*.md: is the collector broken?"


@pytest.mark.parametrize("link", LINKS, ids=[f"{lk.where}:{lk.target}" for lk in LINKS])
def test_relative_link_resolves(link: DocLink) -> None:
    file_part, _, anchor = link.target.partition("#")
    target = (link.path.parent / file_part).resolve() if file_part else link.path
    if not target.exists():
        pytest.fail(f"{link.where}: link {link.target!r} points at {target}, which does not exist", pytrace=False)
    if anchor and target.suffix == ".md" and anchor not in heading_anchors(target):
        pytest.fail(f"{link.where}: link {link.target!r}: {target.name} has no heading with anchor #{anchor} "
                    f"(has: {', '.join(sorted(heading_anchors(target)))})", pytrace=False)
