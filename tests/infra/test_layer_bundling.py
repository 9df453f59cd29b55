"""The shared layer's pip step (bundling is skipped in the other tests): the platform tags every pinned wheel needs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stacks.constructs import runtime_function
from stacks.constructs.runtime_function import LAYER_REQUIREMENTS, PIP_PLATFORM_ARGS, _PipLayerBundling


def test_the_layer_pins_numpy_and_pip_may_take_its_manylinux_2_28_wheel_besides_manylinux2014() -> None:
    assert "numpy==2.4.6" in LAYER_REQUIREMENTS.read_text().splitlines()
    platforms = [PIP_PLATFORM_ARGS[i + 1] for i, arg in enumerate(PIP_PLATFORM_ARGS) if arg == "--platform"]
    # numpy 2.4.6 has no manylinux2014 aarch64 wheel for CPython 3.14; pydantic-core's are manylinux2014.
    assert platforms == ["manylinux2014_aarch64", "manylinux_2_28_aarch64"]
    assert {"--only-binary=:all:", "3.14", "cp"} <= set(PIP_PLATFORM_ARGS)


def test_the_bundling_runs_pip_with_those_arguments_into_the_layers_python_folder(
    tmp_path, monkeypatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda args, check: calls.append(args))
    monkeypatch.setattr(runtime_function.shutil, "copytree", lambda *args, **kwargs: None)
    assert _PipLayerBundling().try_bundle(str(tmp_path)) is True
    (args,) = calls
    assert args[args.index("--requirement") + 1] == str(LAYER_REQUIREMENTS)
    assert args[args.index("--target") + 1] == str(Path(tmp_path) / "python")
    assert args[-len(PIP_PLATFORM_ARGS) :] == list(PIP_PLATFORM_ARGS)
