"""The shared decision cache's table (router_shared_cache enabled): its properties, the router's environment,
the grant of exactly the calls router_api.shared_cache makes (checked against the Service Authorization
Reference), and its dashboard widget; and that the default app has none of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.constructs.router_shared_cache import SHARED_CACHE_ACTIONS
from tests.iam_support import ACCOUNT, Request, Templates, calls_of, denied, resource_type_of, sar_action
from tests.infra.conftest import SHARED_CACHE


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def _router_function(template: dict[str, Any]) -> dict[str, Any]:
    (function,) = [
        res for res in _of_type(template, "AWS::Lambda::Function").values()
        if "ROUTER_DEFAULT_MODEL_ID" in res["Properties"]["Environment"]["Variables"]
    ]  # fmt: skip
    return function


@pytest.fixture(scope="module")
def router(shared_cache_app) -> dict[str, Any]:
    return shared_cache_app.templates["router_api"].to_json()


@pytest.fixture(scope="module")
def table(router) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = _of_type(router, "AWS::DynamoDB::Table").items()
    return logical_id, resource


def test_the_table_is_on_demand_with_ttl_encrypted_and_disposable(table):
    _logical_id, resource = table
    props = resource["Properties"]

    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    # Every table is encrypted at rest; no SSESpecification (or SSEEnabled false) is DynamoDB's AWS owned key.
    assert props.get("SSESpecification", {}).get("SSEEnabled", False) is False
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}
    # A cache: deleted with the stack whatever removal_policy says.
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Delete"


def test_the_router_is_told_the_table_its_budget_and_ttl(router, table):
    logical_id, _resource = table
    variables = _router_function(router)["Properties"]["Environment"]["Variables"]

    assert variables["ROUTER_SHARED_CACHE_TABLE"] == {"Ref": logical_id}
    assert variables["ROUTER_SHARED_CACHE_BUDGET_MS"] == str(SHARED_CACHE["budget_ms"])
    assert variables["ROUTER_SHARED_CACHE_TTL_SECONDS"] == str(SHARED_CACHE["ttl_seconds"])


def test_the_router_may_get_and_put_items_of_that_table_and_nothing_else(shared_cache_app, table):
    logical_id, _resource = table
    files = shared_cache_app.template_files
    templates = Templates({role: json.loads(path.read_text()) for role, path in files.items()},
                          shared_cache_app.config.region)  # fmt: skip
    roles = templates.function_roles("router_api")
    policy = templates.policy_of_role("router_api", roles["router"])
    region = shared_cache_app.config.region
    arn = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{logical_id.lower()}"
    requests = [Request(action, arn) for action in SHARED_CACHE_ACTIONS]

    # What the code calls is what is granted, each an action of the reference on its `table` resource type.
    dynamodb_calls = {action for action in calls_of("router").actions if action.startswith("dynamodb:")}
    assert dynamodb_calls == set(SHARED_CACHE_ACTIONS)
    for request in requests:
        sar_action(request.action)
        assert resource_type_of(request.action, request.resource) == "table"
    assert denied(policy, requests) == []
    assert policy.granted_actions("dynamodb") == set(SHARED_CACHE_ACTIONS)
    other = Request("dynamodb:GetItem", f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/another-table")
    index = Request("dynamodb:Query", f"{arn}/index/any")
    assert denied(policy, [other, index]) == [str(other), str(index)]


def test_the_dashboard_graphs_the_tables_outcomes(router):
    (dashboard,) = _of_type(router, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])

    for name in ("SharedCacheHits", "SharedCacheMisses", "SharedCacheTimeouts", "SharedCacheErrors"):
        assert name in body


def test_the_default_app_has_no_table_and_no_shared_cache_variable(synthesized):
    template = synthesized.templates["router_api"].to_json()

    assert _of_type(template, "AWS::DynamoDB::Table") == {}
    variables = _router_function(template)["Properties"]["Environment"]["Variables"]
    assert "ROUTER_SHARED_CACHE_TABLE" not in variables
    assert "SharedCacheHits" not in json.dumps(_of_type(template, "AWS::CloudWatch::Dashboard"))


def test_cfn_lint_has_no_errors_on_the_router_template_with_the_table(shared_cache_app):
    from cfnlint.api import ManualArgs, lint_file

    path = shared_cache_app.template_files["router_api"]
    matches = lint_file(path, config=ManualArgs(regions=[shared_cache_app.config.region]))
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    assert not errors, "\n".join(errors)
