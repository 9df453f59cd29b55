"""A run's report in the data bucket: where it is (from the run layout) and reading it.

The Report step writes `report.json`, `report.md` and `report.html` at the run's report keys
(`routing.layout.RunLayout`); `vsr report` reads them back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from routing.layout import RunLayout

from cdk_app.operator.errors import OperatorError


def report_key(run_id: str, kind: str = "json") -> str:
    """The key of a run's report: `kind` is json, md or html."""
    layout = RunLayout(run_id)
    return {"json": layout.report_json_key, "md": layout.report_md_key, "html": layout.report_html_key}[kind]


def read_object(s3: Any, bucket: str, key: str) -> bytes | None:
    """An object's bytes, or None when the key does not exist."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return None
        raise


def read_json_object(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """A JSON object from S3, or None when the key does not exist."""
    body = read_object(s3, bucket, key)
    if body is None:
        return None
    try:
        value = json.loads(body)
    except ValueError:
        raise OperatorError(f"s3://{bucket}/{key} is not valid JSON") from None
    if not isinstance(value, dict):
        raise OperatorError(f"s3://{bucket}/{key} is not a JSON object")
    return value


def download(s3: Any, bucket: str, key: str, path: Path) -> bool:
    """Save an object to `path`; False when the key does not exist."""
    body = read_object(s3, bucket, key)
    if body is None:
        return False
    path.write_bytes(body)
    return True
