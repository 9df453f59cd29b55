"""Named errors of the evaluation steps.

The state machine sees the class name as the Lambda error type and retries or catches
by it (see the evaluation states of the pipeline definition), so names are a contract.
"""

from __future__ import annotations

from routing.pipeline import errors as pipeline_errors


class EvaluationError(Exception):
    """Base class of every error raised on purpose by the evaluation steps."""


class InvalidEvent(EvaluationError, pipeline_errors.InvalidEvent):
    """The step's input (state machine payload) or environment is not what the step needs.

    Also the pipeline's InvalidEvent: one name, caught the same way by every step's caller."""


class HoldoutInvalid(EvaluationError):
    """The held-out dataset is missing, empty or has a line that is not a labelled example."""


class EvaluationStalled(EvaluationError):
    """An evaluation invocation finished no answer at all: looping again would not help."""


class ResultsMissing(EvaluationError):
    """The report step found no evaluation results for the run (Evaluate did not complete)."""


class JudgeRequestInvalid(EvaluationError):
    """The LLM-judge job cannot be requested (names or S3 URIs outside Bedrock's patterns)."""


class BedrockThrottled(EvaluationError, pipeline_errors.BedrockThrottled):
    """Bedrock throttled a judge job call: the state machine retries it by name, like the pipeline's."""


class GateNotPassed(EvaluationError):
    """Promotion was asked for a run whose quality gate did not pass."""


class NothingToRollBack(EvaluationError):
    """The active-model parameter holds no previous value to return to."""


class ReportNotFound(EvaluationError):
    """No report.json exists for the named run (manual promotion needs one)."""
