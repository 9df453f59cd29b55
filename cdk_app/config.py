"""Typed configuration of the app, read once from the CDK context.

Every setting lives in `cdk.json` under `context` and can be overridden on the command
line (`cdk synth -c examples=500 -c api_auth=api_key`). Command-line values arrive as
strings, so structured settings (lists, tables) accept JSON text too. The whole context is
parsed here into one frozen `AppConfig`; stacks and constructs receive that object and
never read the context themselves. A bad value raises `ConfigError` naming the key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from router_api.settings import INTEGER_SETTINGS as ROUTER_INTEGER_SETTINGS

# One rule for "which foundation model (and so which price) is behind a model id", shared with the
# Report Lambda; re-exported here for the stacks.
from routing.model_ids import foundation_model_of, inference_profile_geography  # noqa: F401

# The runtime settings own the field types and nested models; the configuration composes them, so a
# bound or a default is written once (routing/settings.py).
from routing.settings import (
    CANDIDATE_ORDER,
    MAX_TRAINING_RECORDS,
    MIN_TRAINING_RECORDS,
    MODEL_ID_HINT,
    MODEL_ID_PATTERN,
    POLL_BUDGETS,
    Candidate,
    DeploymentDeadlineMinutes,
    EvaluationConcurrency,
    EvaluationDeadlineHours,
    ExamplesPerCall,
    GateReference,
    GateThresholds,
    GenerationChecks,
    GenerationConcurrency,
    Holdout,
    JobDeadlineHours,
    MaxResponseLength,
    ModelId,
    ModelPrice,
    PromotionPolicy,
    RolloutAlarms,
    S3Uri,
    WaitSeconds,
    shortest_waits,
)

# Keys CDK itself (or its CLI) puts into the context: never ours to validate.
_FOREIGN_KEY = re.compile(r"^(@|aws:|aws-cdk:|cdk[-:])|:")
_FOREIGN_KEYS = frozenset({"acknowledged-issue-numbers"})

_MODALITY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_RESERVED_MODALITY_NAMES = frozenset({"reasoning", "query", "model", "source", "degraded", "latency_ms"})


# The router's time budget, end to end. The router answers within its deadline (model calls are
# capped by it, the heuristic always fits); the function gets a margin after it (shaping the
# response, flushing metrics); API Gateway waits longer still, because its clock also runs
# through a cold start's init phase (runtime, layer, imports), which the function timeout does
# not count. So: deadline < function timeout < integration timeout <= API Gateway's 29 s default.
ROUTER_FUNCTION_MARGIN_SECONDS = 2
ROUTER_COLD_START_MARGIN_SECONDS = 3
MAX_INTEGRATION_TIMEOUT_MS = 29_000
MAX_ROUTER_DEADLINE_MS = (
    MAX_INTEGRATION_TIMEOUT_MS // 1000 - ROUTER_COLD_START_MARGIN_SECONDS - ROUTER_FUNCTION_MARGIN_SECONDS
) * 1000


def _router_int(field: str, *, high: int | None = None) -> Any:
    """The bounds the router's settings (router_api.settings) allow for `field`; `high` may tighten them."""
    _variable, low, allowed = ROUTER_INTEGER_SETTINGS[field]
    return Annotated[int, Field(ge=low, le=allowed if high is None else min(high, allowed))]


