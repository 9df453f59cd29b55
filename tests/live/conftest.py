"""The live tier: real AWS. Collected only by `make test-live` (pytest -m live with VSR_LIVE=1);
`make test` and CI deselect the `live` marker (pyproject addopts), and without working
credentials every live test is skipped."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def live_account() -> str:
    if os.environ.get("VSR_LIVE") != "1":
        pytest.skip("the live tier runs only with VSR_LIVE=1 (make test-live)")
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return str(boto3.client("sts").get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as exc:
        pytest.skip(f"no working AWS credentials: {exc}")
