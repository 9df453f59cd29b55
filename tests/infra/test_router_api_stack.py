"""The router API stack: auth, validation, throttling, logs, tracing, WAF, least privilege, alarms, contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from cdk_app.config import AppConfig, load_config
from cdk_app.stack_outputs import (
    OUTPUT_ALARM_TOPIC,
    OUTPUT_API_ID,
    OUTPUT_API_KEY_ID,
    OUTPUT_API_URL,
    OUTPUT_BATCH_URL,
    OUTPUT_DASHBOARD,
    OUTPUT_FUNCTION,
    OUTPUT_ROUTE_URL,
)
from stacks.constructs.bedrock_models import model_grant
from stacks.constructs.router_monitoring import FALLBACK_RATE_PERCENT
from stacks.constructs.router_openapi import OPENAPI_FILE, openapi_document
from stacks.router_api_stack import RouterApiStack
from stacks.storage_stack import StorageStack

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def router(synthesized) -> Template:
    return synthesized.templates["router_api"]


@pytest.fixture(scope="module")
def config(synthesized) -> AppConfig:
    return synthesized.config


@pytest.fixture(scope="module")
def resources(router) -> dict[str, dict[str, Any]]:
    return router.to_json()["Resources"]


def of_type(resources: dict, kind: str) -> dict[str, dict]:
    return {name: res for name, res in resources.items() if res["Type"] == kind}


def router_function(resources: dict) -> tuple[str, dict]:
    (name, function), = [
        (name, res) for name, res in of_type(resources, "AWS::Lambda::Function").items()
        if "ROUTER_DEFAULT_MODEL_ID" in res["Properties"]["Environment"]["Variables"]
    ]  # fmt: skip
    return name, function


def methods(resources: dict) -> list[dict]:
    return [res["Properties"] for res in of_type(resources, "AWS::ApiGateway::Method").values()]


@pytest.fixture(scope="module")
def api_key_mode(tmp_path_factory) -> tuple[AppConfig, Template]:
    """The router stack with the non-default choices (api_auth=api_key, the account's existing API Gateway
    CloudWatch role, no tier-0), under cdk-nag like the whole app (only the stacks it needs)."""
    context = {**json.loads((REPO / "cdk.json").read_text())["context"], "api_auth": "api_key",
               "api_gateway_cloudwatch_role": "existing", "router_tier0": False,
               "aws:cdk:bundling-stacks": []}  # fmt: skip
    app = cdk.App(context=context, outdir=str(tmp_path_factory.mktemp("api-key")))
    config = load_config({k: v for k, v in context.items() if not k.startswith(("@", "aws:"))})
    env = cdk.Environment(region=config.region)
    storage = StorageStack(app, "Storage", config=config, env=env)
    stack = RouterApiStack(app, "RouterApi", config=config, storage=storage, env=env)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    app.synth()  # raises on any unacknowledged cdk-nag finding
    return config, Template.from_stack(stack)


# --------------------------------------------------------------------------- API


def test_api_is_regional_and_every_method_requires_iam_auth(resources):
    (api,) = of_type(resources, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["EndpointConfiguration"]["Types"] == ["REGIONAL"]
    all_methods = methods(resources)
    assert len(all_methods) >= 2
    for method in all_methods:
        assert method["AuthorizationType"] == "AWS_IAM"
        assert method["Integration"]["Type"] == "AWS_PROXY"


def test_api_key_mode_requires_a_key_on_every_method_with_a_throttled_usage_plan(api_key_mode):
    config, template = api_key_mode
    resources = template.to_json()["Resources"]
    for method in methods(resources):
        assert method["ApiKeyRequired"] is True
        assert method["AuthorizationType"] == "NONE"
    template.has_resource_properties("AWS::ApiGateway::UsagePlan", {
        "Throttle": {"RateLimit": config.api_throttle_rate, "BurstLimit": config.api_throttle_burst},
        "ApiStages": [Match.object_like({"Stage": Match.any_value()})],
    })  # fmt: skip
    template.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)
    assert OUTPUT_API_KEY_ID in template.to_json()["Outputs"]
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == config.api_throttle_rate


def test_post_methods_validate_the_body_against_the_request_models(resources, config):
    ((validator_id, validator),) = of_type(resources, "AWS::ApiGateway::RequestValidator").items()
    assert validator["Properties"]["ValidateRequestBody"] is True
    models = {name: res["Properties"] for name, res in of_type(resources, "AWS::ApiGateway::Model").items()}
    posts = [m for m in methods(resources) if m["HttpMethod"] == "POST"]
    assert len(posts) == 2
    used = set()
    for post in posts:
        assert post["RequestValidatorId"] == {"Ref": validator_id}
        model_id = post["RequestModels"]["application/json"]["Ref"]
        used.add(models[model_id]["Name"])
    assert used == {"RouteRequest", "RouteBatchRequest"}
    batch = next(m for m in models.values() if m["Name"] == "RouteBatchRequest")["Schema"]
    assert batch["properties"]["queries"]["maxItems"] == config.batch_max_queries
    assert batch["additionalProperties"] is False


def test_the_stage_is_throttled_traced_and_writes_json_access_logs(resources, config):
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    (settings,) = props["MethodSettings"]
    assert (settings["HttpMethod"], settings["ResourcePath"]) == ("*", "/*")
    assert settings["ThrottlingRateLimit"] == config.api_throttle_rate
    assert settings["ThrottlingBurstLimit"] == config.api_throttle_burst
    assert settings["DataTraceEnabled"] is False  # request bodies (user queries) never reach execution logs
    assert props["TracingEnabled"] is True
    access_log = json.loads(props["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "ip", "responseLatency", "integrationLatency"} <= set(access_log)
    log_group = props["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    assert resources[log_group]["Properties"]["RetentionInDays"] == config.log_retention_days


def test_by_default_the_stack_sets_the_account_logging_role_before_the_stage_and_retains_it(resources):
    """Without the account setting's CloudWatch role, API Gateway rejects a stage with access logging."""
    ((account_id, account),) = of_type(resources, "AWS::ApiGateway::Account").items()
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = resources[role_id]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in json.dumps(role["Properties"]["ManagedPolicyArns"])
    # Other APIs of the account log through this setting: destroying the stack must leave it in place.
    assert account["DeletionPolicy"] == "Retain" and role["DeletionPolicy"] == "Retain"
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    assert account_id in stage["DependsOn"]


