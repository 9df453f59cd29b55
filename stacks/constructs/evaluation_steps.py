"""The evaluation capability of the pipeline: five Lambdas and their least-privilege grants.

* Evaluate: reads the held-out set, invokes the candidate models, writes the answers
  (`runs/*/evaluation/parts|results.jsonl|manifest.json|input/`);
* StartJudge / CheckJudge: create, poll and (past the deadline) stop this account's Bedrock
  evaluation jobs, passing only the storage stack's evaluation role, only to Bedrock;
* Report: reads the answers and the judge output, writes `runs/*/report/`;
* Promote: reads and writes the active-model parameter, nothing else.

The state machine wires the functions (`functions[...]`) into the evaluation states; the
definition fragment names them `${EvaluateFunctionArn}`, `${StartJudgeFunctionArn}`, ...
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct
from routing.model_ids import on_demand_model_id

from cdk_app.config import AppConfig
from stacks.constructs.bedrock_models import add_model_statements, model_statements
from stacks.constructs.function_environment import evaluation_environments
from stacks.constructs.nag import acknowledge
from stacks.constructs.runtime_function import RuntimeFunction, RuntimeLayer
from stacks.storage_stack import StorageStack

# Object keys (S3 layout, README) each function touches; `*` stands for the run id.
HOLDOUT_KEYS = "runs/*/dataset/*"
PART_KEYS = "runs/*/evaluation/parts/*"
RESULTS_KEY = "runs/*/evaluation/results.jsonl"
MANIFEST_KEY = "runs/*/evaluation/manifest.json"
JUDGE_INPUT_KEYS = "runs/*/evaluation/input/*"
JUDGE_OUTPUT_KEYS = "runs/*/evaluation/output/*"
REPORT_KEYS = "runs/*/report/*"

# Evaluate stops starting calls EvaluateEnv.reserve_seconds before this (routing/settings.py).
EVALUATE_TIMEOUT = Duration.minutes(15)


class EvaluationSteps(Construct):
    """The evaluation Lambdas; `functions` keyed "Evaluate", "StartJudge", "CheckJudge", "Report", "Promote"."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        layer: RuntimeLayer,
        storage: StorageStack,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._bucket = storage.bucket
        self._account, self._region = stack.account, stack.region
        environments = evaluation_environments(config, evaluation_role_arn=storage.evaluation_role.role_arn)

        evaluate = RuntimeFunction(
            self, "Evaluate", config=config, layer=layer, folder="evaluate",
            description="Candidates answer the held-out queries (resumable); results and judge input to S3",
            timeout=EVALUATE_TIMEOUT, memory_size=1024,
            environment=environments["Evaluate"],
        )  # fmt: skip
        start_judge = RuntimeFunction(
            self, "StartJudge", config=config, layer=layer, folder="start_judge",
            description="Starts the Bedrock LLM-judge evaluation job over the precomputed answers",
            environment=environments["StartJudge"],
        )  # fmt: skip
        check_judge = RuntimeFunction(
            self, "CheckJudge", config=config, layer=layer, folder="check_judge",
            description="Polls the LLM-judge job; stops it past the evaluation deadline",
            environment=environments["CheckJudge"],
        )  # fmt: skip
        report = RuntimeFunction(
            self, "Report", config=config, layer=layer, folder="report",
            description="Writes report.json/md/html of a run and evaluates the quality gate",
            timeout=Duration.minutes(2), memory_size=1024,
            environment=environments["Report"],
        )  # fmt: skip
        promote = RuntimeFunction(
            self, "Promote", config=config, layer=layer, folder="promote",
            description="Writes the distilled deployment to the active-model parameter (gate passed only)",
            environment=environments["Promote"],
        )  # fmt: skip

        self._grant_evaluate(evaluate, config)
        self._grant_judge(start_judge, check_judge, storage)
        self._grant_report(report)
        promote.role.add_to_policy(iam.PolicyStatement(
            sid="ReadWriteActiveModel",
            actions=["ssm:GetParameter", "ssm:PutParameter"],
            resources=[storage.active_model_parameter_arn],
        ))  # fmt: skip

        self.runtime_functions: dict[str, RuntimeFunction] = {
            "Evaluate": evaluate,
            "StartJudge": start_judge,
            "CheckJudge": check_judge,
            "Report": report,
            "Promote": promote,
        }
        self.functions: dict[str, lambda_.IFunction] = {
            name: runtime.function for name, runtime in self.runtime_functions.items()
        }

    # ----------------------------------------------------------------------------- grants

    def _objects(self, *patterns: str) -> list[str]:
        return [self._bucket.arn_for_objects(pattern) for pattern in patterns]

    def _list_prefixes(self, role: iam.IRole, sid: str, prefixes: Iterable[str]) -> None:
        role.add_to_principal_policy(iam.PolicyStatement(
            sid=sid,
            actions=["s3:ListBucket"],
            resources=[self._bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": list(prefixes)}},
        ))  # fmt: skip

    def _grant_evaluate(self, function: RuntimeFunction, config: AppConfig) -> None:
        role = function.role
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadHoldoutAndParts", actions=["s3:GetObject"], resources=self._objects(HOLDOUT_KEYS, PART_KEYS),
        ))  # fmt: skip
        role.add_to_policy(iam.PolicyStatement(
            sid="WriteAnswers",
            actions=["s3:PutObject"],
            resources=self._objects(PART_KEYS, RESULTS_KEY, MANIFEST_KEY, JUDGE_INPUT_KEYS),
        ))  # fmt: skip
        role.add_to_policy(iam.PolicyStatement(
            sid="TagPartsAsScratch", actions=["s3:PutObjectTagging"], resources=self._objects(PART_KEYS),
        ))  # fmt: skip
        self._list_prefixes(role, "ListParts", [PART_KEYS])
        models: list[str] = []
        if "student" in config.evaluation_candidates:
            # Evaluate calls the base student on demand without its context-window variant.
            models.append(on_demand_model_id(config.student_model_id))
        if "baseline" in config.evaluation_candidates:
            models.append(config.baseline_model_id)
        deployments = f"arn:aws:bedrock:{self._region}:{self._account}:custom-model-deployment/*"
        add_model_statements(role, model_statements(
            config, "InvokeCandidates", ["bedrock:InvokeModel"], models, account=self._account,
            extra_resources=[deployments],
        ))  # fmt: skip
        self._acknowledge(
            function,
            "Each run writes under runs/<run_id>/ and deploys its own distilled model: objects are scoped to "
            "the dataset and evaluation prefixes of every run, models to this account's custom model "
            "deployments (the distilled candidate is only known at run time).",
            objects=[HOLDOUT_KEYS, PART_KEYS, RESULTS_KEY, MANIFEST_KEY, JUDGE_INPUT_KEYS],
            resources=[deployments],
        )

    def _grant_judge(self, start: RuntimeFunction, check: RuntimeFunction, storage: StorageStack) -> None:
        jobs = f"arn:aws:bedrock:{self._region}:{self._account}:evaluation-job/*"
        # CreateEvaluationJob's resource types are the evaluated and evaluator models (custom-model,
        # foundation-model, prompt-router, default-prompt-router; Service Authorization Reference), never an
        # evaluation job; with precomputed answers and an inference-profile judge AWS's own judge policy grants
        # it on "*". The evaluation role passed with it (iam:PassRole below) bounds what the job can reach.
        start.role.add_to_policy(iam.PolicyStatement(
            sid="CreateEvaluationJobs", actions=["bedrock:CreateEvaluationJob"], resources=["*"],
        ))  # fmt: skip
        start.role.add_to_policy(iam.PolicyStatement(
            sid="ReadEvaluationJobs", actions=["bedrock:GetEvaluationJob"], resources=[jobs],
        ))  # fmt: skip
        start.role.add_to_policy(iam.PolicyStatement(
            # ListEvaluationJobs has no resource type: the only way to find a job by name (a retried start).
            sid="FindEvaluationJobByName", actions=["bedrock:ListEvaluationJobs"], resources=["*"],
        ))  # fmt: skip
        start.role.add_to_policy(iam.PolicyStatement(
            sid="PassEvaluationRoleToBedrock",
            actions=["iam:PassRole"],
            resources=[storage.evaluation_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
        ))  # fmt: skip
        check.role.add_to_policy(iam.PolicyStatement(
            sid="PollAndStopEvaluationJobs", actions=["bedrock:GetEvaluationJob", "bedrock:StopEvaluationJob"],
            resources=[jobs],
        ))  # fmt: skip
        reason = "Evaluation job ids are assigned by Bedrock at creation: the grant covers this account's evaluation jobs."
        self._acknowledge(start, reason + " ListEvaluationJobs supports no resource-level permission; "
                          "CreateEvaluationJob is granted on * as in AWS's judge policy (see the statement).",
                          resources=[jobs, "*"])  # fmt: skip
        self._acknowledge(check, reason, resources=[jobs])

    def _grant_report(self, function: RuntimeFunction) -> None:
        role = function.role
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadEvaluation",
            actions=["s3:GetObject"],
            resources=self._objects(RESULTS_KEY, MANIFEST_KEY, JUDGE_INPUT_KEYS, JUDGE_OUTPUT_KEYS),
        ))  # fmt: skip
        self._list_prefixes(role, "ListJudgeOutput", [JUDGE_OUTPUT_KEYS])
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteReport", actions=["s3:PutObject"], resources=self._objects(REPORT_KEYS)
            )
        )
        self._acknowledge(
            function,
            "Each run reads and writes under runs/<run_id>/: objects are scoped to the evaluation and report "
            "prefixes of every run.",
            objects=[RESULTS_KEY, MANIFEST_KEY, JUDGE_INPUT_KEYS, JUDGE_OUTPUT_KEYS, REPORT_KEYS],
        )

    def _acknowledge(
        self,
        function: RuntimeFunction,
        reason: str,
        *,
        objects: Iterable[str] = (),
        resources: Iterable[str] = (),
    ) -> None:
        """Acknowledge IAM5 for exactly the wildcard resources this function was granted."""
        stack = Stack.of(self)
        findings = [f"Resource::{_finding_text(stack, self._bucket, pattern)}" for pattern in objects]
        findings += [f"Resource::{_plain(stack, arn)}" for arn in resources]
        acknowledge(function.role, "AwsSolutions-IAM5", reason, findings=findings)


