"""Per-resource cdk-nag acknowledgments, each with its reason.

cdk-nag 3 runs as a CDK policy-validation plugin: any unacknowledged finding stops
synthesis. Acknowledgments are attached to one construct (and so cover its children),
never to a whole stack; granular ones name the exact finding, e.g. `Resource::*`.

A finding about a resource names it as cdk-nag prints the template value (its
`flattenCfnReference`: `<LogicalId.Arn>/runs/*/manifest.json`, `arn:<AWS::Partition>:...`,
an imported value by its export name). `acknowledge_resources` renders those findings from
the very values the construct granted, resolved by the stack that holds the acknowledged
construct, once synthesis has prepared cross-stack references (node validation time): no
finding id is written by hand or re-derived from CDK's naming rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import jsii
from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct, IValidation

WILDCARD_RULE = "AwsSolutions-IAM5"
MANAGED_POLICY_RULE = "AwsSolutions-IAM4"


def acknowledge(scope: IConstruct, rule: str, reason: str, findings: Iterable[str] = ()) -> None:
    """Acknowledge `rule` on `scope`; with `findings`, only those granular findings of it."""
    pack = rule.split("-", 1)[0]
    ids = [f"{pack}::{rule}[{finding}]" for finding in findings] or [f"{pack}::{rule}"]
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in ids))


def acknowledge_resources(
    scope: IConstruct,
    reason: str,
    resources: Iterable[str],
    *,
    rule: str = WILDCARD_RULE,
    kind: str = "Resource",
) -> None:
    """Acknowledge `rule`'s `<kind>::<resource>` findings for exactly these granted values on `scope`.

    `resources` are the values as given to the policy (ARNs with tokens, `*`); IAM5 reports
    `Resource::` findings, IAM4 `Policy::` ones (managed policy ARNs).
    """
    scope.node.add_validation(_AcknowledgeRendered(scope, rule, kind, list(resources), reason))


@jsii.implements(IValidation)
class _AcknowledgeRendered:
    """Acknowledges the findings once references are resolved (export names exist only then)."""

    def __init__(self, scope: IConstruct, rule: str, kind: str, resources: list[str], reason: str) -> None:
        self._scope, self._rule, self._kind = scope, rule, kind
        self._resources, self._reason = resources, reason

    def validate(self) -> list[str]:
        stack = Stack.of(self._scope)
        findings = [f"{self._kind}::{rendered(stack.resolve(value))}" for value in self._resources]
        acknowledge(self._scope, self._rule, self._reason, findings=findings)
        return []


def rendered(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag prints it in finding ids (its flattenCfnReference)."""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(rendered(part) for part in parts)
        if function == "Fn::Sub":
            return rendered(argument)
        if function == "Ref":
            return f"<{rendered(argument)}>"
        if function == "Fn::GetAtt":
            return f"<{rendered(argument[0])}.{rendered(argument[1])}>"
        if function == "Fn::ImportValue":
            return rendered(argument)
    return json.dumps(value, separators=(",", ":"))  # cdk-nag's fallback: JSON.stringify