def test_with_an_existing_account_role_the_stack_leaves_the_account_setting_alone(api_key_mode):
    _config, template = api_key_mode
    resources = template.to_json()["Resources"]
    assert of_type(resources, "AWS::ApiGateway::Account") == {}
    trusted = [
        r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        for r in of_type(resources, "AWS::IAM::Role").values()
    ]
    assert {"Service": "apigateway.amazonaws.com"} not in trusted
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    assert "AccessLogSetting" in stage["Properties"]


def test_a_web_acl_with_managed_rules_and_a_rate_rule_guards_the_stage(resources):
    ((acl_id, acl),) = of_type(resources, "AWS::WAFv2::WebACL").items()
    assert acl["Properties"]["Scope"] == "REGIONAL"
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}
    assert "AWSManagedRulesCommonRuleSet" in rules
    assert rules["RatePerIp"]["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    (association,) = of_type(resources, "AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    (stage_id,) = of_type(resources, "AWS::ApiGateway::Stage")
    assert {"Ref": stage_id} in association["Properties"]["ResourceArn"]["Fn::Join"][1]


def test_the_degraded_answer_always_arrives_before_the_gateway_gives_up(resources):
    """deadline < function timeout < integration timeout, with margins, read from the template."""
    _name, function = router_function(resources)
    deadline_ms = int(function["Properties"]["Environment"]["Variables"]["ROUTER_DEADLINE_MS"])
    function_ms = function["Properties"]["Timeout"] * 1000
    # The router's own deadline ends the fallback chain; the function keeps a second or more after it.
    assert deadline_ms + 1_000 <= function_ms
    integrations = [m["Integration"]["TimeoutInMillis"] for m in methods(resources)]
    assert integrations and len(set(integrations)) == 1
    # API Gateway's clock also runs through a cold start's init (not part of the function timeout).
    assert function_ms + 2_000 <= integrations[0] <= 29_000


# --------------------------------------------------------------------------- the function


def test_the_router_gets_its_settings_from_the_configuration(resources, config):
    _name, function = router_function(resources)
    env = function["Properties"]["Environment"]["Variables"]
    assert env["ROUTER_ACTIVE_MODEL_PARAMETER"] == config.active_model_parameter_name
    assert env["ROUTER_DEFAULT_MODEL_ID"] == config.router_default_model_id
    assert env["ROUTER_FALLBACK_MODEL_ID"] == config.router_fallback_model_id
    assert env["ROUTER_DEADLINE_MS"] == str(config.router_deadline_ms)
    assert env["ROUTER_MAX_TOKENS"] == str(config.router_max_tokens)
    assert env["ROUTER_SHADOW_SLACK_MS"] == str(config.router_shadow_slack_ms)
    assert env["MODALITIES"] == ",".join(config.modalities)
    assert function["Properties"]["Architectures"] == ["arm64"]


def test_the_router_may_only_invoke_the_configured_models_and_read_the_parameter(
    resources, synthesized, config
):
    stack = synthesized.stacks["router_api"]
    _name, function = router_function(resources)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    granted: dict[str, set[str]] = {}
    grants = [model_grant(stack, model)
              for model in (config.router_default_model_id, config.router_fallback_model_id)]  # fmt: skip
    deployments = rendered_arn(
        stack, f"arn:{stack.partition}:bedrock:{stack.region}:{stack.account}:custom-model-deployment/*"
    )
    for statement in statements:
        assert statement["Effect"] == "Allow"
        if json.dumps(statement["Resource"], sort_keys=True) == deployments:
            # The deployment grant is conditioned on the pipeline's tags (see the next test).
            assert "Condition" in statement
        elif "Condition" in statement:
            # A profile's foundation model, in any region, only through that profile.
            ((profile,),) = [[json.dumps(stack.resolve(g.profile), sort_keys=True)
                              for g in grants if rendered_arn(stack, g.routed) == json.dumps(statement["Resource"], sort_keys=True)]]  # fmt: skip
            assert json.dumps(statement["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"],
                              sort_keys=True) == profile  # fmt: skip
            assert list(statement["Condition"]) == ["StringEquals"]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for action in actions:
            granted.setdefault(action, set()).update(json.dumps(target, sort_keys=True) for target in targets)
    assert set(granted) == {
        "bedrock:InvokeModel", "ssm:GetParameter", "s3:GetObject",
        "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    }  # fmt: skip

    def rendered(arn: str) -> str:
        return json.dumps(stack.resolve(arn), sort_keys=True)

    expected = {rendered(arn) for grant in grants for arn in [*grant.direct, grant.routed] if arn}
    expected.add(
        rendered(f"arn:{stack.partition}:bedrock:{stack.region}:{stack.account}:custom-model-deployment/*")
    )
    assert granted["bedrock:InvokeModel"] == expected
    assert json.loads(next(iter(granted["ssm:GetParameter"])))["Fn::Join"][1][-1].endswith(
        f":parameter{config.active_model_parameter_name}"
    )
    assert granted["ssm:GetParameter"] == {
        rendered(stack.format_arn(service="ssm", resource="parameter",
                                  resource_name=config.active_model_parameter_name.lstrip("/")))
    }  # fmt: skip


def test_the_router_may_read_only_the_runs_tier0_models_of_the_data_bucket(resources, synthesized):
    from routing.layout import RunLayout

    (statement,) = [
        statement
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "ReadLocalModels"
    ]
    assert statement["Action"] == "s3:GetObject" and "Condition" not in statement
    bucket_arn, key = statement["Resource"]["Fn::Join"][1]
    assert key == f"/{RunLayout.ANY.local_model_key}" == "/runs/*/local-model/model.json"
    assert "Fn::ImportValue" in bucket_arn  # the storage stack's data bucket
    _name, function = router_function(resources)
    bucket = function["Properties"]["Environment"]["Variables"]["ROUTER_LOCAL_MODEL_BUCKET"]
    assert "Fn::ImportValue" in bucket


def test_without_tier0_the_router_gets_no_bucket_and_no_s3_grant(api_key_mode):
    _config, template = api_key_mode
    resources = template.to_json()["Resources"]
    _name, function = router_function(resources)
    assert "ROUTER_LOCAL_MODEL_BUCKET" not in function["Properties"]["Environment"]["Variables"]
    actions = {
        action
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert "s3:GetObject" not in actions and "bedrock:InvokeModel" in actions


def rendered_arn(stack, arn: str) -> str:
    return json.dumps(stack.resolve(arn), sort_keys=True)


def test_the_router_may_invoke_only_deployments_the_pipeline_tagged(resources, synthesized, config):
    from policy_sentry.querying.actions import get_action_data
    from routing.pipeline.deployment import deployment_request
    from routing.pipeline.names import run_names

    from tests.pipeline_support import run_state, settings

    statements = [
        statement
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "InvokePromotedDeployments"
    ]
    (statement,) = statements
    condition = statement["Condition"]
    assert set(condition) == {"StringEquals"}
    required = {
        key.removeprefix("aws:ResourceTag/"): value for key, value in condition["StringEquals"].items()
    }
    assert required == {"project": config.project_name, "stage": config.stage}
    # The Service Authorization Reference: InvokeModel on a custom-model-deployment evaluates aws:ResourceTag.
    (deployment_resource,) = [
        item for item in get_action_data("bedrock", "InvokeModel")["bedrock"]
        if item["resource_arn_format"].endswith(":custom-model-deployment/${ResourceId}")
    ]  # fmt: skip
    assert "aws:ResourceTag/${TagKey}" in deployment_resource["condition_keys"]
    # Every deployment the pipeline creates carries exactly these tags (for this project and stage).
    pipeline = settings(PROJECT_NAME=config.project_name, STAGE=config.stage)
    names = run_names(pipeline.prefix, "run-1")
    request = deployment_request(run_state(), "arn:aws:bedrock:us-east-1:123456789012:custom-model/x", pipeline,
                                 names.deployment_name, names.deployment_token)  # fmt: skip
    tags = {tag["key"]: tag["value"] for tag in request["tags"]}
    assert required.items() <= tags.items()
    # And the router is told which ARNs are this account's deployments in this region.
    stack = synthesized.stacks["router_api"]
    _name, function = router_function(resources)
    prefix = function["Properties"]["Environment"]["Variables"]["ROUTER_DEPLOYMENT_ARN_PREFIX"]
    assert json.dumps(prefix, sort_keys=True) == rendered_arn(
        stack, f"arn:{stack.partition}:bedrock:{stack.region}:{stack.account}:custom-model-deployment/"
    )


# --------------------------------------------------------------------------- monitoring


def test_alarms_watch_5xx_p99_latency_and_the_fallback_rate(router, resources, config):
    alarms = {
        res["Properties"]["AlarmName"]: res["Properties"]
        for res in of_type(resources, "AWS::CloudWatch::Alarm").values()
    }
    prefix = f"{config.prefix}-router"
    assert alarms[f"{prefix}-5xx"]["MetricName"] == "5XXError"
    assert alarms[f"{prefix}-p99-latency"]["ExtendedStatistic"] == "p99"
    assert alarms[f"{prefix}-p99-latency"]["Threshold"] == config.router_deadline_ms
    refused = alarms[f"{prefix}-active-model-refused"]
    (watched,) = [query["MetricStat"]["Metric"] for query in refused["Metrics"] if "MetricStat" in query]
    assert (watched["MetricName"], refused["Threshold"]) == ("ActiveModelRefused", 1)
    fallback = alarms[f"{prefix}-fallback-rate"]
    assert fallback["Threshold"] == FALLBACK_RATE_PERCENT
    _name, function = router_function(resources)
    env = function["Properties"]["Environment"]["Variables"]
    stats = {
        query["MetricStat"]["Metric"]["MetricName"]: query["MetricStat"]["Metric"]
        for query in fallback["Metrics"] if "MetricStat" in query
    }  # fmt: skip
    assert set(stats) == {"Fallbacks", "RoutedQueries"}
    for metric in stats.values():
        # The alarm reads the metrics where the function's Powertools writes them.
        assert metric["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
        assert metric["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    topic = next(iter(of_type(resources, "AWS::SNS::Topic")))
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": topic}]
    router.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def test_outputs_are_stable(router):
    outputs = router.to_json()["Outputs"]
    for name in (OUTPUT_API_URL, OUTPUT_ROUTE_URL, OUTPUT_BATCH_URL, OUTPUT_API_ID, OUTPUT_ALARM_TOPIC):
        assert name in outputs
    assert outputs[OUTPUT_ROUTE_URL]["Value"]["Fn::Join"][1][-1] == "/route"
    assert OUTPUT_API_KEY_ID not in outputs  # IAM mode has no key


# --------------------------------------------------------------------------- the committed contract


def test_the_committed_openapi_document_is_current(config):
    committed = json.loads(OPENAPI_FILE.read_text())

    assert committed == openapi_document(config), "regenerate: python -m stacks.constructs.router_openapi"


def test_the_openapi_document_matches_the_deployed_api(resources):
    document = json.loads(OPENAPI_FILE.read_text())
    paths = {
        res["Properties"]["PathPart"]: name
        for name, res in of_type(resources, "AWS::ApiGateway::Resource").items()
    }
    models = {name: res["Properties"] for name, res in of_type(resources, "AWS::ApiGateway::Model").items()}
    route_id, batch_id = paths["route"], paths["batch"]
    deployed = {}
    for method in methods(resources):
        if method["HttpMethod"] != "POST":
            continue
        path = {route_id: "/route", batch_id: "/route/batch"}[method["ResourceId"]["Ref"]]
        model = models[method["RequestModels"]["application/json"]["Ref"]]
        deployed[path] = model
    documented = {
        path: operations["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit(
            "/", 1
        )[-1]
        for path, operations in document["paths"].items()
    }
    assert set(deployed) == set(documented)
    for path, model in deployed.items():
        assert model["Name"] == documented[path]
        schema = {k: v for k, v in model["Schema"].items() if k != "$schema"}
        assert schema == document["components"]["schemas"][documented[path]]


def test_the_openapi_document_is_valid_openapi():
    validator = pytest.importorskip("openapi_spec_validator")

    validator.validate(json.loads(OPENAPI_FILE.read_text()))


def test_gateway_errors_have_the_routers_error_shape(resources):
    responses = {
        res["Properties"]["ResponseType"]: res["Properties"]
        for res in of_type(resources, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert {"BAD_REQUEST_BODY", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for response_type in ("DEFAULT_4XX", "DEFAULT_5XX"):
        template = responses[response_type]["ResponseTemplates"]["application/json"]
        # What the template renders to for a 403: valid JSON with the message and the request id.
        rendered = template.replace("$context.error.messageString", '"Forbidden"').replace(
            "$context.requestId", "abc-123"
        )
        assert json.loads(rendered) == {"message": "Forbidden", "request_id": "abc-123"}


def test_the_stage_has_detailed_metrics_and_the_function_active_tracing(resources):
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    (settings,) = stage["Properties"]["MethodSettings"]
    assert settings["MetricsEnabled"] is True
    _name, function = router_function(resources)
    assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}


def test_the_dashboard_shows_the_alarms_and_the_router_metrics(router, resources, config):
    (dashboard,) = of_type(resources, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == f"{config.prefix}-router"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for name in ("RoutedQueries", "Fallbacks", "RouteLatency", "ModelLatency", "ModelErrors", "5XXError"):
        assert name in body
    outputs = router.to_json()["Outputs"]
    assert {OUTPUT_DASHBOARD, OUTPUT_FUNCTION} <= set(outputs)