QueryMaxChars = _router_int("query_max_chars")
BatchMaxQueries = _router_int("batch_max_queries")
# At most 24 s: the function timeout and the integration timeout after it must fit in 29 s.
RouterDeadlineMs = _router_int("deadline_ms", high=MAX_ROUTER_DEADLINE_MS)
RouterCacheTtlSeconds = _router_int("cache_ttl_seconds")
RouterCacheMaxEntries = _router_int("cache_max_entries")
ActiveModelMaxAgeSeconds = _router_int("active_model_max_age_seconds")
RouterMaxTokens = _router_int("max_tokens")
SharedCacheBudgetMs = _router_int("shared_cache_budget_ms")
SharedCacheTtlSeconds = _router_int("shared_cache_ttl_seconds")
RouterShadowSlackMs = _router_int("shadow_slack_ms")
RouterThrottleWindowMs = _router_int("throttle_window_ms")


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceTable(_Strict):
    """Prices used for cost previews and the report. Bedrock prices change: keep them current."""

    models: dict[str, ModelPrice] = Field(
        default_factory=lambda: {
            # Amazon Nova Micro: also the price of an on-demand deployment of a custom Nova Micro.
            "amazon.nova-micro-v1:0": ModelPrice(input_per_1m=0.035, output_per_1m=0.14),
            "amazon.nova-lite-v1:0": ModelPrice(input_per_1m=0.06, output_per_1m=0.24),
            "amazon.nova-pro-v1:0": ModelPrice(input_per_1m=0.8, output_per_1m=3.2),
            "amazon.nova-premier-v1:0": ModelPrice(input_per_1m=2.5, output_per_1m=12.5),
            "anthropic.claude-haiku-4-5-20251001-v1:0": ModelPrice(input_per_1m=1.0, output_per_1m=5.0),
        }
    )
    # Model customization (distillation) of Nova Micro: training tokens, and monthly storage per custom model.
    training_per_1m_tokens: Annotated[float, Field(ge=0)] = 1.0
    custom_model_storage_per_month: Annotated[float, Field(ge=0)] = 1.95
    # DynamoDB on-demand requests, Standard table class, US East (N. Virginia), for the router's shared
    # decision cache (`vsr cost`): USD per million read / write request units, as of 2026-12-01.
    dynamodb_read_per_1m_units: Annotated[float, Field(ge=0)] = 0.125
    dynamodb_write_per_1m_units: Annotated[float, Field(ge=0)] = 0.625


class RouterSharedCache(_Strict):
    """The router's shared decision cache: a DynamoDB table behind its in-process cache (docs/router-api.md)."""

    enabled: bool = False
    # How long a decision is served from the table (its items' TTL); a promotion changes the key anyway.
    ttl_seconds: SharedCacheTtlSeconds = 3_600
    # The most a lookup may add to a request (an in-process miss) before the router asks the model.
    budget_ms: SharedCacheBudgetMs = 8


