"""Stack roles and CloudFormation output names: the public contract of a deployment (docs/configuration.md).

Defined once here and imported by both sides: the stacks (`stacks/*_stack.py`) create their
outputs under these names, and the operator CLI (`cdk_app.operator`) discovers everything it
needs by reading them back. Pure Python on purpose: the CLI imports it without aws_cdk.

A role names a stack within a deployment: `AppConfig.stack_name(role)` is `<project>-<stage>-<role>`.
"""

from __future__ import annotations

# Stack roles.
STORAGE = "storage"
PIPELINE = "pipeline"
ROUTER_API = "router-api"

# Storage stack outputs.
OUTPUT_BUCKET = "DataBucketName"
OUTPUT_DISTILLATION_ROLE = "DistillationRoleArn"
OUTPUT_EVALUATION_ROLE = "EvaluationRoleArn"
OUTPUT_ACTIVE_MODEL_PARAMETER = "ActiveModelParameterName"

# Pipeline stack outputs.
OUTPUT_STATE_MACHINE = "StateMachineArn"
OUTPUT_TOPIC = "NotificationTopicArn"

# Router API stack outputs.
OUTPUT_API_URL = "RouterApiUrl"
OUTPUT_ROUTE_URL = "RouteUrl"
OUTPUT_BATCH_URL = "RouteBatchUrl"
OUTPUT_API_ID = "RouterApiId"
OUTPUT_API_KEY_ID = "RouterApiKeyId"  # only with api_auth=api_key
OUTPUT_FUNCTION = "RouterFunctionName"
OUTPUT_DASHBOARD = "RouterDashboardName"
OUTPUT_ALARM_TOPIC = "RouterAlarmTopicArn"
