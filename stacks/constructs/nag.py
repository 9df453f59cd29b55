"""Per-resource cdk-nag acknowledgments, each with its reason.

cdk-nag 3 runs as a CDK policy-validation plugin: any unacknowledged finding stops
synthesis. Acknowledgments are attached to one construct (and so cover its children),
never to a whole stack; granular ones name the exact finding, e.g. `Resource::*`.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, Stack, Token, Validations
from aws_cdk import aws_s3 as s3
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str, findings: Iterable[str] = ()) -> None:
    """Acknowledge `rule` on `scope`; with `findings`, only those granular findings of it."""
    pack = rule.split("-", 1)[0]
    ids = [f"{pack}::{rule}[{finding}]" for finding in findings] or [f"{pack}::{rule}"]
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in ids))


def object_key_findings(bucket: s3.IBucket, key_patterns: Iterable[str]) -> list[str]:
    """The IAM5 findings cdk-nag reports for object ARNs `<bucket ARN>/<pattern>` in the bucket's own stack."""
    stack = Stack.of(bucket)
    logical_id = stack.resolve(stack.get_logical_id(bucket.node.default_child))
    return [f"Resource::<{logical_id}.Arn>/{pattern}" for pattern in key_patterns]


def arn_finding(stack: Stack, arn: str) -> str:
    """The IAM5 finding of an ARN built from the stack's account and region (pseudo parameters when unresolved)."""
    for value, pseudo in ((stack.account, "<AWS::AccountId>"), (stack.region, "<AWS::Region>")):
        if Token.is_unresolved(value):
            arn = arn.replace(value, pseudo)
    return f"Resource::{arn}"
