"""The repository is the whole product: no code or test reads a file beside it."""

from __future__ import annotations

import os

import pytest

from tests.conftest import OUTSIDE_READS, REPO, OutsideRepositoryRead


def test_opening_a_file_beside_the_repository_is_refused() -> None:
    sibling = REPO.parent / "shared" / "examples" / "model_answers.jsonl"
    before = len(OUTSIDE_READS)
    with pytest.raises(OutsideRepositoryRead, match="outside the repository"):
        sibling.open(encoding="utf-8")
    assert OUTSIDE_READS[before:] == [str(sibling)]
    del OUTSIDE_READS[before:]  # this probe was on purpose; the session check stays for real reads


def test_listing_the_parent_folder_is_refused() -> None:
    import os

    with pytest.raises(OutsideRepositoryRead):
        os.listdir(REPO.parent)
    OUTSIDE_READS.pop()


def test_files_inside_the_repository_open_as_usual() -> None:
    assert (REPO / "pyproject.toml").read_text(encoding="utf-8").startswith("[project]")


def test_a_clone_in_the_temp_folder_may_create_scratch_files_beside_itself(tmp_path) -> None:
    """A clone at /tmp/clone: jsii and tempfile write /tmp/tmpXXXX/...; those are not siblings."""
    from tests.conftest import _outside_repository_guard

    clone = tmp_path / "clone"
    clone.mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "DESIGN.md").write_text("guidance")
    (tmp_path / "pytest-of-someone").mkdir()
    hook, seen = _outside_repository_guard(clone)
    scratch = tmp_path / "tmpabc123"
    scratch.mkdir()  # created after the session started: jsii's runtime folder
    hook("open", (str(scratch / "bin" / "jsii-runtime.js"), "wb", os.O_WRONLY | os.O_CREAT))
    hook("open", (str(tmp_path / "tmpfile"), None, os.O_RDWR | os.O_CREAT | os.O_EXCL))  # mkstemp
    hook("open", (str(tmp_path / "pytest-of-someone" / "x"), "r", os.O_RDONLY))
    hook("open", (str(tmp_path), "w+b", os.O_RDWR | getattr(os, "O_TMPFILE", 0)))  # TemporaryFile
    if hasattr(os, "O_TMPFILE"):  # tempfile's own opener: os.open(dir, O_RDWR | O_TMPFILE)
        hook("open", (str(tmp_path), None, os.O_RDWR | os.O_TMPFILE))
    assert seen == []
    for path in (tmp_path / "shared" / "DESIGN.md", tmp_path / "missing-sibling" / "a.txt"):
        with pytest.raises(OutsideRepositoryRead):
            hook("open", (str(path), "r", os.O_RDONLY))
    with pytest.raises(OutsideRepositoryRead):
        hook("os.listdir", (str(tmp_path),))
    if hasattr(os, "O_TMPFILE"):
        with pytest.raises(OutsideRepositoryRead):  # a directory opened to read it is not a new file
            hook("open", (str(tmp_path), None, os.O_RDONLY | os.O_DIRECTORY))
    assert len(seen) == 3 + hasattr(os, "O_TMPFILE")


def test_a_refused_read_in_an_xdist_worker_fails_the_whole_run(monkeypatch) -> None:
    """Under pytest-xdist a worker's exit status is not the run's: the controller collects the reads."""
    from types import SimpleNamespace

    from tests import conftest

    monkeypatch.setattr(conftest, "OUTSIDE_READS", ["/elsewhere/shared/DESIGN.md"])
    monkeypatch.setattr(conftest, "_WORKER_OUTSIDE_READS", set())
    worker = SimpleNamespace(config=SimpleNamespace(workeroutput={}), exitstatus=0)
    conftest.pytest_sessionfinish(worker, 0)
    assert worker.config.workeroutput == {"outside_reads": ["/elsewhere/shared/DESIGN.md"]}

    monkeypatch.setattr(conftest, "OUTSIDE_READS", [])
    conftest.pytest_testnodedown(SimpleNamespace(workeroutput=worker.config.workeroutput), None)
    controller = SimpleNamespace(config=SimpleNamespace(), exitstatus=0)
    conftest.pytest_sessionfinish(controller, 0)
    assert controller.exitstatus == 1
