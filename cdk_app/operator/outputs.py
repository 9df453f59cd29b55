"""Stack discovery: the outputs of a deployed stack, read from CloudFormation.

The operator never types an ARN or a bucket name: `Operator.output(role, name)` looks them up
here under the names of `cdk_app.stack_outputs` (the contract the stacks write).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cdk_app.operator.errors import StackNotDeployed

# A stack in one of these states has no outputs to rely on.
UNUSABLE_STATUSES = frozenset(
    {
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        "ROLLBACK_COMPLETE",
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_FAILED",
        "DELETE_IN_PROGRESS",
        "DELETE_FAILED",
    }
)


def stack_outputs(cfn: Any, stack_name: str, region: str) -> dict[str, str]:
    """Outputs of a deployed stack; `StackNotDeployed` when it is missing or not usable."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in str(error.get("Message", "")):
            raise StackNotDeployed(
                f"stack {stack_name} is not deployed in {region}: deploy it with `make deploy` "
                "(or pass --region / -c stage=... for another deployment)"
            ) from None
        raise
    stack = stacks[0]
    status = str(stack.get("StackStatus", ""))
    if status in UNUSABLE_STATUSES:
        raise StackNotDeployed(
            f"stack {stack_name} in {region} is {status}: fix or redeploy it (`make deploy`)"
        )
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
