"""Which model the router asks: the active-model parameter, read through Powertools Parameters.

The parameter holds the active-model JSON contract (`routing.active_model`). Powertools
caches the value for `max_age` seconds, so a promotion or rollback reaches every warm
container within that time without an SSM call per request. A value without a model
means "use the configured default", and so does a missing parameter (no stack creates it:
the first promotion does), checked again after `max_age`. When SSM cannot be read, the
router keeps the last value it read (or the default) and tries again only after
`max_age`, so an SSM outage costs one failed call per container per `max_age`, not one
per request.

The parameter may name only what this deployment may serve (`ServableModels`): a
configured model (default or fallback) or a custom model deployment of this account and
region. Anything else (another account's deployment, an unconfigured foundation model,
text that is no model id) is refused: the router serves the default and reports the
refusal once per value. IAM adds what the ARN cannot show: only deployments carrying the
pipeline's tags can be invoked (stacks/constructs/router_function.py). The same check applies
to a rollout's candidate (`Rollout.model_id`): a candidate this deployment may not serve means
no rollout (the active model serves alone), reported once per value.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters import SSMProvider
from botocore.config import Config
from botocore.exceptions import ClientError
from routing.active_model import LocalModelRef, Rollout, parse_active_model

from .settings import RouterSettings

# Reading the parameter happens once per max_age; keep it well inside the request deadline.
SSM_CLIENT_CONFIG = Config(
    connect_timeout=0.5, read_timeout=1.0, retries={"mode": "standard", "total_max_attempts": 2}
)


@dataclass(frozen=True, slots=True)
class ActiveModel:
    """The model to ask first, and where that choice came from."""

    model_id: str
    # "parameter": promoted model; "default": nothing promoted (parameter missing, empty or not configured);
    # "refused": the parameter names a model this deployment may not serve;
    # "stale": the last value read, because SSM failed now; "default_after_error": SSM failed, nothing read yet.
    origin: str
    run_id: str | None = None
    # A candidate watched on live traffic (shadow or canary), already checked as servable.
    rollout: Rollout | None = None
    # The tier-0 model promoted with it (router_api.local_tier), only for a model this router serves.
    local_model: LocalModelRef | None = None


# Deployment ids in Bedrock's CustomModelDeploymentArn pattern (botocore service model).
_DEPLOYMENT_ID = r"[a-z0-9]{12}"


class ServableModels:
    """Which model ids the active-model parameter may name: the configured ones and this account's deployments."""

    def __init__(self, configured: Iterable[str], deployment_arn_prefix: str | None) -> None:
        self._configured = frozenset(configured)
        self._deployment = (
            re.compile(re.escape(deployment_arn_prefix) + _DEPLOYMENT_ID) if deployment_arn_prefix else None
        )

    def __call__(self, model_id: str) -> bool:
        if model_id in self._configured:
            return True
        return self._deployment is not None and self._deployment.fullmatch(model_id) is not None


