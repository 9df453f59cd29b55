"""S3 data access of every step: small functions taking the S3 client (keys come from `routing.layout`).

One family: `put` / `put_json` / `put_jsonl` write, `get` / `get_text` / `get_json` read (None
for a missing object), `exists` and `head_metadata` ask about an object without reading it,
`list_keys` lists a prefix and `iter_jsonl` decodes JSONL text.

The steps' roles may list the bucket only under the run prefixes and `imports/` (an s3:prefix
condition), so S3 answers a request on a missing key with 403 AccessDenied instead of 404.
Two rules follow, one per kind of question:

* whether an object exists is asked with ListObjectsV2 on its exact key, not with HEAD or GET
  (`exists`, `head_metadata`);
* a read asks GetObject first and takes a 403 for "missing" only once a listing of the key
  confirms it is absent (`get`): a real denial stays an error that names itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .layout import SCRATCH_TAGGING


def exists(s3: Any, bucket: str, key: str) -> bool:
    # The key itself sorts first among the keys it prefixes.
    response = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(item["Key"] == key for item in response.get("Contents", []))


def list_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Keys under `prefix`, in S3's (lexicographic) order."""
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"]


# ------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    metadata: Mapping[str, str]


# Error codes of a GetObject on a key that does not exist. The steps' roles may list the bucket only
# under their run prefixes (an s3:prefix condition), and a GetObject request carries no prefix, so S3
# answers a missing key with 403 AccessDenied instead of 404 NoSuchKey. A 403 is taken for "missing"
# only once a listing of the key (allowed under the run prefix) confirms it is absent: a real denial
# (a missing grant, an SCP, a bucket policy) stays an error that names itself.
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED_CODES = frozenset({"AccessDenied", "403"})


def _absent(s3: Any, bucket: str, key: str) -> bool:
    try:
        return not exists(s3, bucket, key)
    except ClientError:
        return False  # cannot tell: the 403 stands


def get(s3: Any, bucket: str, key: str) -> StoredObject | None:
    """The object's bytes and user metadata, or None when it does not exist (404, or a 403 for a
    key a listing shows absent)."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in _MISSING_CODES or (code in _DENIED_CODES and _absent(s3, bucket, key)):
            return None
        raise
    return StoredObject(body=response["Body"].read(), metadata=response.get("Metadata") or {})


def get_text(s3: Any, bucket: str, key: str) -> str | None:
    """The object's UTF-8 text, or None when it does not exist."""
    stored = get(s3, bucket, key)
    return None if stored is None else stored.body.decode("utf-8")


def get_json(s3: Any, bucket: str, key: str) -> Any | None:
    """The object's decoded JSON, or None when it does not exist."""
    stored = get(s3, bucket, key)
    return None if stored is None else json.loads(stored.body)


def head_metadata(s3: Any, bucket: str, key: str) -> Mapping[str, str] | None:
    """The object's user metadata, or None if there is no such object."""
    if not exists(s3, bucket, key):
        return None
    return s3.head_object(Bucket=bucket, Key=key).get("Metadata") or {}


def iter_jsonl(text: str) -> Iterator[tuple[int, Any]]:
    """(line number, decoded value) of each non-blank line; raises ValueError naming a bad line."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {number}: not JSON ({exc})") from None


# ------------------------------------------------------------------------------------ writing


def put(
    s3: Any,
    bucket: str,
    key: str,
    body: bytes | str,
    content_type: str,
    *,
    metadata: Mapping[str, str] | None = None,
    scratch: bool = False,
) -> None:
    """Write one object; text is encoded as UTF-8; `scratch` tags it for the lifecycle rule to expire."""
    extra: dict[str, Any] = {}
    if metadata:
        extra["Metadata"] = dict(metadata)
    if scratch:
        extra["Tagging"] = SCRATCH_TAGGING
    data = body.encode("utf-8") if isinstance(body, str) else body
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type, **extra)


def put_json(s3: Any, bucket: str, key: str, value: Any) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n"
    put(s3, bucket, key, text, "application/json")


def put_jsonl(s3: Any, bucket: str, key: str, rows: Iterable[Any], *, scratch: bool = False) -> None:
    """One compact JSON value per line (the records, parts and datasets of a run)."""
    text = "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows)
    put(s3, bucket, key, text, "application/x-ndjson", scratch=scratch)
