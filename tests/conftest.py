"""Test-wide setup: no network, no AWS credentials, Node 22 for jsii, shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# jsii runs the CDK in Node: use the pinned Node 22 from package.json, not the machine's.
os.environ["PATH"] = f"{REPO / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

# No test may reach AWS: fake credentials, a fixed region, and no shared config files.
for _name in (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "vsr-tests",
        "POWERTOOLS_SERVICE_NAME": "vsr-tests",
    }
)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_examples_path() -> Path:
    return SHARED / "examples" / "model_answers.jsonl"


# The X-Ray SDK (behind Powertools' Tracer) opens its UDP emitter socket when first imported;
# pytest-socket would refuse that inside a test, so it is imported here, before any test runs.
import aws_xray_sdk.core  # noqa: E402, F401