class AppConfig(_Strict):
    """All settings of one deployment (one stage) of the product."""

    project_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,19}$")] = "vsr"
    stage: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{0,9}$")] = "dev"
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")] = "us-east-1"
    account: Annotated[str | None, Field(pattern=r"^[0-9]{12}$")] = None

    # Models. The seed's teacher, us.amazon.nova-premier-v1:0, is Legacy (end of life
    # 2026-09-14); Nova Pro is a distillation teacher that new accounts can still use.
    teacher_model_id: ModelId = "us.amazon.nova-pro-v1:0"
    student_model_id: ModelId = "amazon.nova-micro-v1:0:128k"
    baseline_model_id: ModelId = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    judge_model_id: ModelId = "us.amazon.nova-pro-v1:0"
    # What the router calls before any distilled model is promoted, and when the active model fails.
    router_default_model_id: ModelId = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    router_fallback_model_id: ModelId = "us.amazon.nova-micro-v1:0"

    # Dataset and distillation.
    modalities: list[str] = Field(default_factory=lambda: ["visual", "audio", "transcription", "metadata"])
    # Bounds in _cross_field: they depend on holdout, so the message can give the real minimum.
    examples: int = 10_000
    holdout: Holdout = 100
    # 20 to 79 per call: the examples of one call must fit a teacher answer (routing.settings).
    examples_per_call: ExamplesPerCall = 25
    generation_concurrency: GenerationConcurrency = 4
    generation_checks: GenerationChecks = Field(default_factory=GenerationChecks)
    max_response_length: MaxResponseLength = 1_000
    # Longer than the worst case of the default deadlines: job 48 h + deployment 2 h + evaluation 24 h.
    execution_timeout_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 96
    wait_seconds: WaitSeconds = Field(default_factory=WaitSeconds)
    job_deadline_hours: JobDeadlineHours = 48
    deployment_deadline_minutes: DeploymentDeadlineMinutes = 120
    evaluation_deadline_hours: EvaluationDeadlineHours = 24

    # Evaluation and promotion.
    evaluation_candidates: list[Candidate] = Field(default_factory=lambda: list(CANDIDATE_ORDER))
    evaluation_concurrency: EvaluationConcurrency = 4
    judge: bool = True
    gate: GateThresholds = Field(default_factory=GateThresholds)
    # A gold set (labelled JSONL written by people, under imports/ of the data bucket) every run also
    # answers; the teacher answers it too unless gold_teacher is false; the gate decides on it when
    # gate_reference is "gold" (docs/evaluation.md, "A gold set").
    gold_s3_uri: S3Uri | None = None
    gold_teacher: bool = True
    gate_reference: GateReference = "teacher"
    # What a run whose gate passed does: "promote" at once (default), or start a "shadow" or "canary"
    # rollout of its model for `percent` % of queries, finished by itself after `auto_finish_after`
    # (docs/rollout.md); the rollout alarms' thresholds.
    promotion: PromotionPolicy = Field(default_factory=PromotionPolicy)
    rollout: RolloutAlarms = Field(default_factory=RolloutAlarms)
    prices: PriceTable = Field(default_factory=PriceTable)

    # Router API.
    api_auth: Literal["iam", "api_key"] = "iam"
    # API Gateway writes access logs only once the region's account setting names a CloudWatch role.
    # "create": the router stack creates the role and the AWS::ApiGateway::Account setting (both retained
    # on destroy, so other APIs of the account keep logging); "existing": the account already has one
    # (`vsr doctor` checks it).
    api_gateway_cloudwatch_role: Literal["create", "existing"] = "create"
    query_max_chars: QueryMaxChars = 1_000
    batch_max_queries: BatchMaxQueries = 25
    api_throttle_rate: Annotated[int, Field(ge=1, le=10_000)] = 200
    api_throttle_burst: Annotated[int, Field(ge=1, le=5_000)] = 400
    router_deadline_ms: RouterDeadlineMs = 6_000
    router_cache_ttl_seconds: RouterCacheTtlSeconds = 300
    router_cache_max_entries: RouterCacheMaxEntries = 10_000
    active_model_max_age_seconds: ActiveModelMaxAgeSeconds = 60
    # Converse maxTokens of the router's calls: a decision with its reasoning is ~100 tokens, and Bedrock
    # reserves input + maxTokens against the model's tokens-per-minute quota when a call starts
    # (docs/capacity.md); a run's report recommends a value from the measured answers.
    router_max_tokens: RouterMaxTokens = 256
    router_shared_cache: RouterSharedCache = Field(default_factory=RouterSharedCache)
    # A shadow rollout never delays a response by more than this past the active model's answer.
    router_shadow_slack_ms: RouterShadowSlackMs = 50
    # Tier-0: the router answers the queries the promoted run's local model is confident about itself
    # (and stands in with it when the models fail); false: no S3 read, no grant (docs/router-api.md).
    router_tier0: bool = True
    # After a throttled call, the router skips that model for this long in that container (0: off).
    router_throttle_window_ms: RouterThrottleWindowMs = 500

    # Operations.
    removal_policy: Literal["retain", "destroy"] = "retain"
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 180, 365, 731, 1827, 3653] = 30
    scratch_expiry_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # Bedrock invocation logs under invocation-logs/ hold raw user queries: kept long enough to distil
    # from (a run reads them within days), then deleted, old versions included (docs/security.md).
    invocation_log_expiry_days: Annotated[int, Field(ge=1, le=3650)] = 90
    notification_email: Annotated[str | None, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] = None

    @field_validator("modalities")
    @classmethod
    def _modalities(cls, value: list[str]) -> list[str]:
        if not 2 <= len(value) <= 12:
            raise ValueError("give between 2 and 12 modalities")
        for name in value:
            if not _MODALITY.match(name) or name in _RESERVED_MODALITY_NAMES:
                raise ValueError(
                    f"{name!r} is not a valid modality name (lowercase identifier, not reserved)"
                )
        if len(set(value)) != len(value):
            raise ValueError("modality names must be unique")
        return value

    @field_validator("evaluation_candidates")
    @classmethod
    def _candidates(cls, value: list[str]) -> list[str]:
        if "distilled" not in value:
            raise ValueError("must include 'distilled' (the model under test)")
        if len(set(value)) != len(value):
            raise ValueError("candidates must be unique")
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> AppConfig:
        if self.examples < self.holdout + MIN_TRAINING_RECORDS:
            raise ValueError(
                f"examples ({self.examples}) must be at least holdout + {MIN_TRAINING_RECORDS} "
                f"({self.holdout + MIN_TRAINING_RECORDS}): Bedrock needs {MIN_TRAINING_RECORDS} training records"
            )
        if self.examples > MAX_TRAINING_RECORDS + self.holdout:
            raise ValueError(
                f"examples must be at most {MAX_TRAINING_RECORDS:,} + holdout "
                f"({MAX_TRAINING_RECORDS + self.holdout}): Bedrock's limit"
            )
        if self.removal_policy == "destroy" and self.stage in {"prod", "production", "live"}:
            raise ValueError(
                f"removal_policy 'destroy' is refused for stage {self.stage!r}: data would be lost"
            )
        loops_minutes = (
            self.job_deadline_hours * 60
            + self.deployment_deadline_minutes
            + self.evaluation_deadline_hours * 60
        )
        if self.execution_timeout_hours * 60 <= loops_minutes:
            raise ValueError(
                f"execution_timeout_hours ({self.execution_timeout_hours}) must exceed job_deadline_hours + "
                f"deployment_deadline_minutes + evaluation_deadline_hours ({loops_minutes / 60:g} h): "
                "a run would time out before its own deadlines"
            )
        shortest = shortest_waits(
            self.job_deadline_hours, self.deployment_deadline_minutes, self.evaluation_deadline_hours
        )
        for loop, wait in self.wait_seconds.model_dump().items():
            if 0 < wait < shortest[loop]:
                raise ValueError(
                    f"wait_seconds.{loop} ({wait}) must be 0 or at least {shortest[loop]} s for its deadline to fit "
                    f"in {POLL_BUDGETS[loop]} polls (Step Functions' 25,000 history events): every run would "
                    "fail at Plan"
                )
        if self.gate_reference == "gold" and not self.gold_s3_uri:
            raise ValueError(
                "gate_reference 'gold' needs a gold set: set gold_s3_uri (s3://<data bucket>/imports/...), "
                "or keep gate_reference 'teacher'"
            )
        if self.rollout.datapoints_to_alarm > self.rollout.evaluation_periods:
            raise ValueError(
                f"rollout.datapoints_to_alarm ({self.rollout.datapoints_to_alarm}) must be at most "
                f"rollout.evaluation_periods ({self.rollout.evaluation_periods})"
            )
        if self.api_throttle_burst < self.api_throttle_rate // 10:
            raise ValueError("api_throttle_burst is too small for api_throttle_rate (at least a tenth of it)")
        return self

    # Derived names: part of the public contract (README), so computed in one place.
    @property
    def prefix(self) -> str:
        return f"{self.project_name}-{self.stage}"

    @property
    def active_model_parameter_name(self) -> str:
        return f"/{self.project_name}/{self.stage}/router/active-model"

    @property
    def router_metrics_namespace(self) -> str:
        """The CloudWatch namespace of the router's EMF metrics (Powertools' POWERTOOLS_METRICS_NAMESPACE)."""
        return f"{self.project_name}/{self.stage}"

    @property
    def router_metrics_service(self) -> str:
        """The `service` dimension of the router's metrics (its POWERTOOLS_SERVICE_NAME)."""
        return f"{self.prefix}-router"

    @property
    def rollout_alarm_names(self) -> dict[str, str]:
        """What each rollout alarm watches -> its name: the controller's rule matches exactly these."""
        return {
            watched: f"{self.prefix}-rollout-{watched}"
            for watched in ("candidate-fallback-rate", "candidate-parse-failures", "candidate-latency",
                            "shadow-disagreement")
        }  # fmt: skip

    @property
    def router_app_tag(self) -> str:
        """The Converse requestMetadata `app` tag of the router's calls: distilling from invocation logs
        keeps the calls tagged with it."""
        return f"{self.prefix}-router"

    @property
    def router_function_timeout_seconds(self) -> int:
        """The router Lambda's timeout: its deadline plus ROUTER_FUNCTION_MARGIN_SECONDS."""
        return math.ceil(self.router_deadline_ms / 1000) + ROUTER_FUNCTION_MARGIN_SECONDS

    @property
    def router_integration_timeout_ms(self) -> int:
        """How long API Gateway waits for the router: the function timeout plus a cold start's init."""
        return (self.router_function_timeout_seconds + ROUTER_COLD_START_MARGIN_SECONDS) * 1000

    def stack_name(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def price_for(self, model_id: str) -> ModelPrice | None:
        """Price of a model id, inference profile id or ARN, matched on its foundation model."""
        return self.prices.models.get(foundation_model_of(model_id, self.student_model_id))


def _coerce(value: Any) -> Any:
    """Context values given with `-c key=value` are strings; accept JSON text for structured settings."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{" or text in {"true", "false", "null"}:
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return value
    return value


def _describe(error: Mapping[str, Any], origins: Mapping[str, str]) -> str:
    """One line per error, naming where the value came from: a command-line flag of `origins`, else cdk.json."""
    loc = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if not loc:  # a rule across keys: its message names the keys, which name where they came from
        mentioned = re.findall(r"[a-z][a-z0-9_]*", message)
        flags = list(dict.fromkeys(origins[key] for key in mentioned if key in origins))
        if flags:
            return f"{', '.join(flags)}: {message}"
        return f"cdk.json context: {message}"
    if error.get("type") == "extra_forbidden":
        message = "unknown setting (check the spelling; see docs/configuration.md)"
    if (
        error.get("type") == "string_pattern_mismatch"
        and error.get("ctx", {}).get("pattern") == MODEL_ID_PATTERN
    ):
        message = f"not {MODEL_ID_HINT}"
    shown = error.get("input")
    suffix = (
        f" (got {shown!r})" if error.get("type") != "extra_forbidden" and not isinstance(shown, dict) else ""
    )
    if loc[0] in origins:
        inner = ".".join(loc[1:])
        return f"{origins[loc[0]]}: {inner + ': ' if inner else ''}{message}{suffix}"
    return f"cdk.json context key '{'.'.join(loc)}': {message}{suffix}"


def load_config(context: Mapping[str, Any], origins: Mapping[str, str] | None = None) -> AppConfig:
    """Parse the CDK context into an `AppConfig`; raise `ConfigError` naming each bad key.

    `origins` maps the keys a command line gave to how it gave them (`{"examples": "--examples",
    "stage": "-c stage"}`): their errors name that flag instead of the cdk.json key.
    """
    ours = {
        key: _coerce(value)
        for key, value in context.items()
        if key not in _FOREIGN_KEYS and not _FOREIGN_KEY.search(key)
    }
    try:
        return AppConfig.model_validate(ours)
    except ValidationError as exc:
        lines = [_describe(error, origins or {}) for error in exc.errors()]
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(lines)) from None
