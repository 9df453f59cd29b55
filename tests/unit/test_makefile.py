"""The Makefile's commands work as the README writes them: stack selection, context, credentials."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True,
        env=env or dict(os.environ), timeout=120, check=False,
    )  # fmt: skip


def test_a_stack_name_instead_of_an_id_is_one_line_naming_the_ids() -> None:
    result = _make("deploy", "STACKS=vsr-dev-storage")
    assert result.returncode == 2
    assert "unknown stack id(s) 'vsr-dev-storage'" in result.stderr
    assert "Storage RouterApi Pipeline" in result.stderr


@pytest.mark.parametrize("target", ["deploy", "destroy", "diff"])
def test_known_stack_ids_are_accepted(target: str) -> None:
    assert _make("check-stacks", "STACKS=Storage RouterApi").returncode == 0
    planned = _make("-n", target, "STACKS=Storage RouterApi")
    assert planned.returncode == 0, planned.stderr
    assert f"{target} Storage RouterApi" in planned.stdout


def test_diff_never_passes_all_which_cdk_diff_rejects() -> None:
    planned = _make("-n", "diff")
    assert planned.returncode == 0, planned.stderr
    assert "cdk diff" in planned.stdout and "--all" not in planned.stdout


def test_deploy_and_destroy_default_to_every_stack() -> None:
    for target in ("deploy", "destroy"):
        assert f"{target} --all" in _make("-n", target).stdout


def test_context_becomes_one_c_flag_per_setting() -> None:
    planned = _make("-n", "synth", "CONTEXT=examples=500 api_auth=api_key")
    assert "cdk synth --quiet -c 'examples=500' -c 'api_auth=api_key'" in planned.stdout


def test_deploy_without_credentials_says_what_to_do(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # A throwaway HOME: no ~/.aws, and npm's cache (~/.npm) is not written into the repository.
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true",
               HOME=str(tmp_path))  # fmt: skip
    result = _make("check-credentials", env=env)
    assert result.returncode != 0
    assert "no AWS credentials found" in result.stderr and "aws configure" in result.stderr
    assert "Traceback" not in result.stderr


def test_destroy_cleans_up_the_stage_it_destroys() -> None:
    """`vsr cleanup` and `cdk destroy` get the same settings: never the default stage's models for another's."""
    planned = _make("-n", "destroy", "CONTEXT=stage=qa").stdout
    assert "vsr -c 'stage=qa' cleanup" in planned
    assert "cdk destroy --all -c 'stage=qa'" in planned
