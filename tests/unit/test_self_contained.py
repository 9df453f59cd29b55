"""The repository is the whole product: no code or test reads a file beside it."""

from __future__ import annotations

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
