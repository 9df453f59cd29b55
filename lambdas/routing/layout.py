"""The S3 layout of a run (public contract, README "S3 layout"): the one place keys are made.

Everything of a run lives under `runs/<run_id>/` in the data bucket:

    runs/<run_id>/manifest.json                 Plan: resolved settings, models, warnings
    runs/<run_id>/generated/part-00000.jsonl    Generate: one labelled JSONL part per batch (scratch)
    runs/<run_id>/dataset/train.jsonl           Prepare dataset: bedrock-conversation-2024 records
    runs/<run_id>/dataset/holdout.jsonl         Prepare dataset: labelled JSONL (evaluation)
    runs/<run_id>/dataset/stats.json            Prepare dataset: counts and histograms
    runs/<run_id>/dataset/gold.jsonl            Prepare dataset: the run's copy of its gold set (if any)
    runs/<run_id>/distillation-output/          Bedrock: job output (metrics)
    runs/<run_id>/evaluation/parts/<n>.jsonl    Evaluate: answers of one invocation (scratch)
    runs/<run_id>/evaluation/results.jsonl      Evaluate: every answer record, query-major
    runs/<run_id>/evaluation/manifest.json      Evaluate: candidates, inference settings, counts
    runs/<run_id>/evaluation/input/judge.jsonl  Evaluate: the judge job's precomputed-inference dataset
    runs/<run_id>/evaluation/output/<job>/...   Bedrock: what the judge job writes
    runs/<run_id>/report/report.json|.md|.html  Report

Bring-your-own datasets and gold sets are read from `imports/` in the same bucket. Scratch objects are
tagged `lifecycle=scratch` so the bucket's lifecycle rule expires them.

`RunLayout.ANY` is the layout of every run (`*` for the run id): its keys are the IAM
object patterns, e.g. `f"{RunLayout.ANY.dataset_prefix}*"` is `runs/*/dataset/*`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

RUNS_PREFIX = "runs/"
IMPORTS_PREFIX = "imports/"
# Gold sets labelled with `vsr gold import --upload` (the execution input's gold_s3_uri).
GOLD_IMPORTS_PREFIX = f"{IMPORTS_PREFIX}gold/"
# Bedrock model invocation logging delivers here (the storage stack lets Bedrock write and the
# distillation role read it): the source of "distil from invocation logs" runs.
INVOCATION_LOGS_PREFIX = "invocation-logs/"
# The data bucket's lifecycle rule (stacks/storage_stack.py) filters on this tag.
SCRATCH_TAG = ("lifecycle", "scratch")
# The `Tagging` parameter of PutObject for objects the lifecycle rule may expire.
SCRATCH_TAGGING = f"{SCRATCH_TAG[0]}={SCRATCH_TAG[1]}"
PART_PATTERN = re.compile(r"part-(\d{5})\.jsonl$")
_S3_URI = re.compile(r"^s3://([a-z0-9][-.a-z0-9]{1,61}[a-z0-9])/(.*)$")


@dataclass(frozen=True)
class RunLayout:
    """Keys of one run in the data bucket."""

    # The layout of every run (run id `*`): its keys and prefixes are IAM object patterns.
    ANY: ClassVar[RunLayout]

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
    def gold_key(self) -> str:
        return f"{self.dataset_prefix}gold.jsonl"

    @property
    def distillation_output_prefix(self) -> str:
        return f"{self.prefix}distillation-output/"

    @property
    def local_model_prefix(self) -> str:
        """The tier-0 local model of the run (routing.local_model); the router reads it."""
        return f"{self.prefix}local-model/"

    @property
    def local_model_key(self) -> str:
        return f"{self.local_model_prefix}model.json"

    @property
    def evaluation_prefix(self) -> str:
        return f"{self.prefix}evaluation/"

    @property
    def evaluation_parts_prefix(self) -> str:
        return f"{self.evaluation_prefix}parts/"

    def evaluation_part_key(self, name: str) -> str:
        return f"{self.evaluation_parts_prefix}{name}.jsonl"

    @property
    def results_key(self) -> str:
        return f"{self.evaluation_prefix}results.jsonl"

    @property
    def evaluation_manifest_key(self) -> str:
        return f"{self.evaluation_prefix}manifest.json"

    @property
    def judge_input_prefix(self) -> str:
        return f"{self.evaluation_prefix}input/"

    @property
    def judge_input_key(self) -> str:
        return f"{self.judge_input_prefix}judge.jsonl"

    @property
    def judge_output_prefix(self) -> str:
        return f"{self.evaluation_prefix}output/"

    @property
    def report_prefix(self) -> str:
        return f"{self.prefix}report/"

    @property
    def report_json_key(self) -> str:
        return f"{self.report_prefix}report.json"

    @property
    def report_md_key(self) -> str:
        return f"{self.report_prefix}report.md"

    @property
    def report_html_key(self) -> str:
        return f"{self.report_prefix}report.html"


RunLayout.ANY = RunLayout("*")


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key") of an s3:// URI; ValueError if it is not one."""
    match = _S3_URI.match(uri or "")
    if not match:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2)


def console_url(bucket: str, key: str, region: str) -> str:
    """The S3 console page of an object (where a user opens or downloads it)."""
    return f"https://{region}.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={key}"