def _plain(stack: Stack, arn: str) -> str:
    """How cdk-nag prints an ARN built from the stack's account and region (pseudo parameters when unresolved)."""
    for value, pseudo in ((stack.account, "<AWS::AccountId>"), (stack.region, "<AWS::Region>")):
        if Token.is_unresolved(value):
            arn = arn.replace(value, pseudo)
    return arn


def _finding_text(stack: Stack, bucket: s3.IBucket, pattern: str) -> str:
    """How cdk-nag prints `<bucket ARN>/<pattern>` (the bucket may live in another stack)."""
    owner = Stack.of(bucket)
    attribute = owner.resolve(bucket.bucket_arn)  # {"Fn::GetAtt": [<logical id>, "Arn"]}
    if owner is stack:
        return f"<{attribute['Fn::GetAtt'][0]}.Arn>/{pattern}"
    return f"{_export_name(owner, attribute)}/{pattern}"


def _export_name(owner: Stack, resolved: object) -> str:
    """The name CDK gives the automatic export of a cross-stack reference, which cdk-nag prints.

    Mirrors aws-cdk-lib's `generateExportName` (stack-relative exports, the v2 default):
    `<stack name>:` + makeUniqueId(["Exports", "Output" + JSON.stringify(resolved)]). If CDK
    changes it, synthesis stops with the finding id to acknowledge, so a drift cannot pass silently.
    """
    components = ["Exports", "Output" + json.dumps(resolved, separators=(",", ":"))]
    digest = hashlib.md5("/".join(components).encode(), usedforsecurity=False).hexdigest()[:8].upper()
    human = "".join(re.sub(r"[^A-Za-z0-9]", "", component) for component in components)[:240]
    return f"{owner.stack_name}:{human}{digest}"
