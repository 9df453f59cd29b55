"""The S3 layout of a run (public contract, README "S3 layout").

Everything of a run lives under `runs/<run_id>/` in the data bucket:

    runs/<run_id>/manifest.json                 Plan: resolved settings, models, warnings
    runs/<run_id>/generated/part-00000.jsonl    Generate: one labelled JSONL part per batch
    runs/<run_id>/dataset/train.jsonl           Prepare dataset: bedrock-conversation-2024 records
    runs/<run_id>/dataset/holdout.jsonl         Prepare dataset: labelled JSONL (evaluation)
    runs/<run_id>/dataset/stats.json            Prepare dataset: counts and histograms
    runs/<run_id>/distillation-output/          Bedrock: job output (metrics)
    runs/<run_id>/evaluation/                   Evaluate (issue 6)
    runs/<run_id>/report/                       Report (issue 6)

Bring-your-own datasets are read from `imports/` in the same bucket. Generated parts are
tagged `lifecycle=scratch` so the bucket's lifecycle rule expires them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RUNS_PREFIX = "runs/"
IMPORTS_PREFIX = "imports/"
# Bedrock model invocation logging delivers here (the storage stack lets Bedrock write and the
# distillation role read it): the source of "distil from invocation logs" runs.
INVOCATION_LOGS_PREFIX = "invocation-logs/"
# Same tag as stacks/storage_stack.py SCRATCH_TAG: the bucket's lifecycle rule filters on it.
SCRATCH_TAG = ("lifecycle", "scratch")
PART_PATTERN = re.compile(r"part-(\d{5})\.jsonl$")
_S3_URI = re.compile(r"^s3://([a-z0-9][-.a-z0-9]{1,61}[a-z0-9])/(.*)$")


@dataclass(frozen=True)
class RunLayout:
    """Keys of one run in the data bucket."""

    run_id: str

    @property
    def prefix(self) -> str:
        return f"{RUNS_PREFIX}{self.run_id}/"

    @property
    def manifest_key(self) -> str:
        return f"{self.prefix}manifest.json"

    @property
    def generated_prefix(self) -> str:
        return f"{self.prefix}generated/"

    def part_key(self, batch: int) -> str:
        return f"{self.generated_prefix}part-{batch:05d}.jsonl"

    @property
    def dataset_prefix(self) -> str:
        return f"{self.prefix}dataset/"

    @property
    def train_key(self) -> str:
        return f"{self.dataset_prefix}train.jsonl"

    @property
    def holdout_key(self) -> str:
        return f"{self.dataset_prefix}holdout.jsonl"

    @property
    def stats_key(self) -> str:
        return f"{self.dataset_prefix}stats.json"

    @property
    def distillation_output_prefix(self) -> str:
        return f"{self.prefix}distillation-output/"

    @property
    def evaluation_prefix(self) -> str:
        return f"{self.prefix}evaluation/"

    @property
    def report_prefix(self) -> str:
        return f"{self.prefix}report/"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key") of an s3:// URI; ValueError if it is not one."""
    match = _S3_URI.match(uri or "")
    if not match:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2)


def scratch_tagging() -> str:
    """The `Tagging` parameter of PutObject for objects the lifecycle rule may expire."""
    return f"{SCRATCH_TAG[0]}={SCRATCH_TAG[1]}"
