"""Every ARN the templates build takes the partition the stack is deployed in (aws, aws-cn, aws-us-gov...).

A literal `arn:aws:` works in the commercial partition only; the stacks build ARNs with
`Stack.format_arn` / `Stack.partition`, which CloudFormation fills in as `AWS::Partition`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from tests.infra.conftest import in_partition

LITERAL_PARTITION = re.compile(r"arn:aws[a-z-]*:")


def strings_of(value: Any) -> Iterator[str]:
    """Every string of a template: keys, values, and the text of embedded documents (DefinitionString)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings_of(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_of(item)


def test_a_literal_partition_is_found() -> None:
    template = {"Resources": {"R": {"Properties": {"Arn": "arn:aws:bedrock:us-east-1::foundation-model/x"}}}}
    assert [s for s in strings_of(template) if LITERAL_PARTITION.search(s)]
    joined = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":bedrock:us-east-1::foundation-model/x"]]}
    assert not [s for s in strings_of(joined) if LITERAL_PARTITION.search(s)]
    assert in_partition(joined) == "arn:aws:bedrock:us-east-1::foundation-model/x"


def test_no_template_string_names_a_partition_literally(synthesized) -> None:
    for role, path in synthesized.template_files.items():
        template = json.loads(path.read_text())
        literal = sorted({s for s in strings_of(template) if LITERAL_PARTITION.search(s)})
        assert literal == [], f"{role}: {literal}"
    # The state machine's service integrations too: CloudFormation fills in the partition of the stack.
    (machine,) = [
        resource["Properties"]
        for resource in json.loads(synthesized.template_files["pipeline"].read_text())["Resources"].values()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    assert '"arn:aws:states:::lambda:invoke"' in in_partition(machine["DefinitionString"])
    assert '"arn:aws-cn:states:::sns:publish"' in in_partition(machine["DefinitionString"], "aws-cn")
