"""Names derived from the run id: Bedrock job, custom model, deployment, idempotency tokens and tags.

The run id (the execution name, or the `run_id` input key when resuming) is the only
source of every name, so a retried step, a redriven execution or a resumed run finds
the resources it made before instead of making them again. Bedrock's name patterns
(botocore service model):

- job name: `[a-zA-Z0-9](-*[a-zA-Z0-9\\+\\-\\.])*`, at most 63 characters;
- custom model and deployment names: `([0-9a-zA-Z][_-]?){1,63}`;
- client request tokens: `[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?`.

A run id that has to be shortened or changed to fit gets a hash of the original as a
suffix, so two different run ids never share a name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..errors import InvalidInput
from .settings import PipelineSettings

# What Plan accepts as a run id: S3-key, tag and Bedrock-name friendly. Step Functions
# generates UUIDs for unnamed executions, which match too.
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
MAX_NAME_LENGTH = 63
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_HASH_LENGTH = 8


def validate_run_id(run_id: str) -> str:
    """Return `run_id` if it is usable as a run id; raise InvalidInput otherwise."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise InvalidInput(
            f"run id {run_id!r} is not usable: name the execution (or set `run_id`) with 1 to 80 "
            "letters, digits, '-' or '_', starting with a letter or digit"
        )
    return run_id


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _fit(prefix: str, run_id: str, suffix: str) -> str:
    """`<prefix>-<run>[-<hash>]<suffix>` with single '-' separators, at most 63 characters."""
    slug = _NOT_ALNUM.sub("-", run_id).strip("-")
    head = _NOT_ALNUM.sub("-", prefix).strip("-")
    name = f"{head}-{slug}{suffix}"
    if slug == run_id and len(name) <= MAX_NAME_LENGTH:
        return name
    digest = _digest(run_id, _HASH_LENGTH)
    room = MAX_NAME_LENGTH - len(head) - len(suffix) - len(digest) - 2
    slug = slug[: max(room, 0)].strip("-")
    return f"{head}-{slug}-{digest}{suffix}" if slug else f"{head}-{digest}{suffix}"


@dataclass(frozen=True)
class RunNames:
    """Every Bedrock name and token of one run."""

    job_name: str
    custom_model_name: str
    deployment_name: str
    job_token: str
    deployment_token: str

    def to_dict(self) -> dict[str, str]:
        return {
            "job_name": self.job_name,
            "custom_model_name": self.custom_model_name,
            "deployment_name": self.deployment_name,
        }


def run_names(prefix: str, run_id: str) -> RunNames:
    """Names for `run_id` under the deployment's `prefix` (e.g. "vsr-dev")."""
    validate_run_id(run_id)
    seed = f"{prefix}:{run_id}"
    return RunNames(
        job_name=_fit(prefix, run_id, "-distillation"),
        custom_model_name=_fit(prefix, run_id, ""),
        deployment_name=_fit(prefix, run_id, ""),
        job_token=f"job-{_digest(seed + ':job', 40)}",
        deployment_token=f"deployment-{_digest(seed + ':deployment', 40)}",
    )


def ownership_tags(project_name: str, stage: str) -> dict[str, str]:
    """The tags that say "this deployment (project and stage) made it".

    The router's IAM grant on custom model deployments requires them (aws:ResourceTag), so the
    router can invoke only deployments the pipeline created (stacks/constructs/router_function.py).
    """
    return {"project": project_name, "stage": stage}


def run_tags(settings: PipelineSettings, run_id: str) -> list[dict[str, str]]:
    """The tags of every Bedrock resource of a run (job, custom model, deployment)."""
    tags = {**ownership_tags(settings.project_name, settings.stage), "run_id": run_id}
    return [{"key": key, "value": value} for key, value in tags.items()]
