"""The README and docs/ stay true: links resolve, figures are current, and the commands they show run.

Commands are taken from the fenced code blocks: every `make ...` line is planned with
`make -n` (the target exists, its variables parse), and every `vsr ...` line is parsed by the
CLI itself (the command, its options and arguments exist), without calling AWS.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import typer

from cdk_app.operator import cli
from tests.conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
README_LIMIT_BYTES = 15_000
# Typer ships its own copy of click: its usage errors are the base of typer.BadParameter.
UsageError = typer.BadParameter.__base__


def _figures():
    spec = importlib.util.spec_from_file_location("docs_figures", REPO / "docs" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    prose = FENCE.sub("", text)
    return {_slug(line.lstrip("#")) for line in prose.splitlines() if re.match(r"^#{1,6} ", line)}


def _code_lines(text: str) -> list[str]:
    lines = []
    for block in FENCE.findall(text):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if line:
                lines.append(line)
    return lines


def _commands(prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for line in _code_lines(page.read_text(encoding="utf-8")):
            if line.startswith(prefixes):
                words = shlex.split(line, comments=True)
                found.append((page.name, shlex.join(words)))
    return sorted(set(found))


def test_the_readme_is_a_front_page() -> None:
    assert (REPO / "README.md").stat().st_size <= README_LIMIT_BYTES


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_resolves(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file).resolve() if file else page
        if not resolved.is_file() or not resolved.is_relative_to(REPO):
            broken.append(f"{target}: no such file")
        elif (
            anchor
            and resolved.suffix == ".md"
            and anchor not in _anchors(resolved.read_text(encoding="utf-8"))
        ):
            broken.append(f"{target}: no such heading")
    assert not broken, f"{page.name}: {broken}"


def test_every_docs_page_is_indexed_from_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    linked = {target.partition("#")[0] for target in LINK.findall(readme)}
    missing = [page.name for page in PAGES[1:] if f"docs/{page.name}" not in linked]
    assert not missing


def test_the_cost_figures_are_what_vsr_cost_computes() -> None:
    figures = _figures()
    printed = figures.blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert printed["cost"] == figures.cost_table(), "stale: run `make docs FIGURES=cost`"


def test_every_figure_block_has_its_command() -> None:
    figures = _figures()
    for page in PAGES:
        for name in figures.blocks(page.read_text(encoding="utf-8")):
            assert name in figures.FIGURES and str(page.relative_to(REPO)) in figures.FIGURES[name][0]


MAKE_COMMANDS = _commands(("make ",))


@pytest.mark.parametrize(("page", "command"), MAKE_COMMANDS)
def test_make_commands_in_the_docs_exist(page: str, command: str) -> None:
    words = shlex.split(command)
    planned = subprocess.run(
        ["make", "-n", "--no-print-directory", *words[1:]], cwd=REPO, capture_output=True, text=True,
        env=dict(os.environ), timeout=60, check=False,
    )  # fmt: skip
    assert planned.returncode == 0, f"{page}: {command}: {planned.stderr}"


VSR_COMMANDS = _commands(("vsr ", ".venv/bin/vsr "))


def _parse(words: list[str]) -> None:
    """Parse `vsr` arguments as the CLI would, down to the subcommand, without running anything."""
    command = typer.main.get_command(cli.app)
    ctx = command.make_context("vsr", list(words), resilient_parsing=False)
    while isinstance(command, typer.core.TyperGroup):
        args = [*ctx._protected_args, *ctx.args]
        if not args:
            return
        name, command, rest = command.resolve_command(ctx, args)
        assert command is not None, f"no command {name!r}"
        ctx = command.make_context(name, rest, parent=ctx)


@pytest.mark.parametrize(("page", "command"), VSR_COMMANDS)
def test_vsr_commands_in_the_docs_parse(page: str, command: str) -> None:
    words = shlex.split(command)[1:]
    try:
        _parse(words)
    except UsageError as exc:  # pragma: no cover - the assertion message is the point
        pytest.fail(f"{page}: {command}: {exc.format_message()}")


def test_the_command_extraction_finds_the_quick_start() -> None:
    assert ("README.md", "make test") in MAKE_COMMANDS
    assert any(command.startswith(".venv/bin/vsr cost") for _, command in VSR_COMMANDS)


def test_a_misspelt_option_is_caught() -> None:
    with pytest.raises(UsageError):
        _parse(["cost", "--exampels", "5"])
    with pytest.raises(UsageError):
        _parse(["no-such-command"])
