"""The evaluation steps in a small test stack next to a StorageStack: cdk-nag clean and least privilege.

Synthesis runs the cdk-nag AwsSolutions plugin (like cdk_app/app.py): any unacknowledged
finding raises, so the fixture itself proves the acknowledgments are exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from cdk_app.config import AppConfig
from stacks.constructs.evaluation_steps import EVALUATION_STEPS
from stacks.constructs.function_environment import evaluation_environments
from stacks.constructs.pipeline_steps import PipelineSteps, StepResources
from stacks.constructs.runtime_function import RuntimeLayer
from stacks.storage_stack import StorageStack
from tests.infra.conftest import in_partition

pytestmark = pytest.mark.slow

NAMES = ("Evaluate", "StartJudge", "CheckJudge", "Report", "Promote")


@dataclass
class Synthesized:
    config: AppConfig
    stack: cdk.Stack
    storage: StorageStack
    steps: PipelineSteps
    template: Template
    storage_template: Template

    def statements(self, name: str) -> list[dict[str, Any]]:
        """Every statement of the policies attached to function `name`'s role (log/X-Ray ones included)."""
        role_id = self.stack.resolve(
            self.stack.get_logical_id(self.steps.steps[name].role.node.default_child)
        )
        found = []
        for policy in self.template.find_resources("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        return found

    def by_sid(self, name: str) -> dict[str, dict[str, Any]]:
        return {statement["Sid"]: statement for statement in self.statements(name) if "Sid" in statement}

    def environment(self, name: str) -> dict[str, Any]:
        function_id = self.stack.resolve(
            self.stack.get_logical_id(self.steps.functions[name].node.default_child)
        )
        return self.template.to_json()["Resources"][function_id]["Properties"]["Environment"]["Variables"]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> Synthesized:
    app = cdk.App(
        context={"aws:cdk:bundling-stacks": []}, outdir=str(tmp_path_factory.mktemp("evaluation-cdk.out"))
    )
    config = AppConfig()
    env = cdk.Environment(region=config.region)
    storage = StorageStack(app, "Storage", stack_name=config.stack_name("storage"), config=config, env=env)
    stack = cdk.Stack(app, "EvaluationTest", env=env)
    resources = StepResources(
        config=config,
        layer=RuntimeLayer(stack, "Layer"),
        bucket=storage.bucket,
        distillation_role=storage.distillation_role,
        evaluation_role=storage.evaluation_role,
        active_model_parameter_arn=storage.active_model_parameter_arn,
        environments=evaluation_environments(config, evaluation_role_arn=storage.evaluation_role.role_arn),
    )
    steps = PipelineSteps(stack, "Evaluation", resources=resources, steps=EVALUATION_STEPS)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    app.synth()  # raises on any cdk-nag finding
    # The templates as deployed in the `aws` partition.
    return Synthesized(
        config,
        stack,
        storage,
        steps,
        Template.from_json(in_partition(Template.from_stack(stack).to_json())),
        Template.from_json(in_partition(Template.from_stack(storage).to_json())),
    )


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def _text(value: Any) -> str:
    return json.dumps(value)


def test_exposes_the_five_functions(synthesized: Synthesized) -> None:
    assert tuple(synthesized.steps.functions) == NAMES
    env = synthesized.environment("Evaluate")
    assert env["EVALUATION_CONCURRENCY"] == "4" and env["EVALUATION_MAX_TOKENS"] == "1000"
    evaluate_id = synthesized.stack.resolve(
        synthesized.stack.get_logical_id(synthesized.steps.functions["Evaluate"].node.default_child)
    )
    assert synthesized.template.to_json()["Resources"][evaluate_id]["Properties"]["Timeout"] == 900
    prices = json.loads(synthesized.environment("Report")["MODEL_PRICES"])
    assert prices["amazon.nova-micro-v1:0"] == {"input_per_1m": 0.035, "output_per_1m": 0.14}
    assert json.loads(synthesized.environment("Report")["GATE"]) == synthesized.config.gate.model_dump()
    assert (
        synthesized.environment("Promote")["ACTIVE_MODEL_PARAMETER"]
        == synthesized.config.active_model_parameter_name
    )


def test_no_statement_grants_every_action(synthesized: Synthesized) -> None:
    for name in NAMES:
        for statement in synthesized.statements(name):
            assert all(action != "*" and not action.endswith(":*") for action in _actions(statement)), (
                name,
                statement,
            )


def test_evaluate_invokes_only_the_candidate_models_and_the_teacher(synthesized: Synthesized) -> None:
    invoke = synthesized.by_sid("Evaluate")["InvokeCandidates"]
    assert _actions(invoke) == ["bedrock:InvokeModel"]
    resources = _text(_resources(invoke))
    assert "foundation-model/amazon.nova-micro-v1:0" in resources  # the base student (no :128k suffix)
    assert (
        "inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0" in resources
    )  # the baseline's profile
    routed = synthesized.by_sid("Evaluate")["InvokeCandidatesViaProfile1"]
    assert (
        routed["Resource"] == "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"
    )
    assert "inference-profile/us.anthropic.claude-haiku" in _text(routed["Condition"])
    assert ":custom-model-deployment/*" in resources
    # The teacher (through its profile only) answers a run's gold set (gold_teacher, on by default).
    assert "inference-profile/us.amazon.nova-pro-v1:0" in resources
    assert "foundation-model/amazon.nova-pro" not in resources
    teacher = synthesized.by_sid("Evaluate")["InvokeCandidatesViaProfile2"]
    assert teacher["Resource"] == "arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0"
    for name in ("StartJudge", "CheckJudge", "Report", "Promote"):
        assert not any("bedrock:InvokeModel" in _actions(s) for s in synthesized.statements(name)), name


def test_object_access_is_scoped_to_each_step_s_prefixes(synthesized: Synthesized) -> None:
    evaluate = synthesized.by_sid("Evaluate")
    assert "runs/*/dataset/*" in _text(evaluate["ReadHoldoutAndParts"]["Resource"])
    written = _text(evaluate["WriteAnswers"]["Resource"])
    for key in (
        "evaluation/parts/*",
        "evaluation/results.jsonl",
        "evaluation/manifest.json",
        "evaluation/input/*",
    ):
        assert key in written
    assert "report/" not in written and "dataset" not in written
    assert evaluate["ListParts"]["Condition"] == {"StringLike": {"s3:prefix": ["runs/*/evaluation/parts/*"]}}
    report = synthesized.by_sid("Report")
    assert _text(report["WriteReport"]["Resource"]).count("runs/*/report/*") == 1
    assert "evaluation/parts" not in _text(report["ReadEvaluation"]["Resource"])
    for name in ("StartJudge", "CheckJudge", "Promote"):
        assert not any(
            action.startswith("s3:") for s in synthesized.statements(name) for action in _actions(s)
        ), name


def test_judge_steps_pass_only_the_evaluation_role_to_bedrock(synthesized: Synthesized) -> None:
    start = synthesized.by_sid("StartJudge")
    pass_role = start["PassEvaluationRoleToBedrock"]
    assert _actions(pass_role) == ["iam:PassRole"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
    evaluation_role_id = synthesized.storage.resolve(
        synthesized.storage.get_logical_id(synthesized.storage.evaluation_role.node.default_child)
    )
    assert evaluation_role_id in _text(pass_role["Resource"])
    # Not evaluation-job/*: that is no resource type of CreateEvaluationJob, IAM would never match it.
    assert start["CreateEvaluationJobs"]["Resource"] == "*"
    assert _actions(start["CreateEvaluationJobs"]) == ["bedrock:CreateEvaluationJob"]
    assert ":evaluation-job/*" in _text(start["ReadEvaluationJobs"]["Resource"])
    assert start["FindEvaluationJobByName"]["Resource"] == "*" and _actions(
        start["FindEvaluationJobByName"]
    ) == ["bedrock:ListEvaluationJobs"]
    check = synthesized.by_sid("CheckJudge")["PollAndStopEvaluationJobs"]
    assert sorted(_actions(check)) == ["bedrock:GetEvaluationJob", "bedrock:StopEvaluationJob"]
    for name in ("Evaluate", "CheckJudge", "Report", "Promote"):
        assert not any("iam:PassRole" in _actions(s) for s in synthesized.statements(name)), name


def test_only_promote_touches_the_active_model_parameter(synthesized: Synthesized) -> None:
    statement = synthesized.by_sid("Promote")["ReadWriteActiveModel"]
    assert sorted(_actions(statement)) == ["ssm:GetParameter", "ssm:PutParameter"]
    assert "parameter" in _text(statement["Resource"])
    for name in ("Evaluate", "StartJudge", "CheckJudge", "Report"):
        assert not any(
            action.startswith("ssm:") for s in synthesized.statements(name) for action in _actions(s)
        ), name