def parameter_missing(error: BaseException) -> bool:
    """True when SSM said ParameterNotFound (Powertools wraps the ClientError; its context keeps it)."""
    seen: BaseException | None = error
    while seen is not None:
        if (
            isinstance(seen, ClientError)
            and seen.response.get("Error", {}).get("Code") == "ParameterNotFound"
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class ActiveModelSource:
    """Resolves the active model; never raises (a failed read falls back as described above)."""

    def __init__(
        self,
        *,
        parameter_name: str | None,
        default_model_id: str,
        max_age_seconds: int,
        read_parameter: Callable[[str, int], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[Exception], None] | None = None,
        servable: Callable[[str], bool] | None = None,
        on_refused: Callable[[str], None] | None = None,
        on_candidate_refused: Callable[[str], None] | None = None,
    ) -> None:
        self._name = parameter_name
        self._default = default_model_id
        self._max_age = max_age_seconds
        self._read = read_parameter or powertools_reader()
        self._clock = clock
        self._on_error = on_error
        self._servable = servable or ServableModels([default_model_id], None)
        self._on_refused = on_refused
        self._on_candidate_refused = on_candidate_refused
        self._last: ActiveModel | None = None
        self._last_raw: str | None = None
        self._held: ActiveModel | None = None  # what to answer until _retry_at
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> ActiveModel:
        if self._name is None:
            return ActiveModel(self._default, "default")
        with self._lock:
            if self._held is not None and self._clock() < self._retry_at:
                return self._held
            try:
                raw = self._read(self._name, self._max_age)
            except Exception as exc:  # any failure to read means "keep serving", never a 5xx
                self._retry_at = self._clock() + max(self._max_age, 1)
                if parameter_missing(exc):  # nothing promoted yet: not an error
                    self._last, self._last_raw = ActiveModel(self._default, "default"), None
                    self._held = self._last
                    return self._held
                if self._on_error:
                    self._on_error(exc)
                self._held = self._after_error()
                return self._held
            self._held = None
            # Powertools hands back the same cached string for max_age: parse it once, not per request.
            if self._last is None or raw != self._last_raw:
                self._last = self._resolve(raw)
                self._last_raw = raw
            return self._last

    def refuse(self, model_id: str) -> None:
        """Bedrock denied `model_id` (IAM: not a deployment this project tagged): serve the default instead.

        Holds until the parameter's value changes; reported once, like a value refused on reading.
        """
        with self._lock:
            last = self._last
            if last is None or last.model_id != model_id or last.origin != "parameter":
                return
            self._last = ActiveModel(self._default, "refused", last.run_id, last.rollout)
            if self._held is not None and self._held.model_id == model_id:
                self._held = ActiveModel(self._default, "stale", last.run_id, self._held.rollout)
        if self._on_refused:
            self._on_refused(model_id)

    def refuse_candidate(self, model_id: str) -> None:
        """Bedrock denied the rollout's candidate `model_id`: no rollout until the parameter's value changes.

        Reported once, like a candidate refused on reading.
        """
        with self._lock:
            last = self._last
            if last is None or last.rollout is None or last.rollout.model_id != model_id:
                return
            self._last = replace(last, rollout=None)
            if self._held is not None and self._held.rollout is not None:
                self._held = replace(self._held, rollout=None)
        if self._on_candidate_refused:
            self._on_candidate_refused(model_id)

    @classmethod
    def for_settings(
        cls,
        settings: RouterSettings,
        *,
        read_parameter: Callable[[str, int], str] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        on_refused: Callable[[str], None] | None = None,
        on_candidate_refused: Callable[[str], None] | None = None,
    ) -> ActiveModelSource:
        """The source a router with `settings` uses: its parameter, default, cache age and servable models."""
        return cls(
            parameter_name=settings.active_model_parameter,
            default_model_id=settings.default_model_id,
            max_age_seconds=settings.active_model_max_age_seconds,
            read_parameter=read_parameter,
            on_error=on_error,
            servable=ServableModels(settings.configured_models, settings.deployment_arn_prefix),
            on_refused=on_refused,
            on_candidate_refused=on_candidate_refused,
        )

    def _resolve(self, raw: str) -> ActiveModel:
        value = parse_active_model(raw)
        if value.model_id is None:
            active = ActiveModel(self._default, "default")
        elif not self._servable(value.model_id):
            if self._on_refused:
                self._on_refused(value.model_id)
            active = ActiveModel(self._default, "refused", value.run_id)
        else:
            active = ActiveModel(value.model_id, "parameter", value.run_id, local_model=value.local_model)
        return replace(active, rollout=self._candidate(value.rollout, active.model_id))

    def _candidate(self, rollout: Rollout | None, serving: str) -> Rollout | None:
        """The rollout when its candidate may be served and differs from the model serving; else None."""
        if rollout is None or rollout.model_id == serving:
            return None
        if not self._servable(rollout.model_id):
            if self._on_candidate_refused:
                self._on_candidate_refused(rollout.model_id)
            return None
        return rollout

    def _after_error(self) -> ActiveModel:
        if self._last is None:
            return ActiveModel(self._default, "default_after_error")
        return ActiveModel(
            self._last.model_id, "stale", self._last.run_id, self._last.rollout, self._last.local_model
        )


def powertools_reader(create_client: Callable[[], Any] | None = None) -> Callable[[str, int], str]:
    """`read(name, max_age)` through a Powertools SSMProvider; its boto3 client is created on first use."""
    provider: list[Any] = []

    def read(name: str, max_age: int) -> str:
        if not provider:
            client = create_client() if create_client else _ssm_client()
            provider.append(SSMProvider(boto3_client=client))
        return provider[0].get(name, max_age=max_age)

    return read


def _ssm_client() -> Any:
    return boto3.session.Session().client("ssm", config=SSM_CLIENT_CONFIG)
