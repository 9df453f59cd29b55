"""The pipeline's evaluation steps: one `PipelineStep` per step, each owning its function and its grants.

Written like the distillation steps (pipeline_steps.py), with these permissions:

| step        | S3 (data bucket)                                                        | Bedrock / IAM / SSM |
|-------------|-------------------------------------------------------------------------|---------------------|
| Evaluate    | read runs/*/dataset/* (held-out and gold sets), parts; write runs/*/evaluation/parts, results.jsonl, manifest.json, input/ (lists parts) | InvokeModel on the candidate models, this account's custom model deployments and (gold_teacher) the teacher |
| StartJudge  | -                                                                       | Create/Get/ListEvaluationJobs; iam:PassRole on the evaluation role, to bedrock.amazonaws.com only |
| CheckJudge  | -                                                                       | Get/StopEvaluationJob (past the evaluation deadline) |
| Report      | read runs/*/evaluation/results, manifest, input, output; write runs/*/report/* (lists output) | - |
| Promote     | -                                                                       | read/write the active-model parameter |

The definition names their functions `${EvaluateFunctionArn}`, `${StartJudgeFunctionArn}`, ...
"""

from __future__ import annotations

from aws_cdk import Duration
from routing.model_ids import on_demand_model_id

from stacks.constructs.bedrock_models import add_model_statements, model_statements
from stacks.constructs.pipeline_steps import PipelineStep
from stacks.constructs.run_objects import (
    DATASET_KEYS,
    EVALUATION_MANIFEST_KEYS,
    EVALUATION_PART_KEYS,
    EVALUATION_RESULTS_KEYS,
    JUDGE_INPUT_KEYS,
    JUDGE_OUTPUT_KEYS,
    LOCAL_MODEL_KEYS,
    REPORT_KEYS,
)

# Evaluate stops starting calls EvaluateEnv.reserve_seconds before this (routing/settings.py).
EVALUATE_TIMEOUT = Duration.minutes(15)


class EvaluateStep(PipelineStep):
    step = "Evaluate"
    description = "candidates answer the held-out queries (resumable); results and judge input to S3"
    timeout = EVALUATE_TIMEOUT
    memory_size = 1024

    def grant(self) -> None:
        config = self.resources.config
        written = [EVALUATION_PART_KEYS, EVALUATION_RESULTS_KEYS, EVALUATION_MANIFEST_KEYS, JUDGE_INPUT_KEYS]
        self._allow(
            "ReadHoldoutAndParts",
            ["s3:GetObject"],
            # The run's tier-0 model answers as the "local" candidate (read only when it was trained).
            self._objects(DATASET_KEYS, EVALUATION_PART_KEYS, LOCAL_MODEL_KEYS),
        )
        self._allow("WriteAnswers", ["s3:PutObject"], self._objects(*written))
        self._allow("TagPartsAsScratch", ["s3:PutObjectTagging"], self._objects(EVALUATION_PART_KEYS))
        self._allow_listing("ListParts", [EVALUATION_PART_KEYS])
        models: list[str] = []
        if "student" in config.evaluation_candidates:
            # Evaluate calls the base student on demand without its context-window variant.
            models.append(on_demand_model_id(config.student_model_id))
        if "baseline" in config.evaluation_candidates:
            models.append(config.baseline_model_id)
        if config.gold_teacher:
            # The teacher answers a run's gold set too (its accuracy against human labels).
            models.append(config.teacher_model_id)
        deployments = self._bedrock_arn("custom-model-deployment/*")
        add_model_statements(self.role, model_statements(
            self, "InvokeCandidates", ["bedrock:InvokeModel"], models, extra_resources=[deployments],
        ))  # fmt: skip
        self._acknowledge_objects(DATASET_KEYS, LOCAL_MODEL_KEYS, *written)
        self._acknowledge_wildcards(
            [deployments],
            "Each run deploys its own distilled model: the candidates include this account's custom model "
            "deployments (the distilled candidate is only known at run time).",
        )


class StartJudgeStep(PipelineStep):
    step = "StartJudge"
    description = "start the Bedrock LLM-judge evaluation job over the precomputed answers"
    timeout = Duration.seconds(30)

    def grant(self) -> None:
        # CreateEvaluationJob's resource types are the evaluated and evaluator models (custom-model,
        # foundation-model, prompt-router, default-prompt-router; Service Authorization Reference), never an
        # evaluation job; with precomputed answers and an inference-profile judge AWS's own judge policy grants
        # it on "*". The evaluation role passed with it (iam:PassRole below) bounds what the job can reach.
        self._allow("CreateEvaluationJobs", ["bedrock:CreateEvaluationJob"], ["*"])
        self._allow_bedrock_type("ReadEvaluationJobs", ["bedrock:GetEvaluationJob"], ["evaluation-job"])
        # ListEvaluationJobs has no resource type: the only way to find a job by name (a retried start).
        self._allow("FindEvaluationJobByName", ["bedrock:ListEvaluationJobs"], ["*"])
        self._allow(
            "PassEvaluationRoleToBedrock",
            ["iam:PassRole"],
            [self.resources.evaluation_role.role_arn],
            {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
        )
        self._acknowledge_wildcards(
            ["*"],
            "ListEvaluationJobs supports no resource-level permission; CreateEvaluationJob is granted on * "
            "as in AWS's judge policy (see the statement).",
        )


class CheckJudgeStep(PipelineStep):
    step = "CheckJudge"
    description = "poll the LLM-judge job; stop it past the evaluation deadline"
    timeout = Duration.seconds(30)

    def grant(self) -> None:
        self._allow_bedrock_type(
            "PollAndStopEvaluationJobs",
            ["bedrock:GetEvaluationJob", "bedrock:StopEvaluationJob"],
            ["evaluation-job"],
        )


class ReportStep(PipelineStep):
    step = "Report"
    description = "write report.json/md/html of a run and evaluate the quality gate"
    timeout = Duration.minutes(2)
    memory_size = 1024

    def grant(self) -> None:
        read = [EVALUATION_RESULTS_KEYS, EVALUATION_MANIFEST_KEYS, JUDGE_INPUT_KEYS, JUDGE_OUTPUT_KEYS]
        self._allow("ReadEvaluation", ["s3:GetObject"], self._objects(*read))
        self._allow_listing("ListJudgeOutput", [JUDGE_OUTPUT_KEYS])
        self._allow("WriteReport", ["s3:PutObject"], self._objects(REPORT_KEYS))
        self._acknowledge_objects(*read, REPORT_KEYS)


class PromoteStep(PipelineStep):
    step = "Promote"
    description = "write the distilled deployment to the active-model parameter (gate passed only)"
    timeout = Duration.seconds(30)

    def grant(self) -> None:
        self._allow(
            "ReadWriteActiveModel",
            ["ssm:GetParameter", "ssm:PutParameter"],
            [self.resources.active_model_parameter_arn],
        )


EVALUATION_STEPS: tuple[type[PipelineStep], ...] = (
    EvaluateStep,
    StartJudgeStep,
    CheckJudgeStep,
    ReportStep,
    PromoteStep,
)
