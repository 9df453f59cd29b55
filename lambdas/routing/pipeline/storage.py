"""S3 data access of the pipeline: small functions taking the S3 client.

Whether an optional object exists is asked with ListObjectsV2 on its exact key, not with
HEAD or GET: without s3:ListBucket on the whole bucket S3 answers 403 (not 404) for a
missing key, and the functions' roles may list only the `runs/` and `imports/` prefixes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


def exists(s3: Any, bucket: str, key: str) -> bool:
    # The key itself sorts first among the keys it prefixes.
    response = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(item["Key"] == key for item in response.get("Contents", []))


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    metadata: Mapping[str, str]


def read(s3: Any, bucket: str, key: str) -> StoredObject | None:
    """The object's bytes and user metadata, or None if there is no such object."""
    return read_listed(s3, bucket, key) if exists(s3, bucket, key) else None


def read_listed(s3: Any, bucket: str, key: str) -> StoredObject:
    """An object known to exist (e.g. just listed)."""
    response = s3.get_object(Bucket=bucket, Key=key)
    return StoredObject(body=response["Body"].read(), metadata=response.get("Metadata") or {})


def read_json(s3: Any, bucket: str, key: str) -> Any | None:
    stored = read(s3, bucket, key)
    return None if stored is None else json.loads(stored.body)


def head_metadata(s3: Any, bucket: str, key: str) -> Mapping[str, str] | None:
    """The object's user metadata, or None if there is no such object."""
    if not exists(s3, bucket, key):
        return None
    return s3.head_object(Bucket=bucket, Key=key).get("Metadata") or {}


def write(
    s3: Any,
    bucket: str,
    key: str,
    body: bytes,
    *,
    content_type: str,
    metadata: Mapping[str, str] | None = None,
    tagging: str | None = None,
) -> None:
    extra: dict[str, Any] = {}
    if metadata:
        extra["Metadata"] = dict(metadata)
    if tagging:
        extra["Tagging"] = tagging
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, **extra)


def write_json(s3: Any, bucket: str, key: str, value: Any) -> None:
    body = json.dumps(value, indent=2, ensure_ascii=False, default=str).encode()
    write(s3, bucket, key, body, content_type="application/json")


def list_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Keys under `prefix`, in S3's (lexicographic) order."""
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"]
