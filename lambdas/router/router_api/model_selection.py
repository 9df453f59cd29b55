"""Which model the router asks: the active-model parameter, read through Powertools Parameters.

The parameter holds the active-model JSON contract (`routing.active_model`). Powertools
caches the value for `max_age` seconds, so a promotion or rollback reaches every warm
container within that time without an SSM call per request. A value without a model
means "use the configured default". When SSM cannot be read, the router keeps the last
value it read (or the default) and tries again only after `max_age`, so an SSM outage
costs one failed call per container per `max_age`, not one per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters import SSMProvider
from botocore.config import Config
from routing.active_model import parse_active_model

# Reading the parameter happens once per max_age; keep it well inside the request deadline.
SSM_CLIENT_CONFIG = Config(
    connect_timeout=0.5, read_timeout=1.0, retries={"mode": "standard", "total_max_attempts": 2}
)


@dataclass(frozen=True, slots=True)
class ActiveModel:
    """The model to ask first, and where that choice came from."""

    model_id: str
    # "parameter": promoted model; "default": nothing promoted (or no parameter configured);
    # "stale": the last value read, because SSM failed now; "default_after_error": SSM failed, nothing read yet.
    origin: str
    run_id: str | None = None


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
    ) -> None:
        self._name = parameter_name
        self._default = default_model_id
        self._max_age = max_age_seconds
        self._read = read_parameter or powertools_reader()
        self._clock = clock
        self._on_error = on_error
        self._last: ActiveModel | None = None
        self._last_raw: str | None = None
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> ActiveModel:
        if self._name is None:
            return ActiveModel(self._default, "default")
        with self._lock:
            if self._clock() < self._retry_at:
                return self._after_error()
            try:
                raw = self._read(self._name, self._max_age)
            except Exception as exc:  # any failure to read means "keep serving", never a 5xx
                self._retry_at = self._clock() + max(self._max_age, 1)
                if self._on_error:
                    self._on_error(exc)
                return self._after_error()
            # Powertools hands back the same cached string for max_age: parse it once, not per request.
            if self._last is None or raw != self._last_raw:
                value = parse_active_model(raw)
                if value.model_id is None:
                    self._last = ActiveModel(self._default, "default")
                else:
                    self._last = ActiveModel(value.model_id, "parameter", value.run_id)
                self._last_raw = raw
            return self._last

    def _after_error(self) -> ActiveModel:
        if self._last is None:
            return ActiveModel(self._default, "default_after_error")
        return ActiveModel(self._last.model_id, "stale", self._last.run_id)


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
