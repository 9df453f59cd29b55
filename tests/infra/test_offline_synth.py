"""`cdk synth` must work with no AWS credentials, no region variables, no Docker and no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _clean_env(tmp_path: Path, context: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env["HOME"] = str(tmp_path)  # no ~/.aws either
    env["CDK_OUTDIR"] = str(tmp_path / "cdk.out")
    env["CDK_CONTEXT_JSON"] = json.dumps({"aws:cdk:bundling-stacks": [], **context})
    return env


def test_app_synthesizes_without_credentials_or_region(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cdk_app.app"],
        cwd=REPO,
        env=_clean_env(tmp_path, {}),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "cdk.out" / "manifest.json").read_text())
    stacks = {name: a for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    assert "Storage" in stacks
    for artifact in stacks.values():
        assert artifact["environment"].endswith(
            "/us-east-1"
        )  # region from configuration, account left to deploy time
        template = tmp_path / "cdk.out" / artifact["properties"]["templateFile"]
        assert json.loads(template.read_text())["Resources"]


def test_bad_configuration_is_one_clear_message_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cdk_app.app"],
        cwd=REPO,
        env=_clean_env(tmp_path, {"examples": "lots", "api_auth": "open"}),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "cdk.json context key 'examples'" in result.stderr
    assert "cdk.json context key 'api_auth'" in result.stderr
