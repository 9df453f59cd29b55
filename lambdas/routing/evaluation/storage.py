"""S3 layout of a run's evaluation and report, and small S3 helpers taking their client.

Keys (public contract, README "S3 layout"), all under the run's prefix `runs/<run_id>/`:

* `evaluation/parts/<n>.jsonl`: answers finished by one Evaluate invocation (tagged scratch);
* `evaluation/results.jsonl`: every answer record, query-major, once all are in;
* `evaluation/manifest.json`: candidates, inference settings, counts of the evaluation;
* `evaluation/input/judge.jsonl`: the judge job's precomputed-inference dataset;
* `evaluation/output/<job name>/...`: what the judge job writes;
* `report/report.json`, `report/report.md`, `report/report.html`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import ClientError

SCRATCH_TAGGING = "lifecycle=scratch"


class RunKeys:
    """Every S3 key of one run's evaluation and report."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.evaluation = f"{self.prefix}evaluation/"
        self.parts = f"{self.evaluation}parts/"
        self.results = f"{self.evaluation}results.jsonl"
        self.manifest = f"{self.evaluation}manifest.json"
        self.judge_input = f"{self.evaluation}input/judge.jsonl"
        self.judge_output = f"{self.evaluation}output/"
        self.report_json = f"{self.prefix}report/report.json"
        self.report_md = f"{self.prefix}report/report.md"
        self.report_html = f"{self.prefix}report/report.html"

    def part(self, name: str) -> str:
        return f"{self.parts}{name}.jsonl"


def put_text(s3: Any, bucket: str, key: str, text: str, content_type: str, *, scratch: bool = False) -> None:
    extra = {"Tagging": SCRATCH_TAGGING} if scratch else {}
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType=content_type, **extra)


def put_jsonl(
    s3: Any, bucket: str, key: str, rows: Iterable[dict[str, Any]], *, scratch: bool = False
) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows)
    put_text(s3, bucket, key, text, "application/x-ndjson", scratch=scratch)


def put_json(s3: Any, bucket: str, key: str, value: Any) -> None:
    put_text(s3, bucket, key, json.dumps(value, indent=2, ensure_ascii=False) + "\n", "application/json")


# Error codes of a GetObject on a key that does not exist. The steps' roles may list the bucket only
# under their run prefixes (an s3:prefix condition), and a GetObject request carries no prefix, so S3
# answers a missing key with 403 AccessDenied instead of 404 NoSuchKey. A 403 is taken for "missing"
# only once a listing of the key (allowed under the run prefix) confirms it is absent: a real denial
# (a missing grant, an SCP, a bucket policy) stays an error that names itself.
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED_CODES = frozenset({"AccessDenied", "403"})


def _absent(s3: Any, bucket: str, key: str) -> bool:
    try:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    except ClientError:
        return False  # cannot tell: the 403 stands
    return not any(item["Key"] == key for item in listed)


def get_text(s3: Any, bucket: str, key: str) -> str | None:
    """The object's text, or None when it does not exist (404, or a 403 for a key a listing shows absent)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in _MISSING_CODES or (code in _DENIED_CODES and _absent(s3, bucket, key)):
            return None
        raise
    return body.read().decode("utf-8")


def iter_jsonl(text: str) -> Iterator[tuple[int, Any]]:
    """(line number, decoded value) of each non-blank line; raises ValueError naming a bad line."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {number}: not JSON ({exc})") from None


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def console_url(bucket: str, key: str, region: str) -> str:
    """The S3 console page of an object (where a user opens or downloads it)."""
    return f"https://{region}.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={key}"
