"""The data bucket's object key patterns the IAM grants name, derived from the runtime's S3 layout.

The layout (public contract, README "S3 layout") is the runtime's `routing.layout.RunLayout`.
A run id is only known at run time, so a grant covers one kind of file of every run: the
layout of the run `*` (`RunLayout.ANY`). Each pattern is defined here once; the step
constructs and the storage stack's Bedrock roles grant these names.
"""

from __future__ import annotations

from routing.layout import IMPORTS_PREFIX, INVOCATION_LOGS_PREFIX, RUNS_PREFIX, RunLayout


def every_object_under(prefix: str) -> str:
    """The key pattern of every object below `prefix` (a folder ending with `/`)."""
    return f"{prefix}*"


ANY_RUN = RunLayout.ANY

# Listing (s3:prefix conditions) and reading outside the runs.
RUN_KEYS = every_object_under(RUNS_PREFIX)
IMPORT_KEYS = every_object_under(IMPORTS_PREFIX)
INVOCATION_LOG_KEYS = every_object_under(INVOCATION_LOGS_PREFIX)
LISTABLE_PREFIXES = (RUN_KEYS, IMPORT_KEYS)

# Distillation: Plan, Generate, PrepareDataset; the distillation job reads the dataset, writes its output.
MANIFEST_KEYS = ANY_RUN.manifest_key
GENERATED_KEYS = every_object_under(ANY_RUN.generated_prefix)
DATASET_KEYS = every_object_under(ANY_RUN.dataset_prefix)
DISTILLATION_OUTPUT_KEYS = every_object_under(ANY_RUN.distillation_output_prefix)
# TrainLocalModel reads the training file only and writes the tier-0 model; Evaluate and the router read
# that one object (LOCAL_MODEL_KEYS, below).
TRAIN_KEYS = ANY_RUN.train_key

# Evaluation and report: Evaluate, the judge job (input, output), Report.
EVALUATION_PART_KEYS = every_object_under(ANY_RUN.evaluation_parts_prefix)
EVALUATION_RESULTS_KEYS = ANY_RUN.results_key
EVALUATION_MANIFEST_KEYS = ANY_RUN.evaluation_manifest_key
JUDGE_INPUT_KEYS = every_object_under(ANY_RUN.judge_input_prefix)
JUDGE_OUTPUT_KEYS = every_object_under(ANY_RUN.judge_output_prefix)
REPORT_KEYS = every_object_under(ANY_RUN.report_prefix)

# Each run's tier-0 model: written by TrainLocalModel, read by Evaluate and by the router (when the
# active-model value names it). One object per run, so every grant on it is that object only.
LOCAL_MODEL_KEYS = ANY_RUN.local_model_key
