"""The pipeline's state machine definition file and its substitutions, shared by the stack and the local harness.

`statemachine/pipeline.asl.json` is plain Amazon States Language with `${Name}`
placeholders: `${<Step>FunctionArn}` for each step's Lambda, `${NotificationTopicArn}` and
`${ProjectPrefix}`. The CDK stack passes them as DefinitionSubstitutions (CloudFormation
fills them in); the local harness (cdk_app/local/pipeline.py) fills them in with `render`.
Pure Python, no CDK import: the harness and the tests load it cheaply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

DEFINITION_PATH = Path(__file__).resolve().parents[2] / "statemachine" / "pipeline.asl.json"

# Step name (as in `${<Step>FunctionArn}`) -> the Lambda's folder under lambdas/.
DISTILLATION_FUNCTIONS: Mapping[str, str] = {
    "Plan": "plan",
    "Generate": "generate",
    "PrepareDataset": "prepare_dataset",
    "StartDistillation": "start_distillation",
    "TrainLocalModel": "train_local_model",
    "CheckDistillation": "check_distillation",
    "CreateDeployment": "create_deployment",
    "CheckDeployment": "check_deployment",
}
EVALUATION_FUNCTIONS: Mapping[str, str] = {
    "Evaluate": "evaluate",
    "StartJudge": "start_judge",
    "CheckJudge": "check_judge",
    "Report": "report",
    "Promote": "promote",
}
STEP_FUNCTIONS: Mapping[str, str] = {**DISTILLATION_FUNCTIONS, **EVALUATION_FUNCTIONS}
TOPIC_SUBSTITUTION = "NotificationTopicArn"
PREFIX_SUBSTITUTION = "ProjectPrefix"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def function_substitution(step: str) -> str:
    return f"{step}FunctionArn"


def load_definition() -> str:
    """The definition template's text."""
    return DEFINITION_PATH.read_text(encoding="utf-8")


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def render(template: str, substitutions: Mapping[str, str]) -> str:
    """Fill in every `${Name}`; KeyError naming the placeholders left without a value."""
    missing = placeholders(template) - set(substitutions)
    if missing:
        raise KeyError(f"no value for placeholders {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda match: substitutions[match.group(1)], template)


def iter_states(
    definition: Mapping[str, Any], parent: str | None = None
) -> Iterator[tuple[str, dict, str | None]]:
    """(name, state, enclosing Map or Parallel name) of every state, nested ones included."""
    for name, state in definition["States"].items():
        yield name, state, parent
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from iter_states(processor, name)
        for branch in state.get("Branches", []):
            yield from iter_states(branch, name)


def parse(template: str) -> dict[str, Any]:
    """The definition as JSON (placeholders sit inside strings, so the template parses as is)."""
    return json.loads(template)


def reachable_from(definition: Mapping[str, Any], start: str) -> dict[str, Any]:
    """The top-level definition cut down to `start` and the states reachable from it (tests run parts of it)."""
    states = definition["States"]
    seen: list[str] = []
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        state = states[name]
        targets = [state.get("Next"), state.get("Default")]
        targets += [choice.get("Next") for choice in state.get("Choices", [])]
        targets += [catch.get("Next") for catch in state.get("Catch", [])]
        todo.extend(target for target in targets if target)
    return {**definition, "StartAt": start, "States": {name: states[name] for name in states if name in seen}}
