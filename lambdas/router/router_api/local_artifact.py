"""Tier-0's artifact checks: which S3 object a reference may name, its sha256, its parsing and modalities.

Imported by the loading thread of `router_api.local_tier` (not with the handler: the cold import
counts). A reference names `RunLayout(<run id>).local_model_key` in the data bucket and carries the
object's sha256; the object must hash to it, parse as `routing.local_model` (`load_local_model`),
and be trained for the router's modalities. Every refusal is a `LocalModelUnusable` whose message
says why in one printable line.
"""

from __future__ import annotations

import hashlib
import re

from routing.active_model import LocalModelRef
from routing.layout import RunLayout, split_s3_uri
from routing.local_model import LocalModelInvalid, load_local_model

from .local_tier import LoadedLocalModel, LocalModelUnusable, printable

# The run-id pattern of routing.pipeline.names.RUN_ID_PATTERN (that module imports pydantic, which the
# router may not; tests/api hold the two equal).
RUN_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}"
LOCAL_MODEL_NAME_PREFIX = "local:"
_PLACEHOLDER = "\x00"
# RunLayout(<run id>).local_model_key, its group the run id.
_LOCAL_MODEL_KEY = re.compile(
    re.escape(RunLayout(_PLACEHOLDER).local_model_key).replace(re.escape(_PLACEHOLDER), f"({RUN_ID})")
)


def artifact_key(ref: LocalModelRef, bucket: str) -> tuple[str, str]:
    """(key, run id) of the artifact `ref` names, or LocalModelUnusable when it is not one this router reads."""
    try:
        ref_bucket, key = split_s3_uri(ref.s3_uri)
    except ValueError:
        raise LocalModelUnusable(f"{printable(ref.s3_uri)} is not an s3://bucket/key URI") from None
    if ref_bucket != bucket:
        raise LocalModelUnusable(f"{printable(ref.s3_uri)} is not in the data bucket {bucket}")
    match = _LOCAL_MODEL_KEY.fullmatch(key)
    if match is None:
        raise LocalModelUnusable(f"{printable(ref.s3_uri)} is not a run's {RunLayout.ANY.local_model_key}")
    if not ref.sha256:
        raise LocalModelUnusable("the reference has no sha256 to check the artifact against")
    return key, match.group(1)


def parse_artifact(
    ref: LocalModelRef, body: bytes, modalities: tuple[str, ...], run_id: str
) -> LoadedLocalModel:
    """Check `body` against the reference's sha256 and the router's modalities, then parse it."""
    digest = hashlib.sha256(body).hexdigest()
    if digest != (ref.sha256 or "").strip().lower():
        raise LocalModelUnusable(
            f"sha256 mismatch: the object is {digest}, the reference says {printable(ref.sha256 or '')}"
        )
    try:
        model = load_local_model(body)
    except LocalModelInvalid as exc:
        raise LocalModelUnusable(f"not a usable tier-0 artifact: {printable(str(exc), 200)}") from None
    if model.modalities != modalities:
        raise LocalModelUnusable(
            f"trained for modalities {','.join(model.modalities)}, the router serves {','.join(modalities)}"
        )
    return LoadedLocalModel(ref, model, LOCAL_MODEL_NAME_PREFIX + run_id)
