"""The router's settings: one frozen dataclass, read from its environment and written to it.

The stack builds `RouterSettings` from `AppConfig` (stacks/constructs/function_environment.py)
and writes the function's environment with `to_environ()`; the handler reads it back once with
`RouterSettings.from_environ`, so each variable's name and format are written here only. A bad
value raises `SettingsError` naming the variable, at import of the handler, so a misconfigured
function fails its first invocation loudly instead of answering wrongly. Standard library only:
the cold start counts (the step functions' settings, routing.settings, use pydantic).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from routing import DEFAULT_MODALITIES, validate_modalities

ENV_ACTIVE_MODEL_PARAMETER = "ROUTER_ACTIVE_MODEL_PARAMETER"
ENV_DEFAULT_MODEL_ID = "ROUTER_DEFAULT_MODEL_ID"
ENV_FALLBACK_MODEL_ID = "ROUTER_FALLBACK_MODEL_ID"
ENV_MODALITIES = "MODALITIES"
ENV_QUERY_MAX_CHARS = "ROUTER_QUERY_MAX_CHARS"
ENV_BATCH_MAX_QUERIES = "ROUTER_BATCH_MAX_QUERIES"
ENV_BATCH_CONCURRENCY = "ROUTER_BATCH_CONCURRENCY"
ENV_DEADLINE_MS = "ROUTER_DEADLINE_MS"
ENV_CACHE_TTL_SECONDS = "ROUTER_CACHE_TTL_SECONDS"
ENV_CACHE_MAX_ENTRIES = "ROUTER_CACHE_MAX_ENTRIES"
ENV_ACTIVE_MODEL_MAX_AGE_SECONDS = "ROUTER_ACTIVE_MODEL_MAX_AGE_SECONDS"
ENV_MAX_TOKENS = "ROUTER_MAX_TOKENS"
ENV_APP_TAG = "ROUTER_APP_TAG"
ENV_DEPLOYMENT_ARN_PREFIX = "ROUTER_DEPLOYMENT_ARN_PREFIX"
ENV_SHARED_CACHE_TABLE = "ROUTER_SHARED_CACHE_TABLE"
ENV_SHARED_CACHE_BUDGET_MS = "ROUTER_SHARED_CACHE_BUDGET_MS"
ENV_SHARED_CACHE_TTL_SECONDS = "ROUTER_SHARED_CACHE_TTL_SECONDS"
ENV_SHADOW_SLACK_MS = "ROUTER_SHADOW_SLACK_MS"
ENV_LOCAL_MODEL_BUCKET = "ROUTER_LOCAL_MODEL_BUCKET"
ENV_THROTTLE_WINDOW_MS = "ROUTER_THROTTLE_WINDOW_MS"


# The integer settings: field -> (its variable, lowest, highest allowed). The configuration
# (cdk_app.config) takes its bounds from here.
INTEGER_SETTINGS: dict[str, tuple[str, int, int]] = {
    "query_max_chars": (ENV_QUERY_MAX_CHARS, 1, 10_000),
    "batch_max_queries": (ENV_BATCH_MAX_QUERIES, 1, 100),
    "batch_concurrency": (ENV_BATCH_CONCURRENCY, 1, 32),
    "deadline_ms": (ENV_DEADLINE_MS, 200, 25_000),
    "cache_ttl_seconds": (ENV_CACHE_TTL_SECONDS, 0, 86_400),
    "cache_max_entries": (ENV_CACHE_MAX_ENTRIES, 0, 1_000_000),
    "active_model_max_age_seconds": (ENV_ACTIVE_MODEL_MAX_AGE_SECONDS, 0, 3_600),
    "max_tokens": (ENV_MAX_TOKENS, 16, 8_192),
    # The shared cache's read budget: a hit must cost less than the model call it spares, and a
    # slow table at most this much per in-process miss (router_api.shared_cache).
    "shared_cache_budget_ms": (ENV_SHARED_CACHE_BUDGET_MS, 1, 50),
    "shared_cache_ttl_seconds": (ENV_SHARED_CACHE_TTL_SECONDS, 60, 604_800),
    "shadow_slack_ms": (ENV_SHADOW_SLACK_MS, 0, 1_000),
    "throttle_window_ms": (ENV_THROTTLE_WINDOW_MS, 0, 10_000),
}

# Bedrock's requestMetadata value pattern (bedrock-runtime service model, Converse).
_METADATA_VALUE = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{1,256}")
# This account's custom model deployments in this region (bedrock service model, CustomModelDeploymentArn).
# DynamoDB's TableName pattern (dynamodb service model, TableName).
_TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]{3,255}")
_DEPLOYMENT_ARN_PREFIX = re.compile(
    r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:custom-model-deployment/"
)


# Amazon S3 user guide, "General purpose bucket naming rules": "Bucket names must be between 3 (min) and
# 63 (max) characters long", "can consist only of lowercase letters, numbers, dots (.), and hyphens (-)",
# "must begin and end with a letter or number".
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class SettingsError(ValueError):
    """An environment variable of the router is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class RouterSettings:
    """Everything the router needs to know about its deployment."""

    default_model_id: str
    fallback_model_id: str | None = None
    active_model_parameter: str | None = None
    modalities: tuple[str, ...] = DEFAULT_MODALITIES
    query_max_chars: int = 1_000
    batch_max_queries: int = 25
    batch_concurrency: int = 8
    deadline_ms: int = 6_000
    cache_ttl_seconds: int = 300
    cache_max_entries: int = 10_000
    active_model_max_age_seconds: int = 60
    max_tokens: int = 256
    # How long a shadow rollout may wait for its candidate after the active model answered.
    shadow_slack_ms: int = 50
    # After a throttled call, that model is skipped for this long (router_api.throttle_window); 0: off.
    throttle_window_ms: int = 500
    # Tags every Converse call (requestMetadata "app"), so invocation logs can be filtered later.
    app_tag: str = "router"
    # `arn:...:<region>:<account>:custom-model-deployment/`: the only deployments the parameter may
    # name (IAM further requires the pipeline's tags). None: no deployment is served.
    deployment_arn_prefix: str | None = None
    shared_cache_budget_ms: int = 8
    shared_cache_ttl_seconds: int = 3_600
    # The shared decision cache's DynamoDB table (router_api.shared_cache); None: no shared cache.
    shared_cache_table: str | None = None
    # The data bucket, where each run's tier-0 model lives (router_api.local_tier). None: no tier-0.
    local_model_bucket: str | None = None

    @property
    def configured_models(self) -> frozenset[str]:
        """The models the deployment names itself: what the parameter may name besides a deployment."""
        return frozenset(model for model in (self.default_model_id, self.fallback_model_id) if model)

    @property
    def max_body_chars(self) -> int:
        """Largest request body worth decoding: every query at full length, JSON-escaped: 12 characters for one
        outside the Basic Multilingual Plane (an emoji), a \\uXXXX surrogate pair as json.dumps writes it.
        The API document states this limit (stacks/constructs/router_openapi.py)."""
        return 12 * self.query_max_chars * self.batch_max_queries + 4_096

    def to_environ(self) -> dict[str, str]:
        """The function's environment variables for these settings (what from_environ reads back)."""
        optional = {
            ENV_FALLBACK_MODEL_ID: self.fallback_model_id,
            ENV_ACTIVE_MODEL_PARAMETER: self.active_model_parameter,
            ENV_DEPLOYMENT_ARN_PREFIX: self.deployment_arn_prefix,
            ENV_SHARED_CACHE_TABLE: self.shared_cache_table,
            ENV_LOCAL_MODEL_BUCKET: self.local_model_bucket,
        }
        return {
            ENV_DEFAULT_MODEL_ID: self.default_model_id,
            **{name: value for name, value in optional.items() if value is not None},
            ENV_MODALITIES: ",".join(self.modalities),
            **{name: str(getattr(self, field)) for field, (name, _low, _high) in INTEGER_SETTINGS.items()},
            ENV_APP_TAG: self.app_tag,
        }

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> RouterSettings:
        """Parse the router's environment variables; raise `SettingsError` naming the bad one."""
        default_model_id = _text(env, ENV_DEFAULT_MODEL_ID)
        if default_model_id is None:
            raise SettingsError(
                f"{ENV_DEFAULT_MODEL_ID} is required (the model used when no model is promoted)"
            )
        fallback_model_id = _text(env, ENV_FALLBACK_MODEL_ID)
        raw_modalities = _text(env, ENV_MODALITIES)
        try:
            modalities = (
                validate_modalities(tuple(name.strip() for name in raw_modalities.split(",")))
                if raw_modalities
                else DEFAULT_MODALITIES
            )
        except ValueError as exc:
            raise SettingsError(f"{ENV_MODALITIES}: {exc}") from None
        app_tag = _text(env, ENV_APP_TAG) or "router"
        if not _METADATA_VALUE.fullmatch(app_tag):
            raise SettingsError(
                f"{ENV_APP_TAG} must match Bedrock's requestMetadata pattern, got {app_tag!r}"
            )
        deployment_arn_prefix = _matching(
            env, ENV_DEPLOYMENT_ARN_PREFIX, _DEPLOYMENT_ARN_PREFIX,
            "arn:<partition>:bedrock:<region>:<account>:custom-model-deployment/",
        )  # fmt: skip
        local_model_bucket = _matching(env, ENV_LOCAL_MODEL_BUCKET, _BUCKET_NAME, "an S3 bucket name")
        shared_cache_table = _matching(
            env, ENV_SHARED_CACHE_TABLE, _TABLE_NAME, "a DynamoDB table name (3 to 255 of a-z A-Z 0-9 _ . -)"
        )
        defaults = {field.name: field.default for field in fields(cls)}
        return cls(
            default_model_id=default_model_id,
            fallback_model_id=fallback_model_id if fallback_model_id != default_model_id else None,
            active_model_parameter=_text(env, ENV_ACTIVE_MODEL_PARAMETER),
            modalities=modalities,
            app_tag=app_tag,
            deployment_arn_prefix=deployment_arn_prefix,
            shared_cache_table=shared_cache_table,
            local_model_bucket=local_model_bucket,
            **{
                field: _int(env, name, defaults[field], low, high)
                for field, (name, low, high) in INTEGER_SETTINGS.items()
            },
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _matching(env: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str) -> str | None:
    """An optional variable that must match `pattern` when set; SettingsError says it must be `what`."""
    value = _text(env, name)
    if value is not None and not pattern.fullmatch(value):
        raise SettingsError(f"{name} must be {what}, got {value[:300]!r}")
    return value
