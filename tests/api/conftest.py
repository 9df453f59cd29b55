"""Fixtures for the router Lambda tests (helpers live in router_fixtures.py).

The handler module is loaded from its file under a unique name (`router_handler`), so
that it cannot collide with other functions' `handler.py` in the same test session.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from router_fixtures import ROUTER_DIR, ROUTER_ENV, Bedrock, LambdaContext

# isort: split
# router_fixtures has put lambdas/router (the function's code root in Lambda) on sys.path.
from router_api.cache import DecisionCache
from router_api.local_tier import LocalTier
from router_api.model_selection import ActiveModelSource
from router_api.service import ModelInvoker, Router
from router_api.settings import RouterSettings


def _load_handler() -> ModuleType:
    """Import handler.py once with the router's environment, as module `router_handler`."""
    saved = {name: os.environ.get(name) for name in ROUTER_ENV}
    os.environ.update(ROUTER_ENV)
    try:
        spec = importlib.util.spec_from_file_location("router_handler", ROUTER_DIR / "handler.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return module


# Imported once per session, as Lambda imports it once per container: its SETTINGS are read at
# import, and tests swap its `_router` (monkeypatch restores it).
_HANDLER = _load_handler()


@pytest.fixture(scope="session")
def router_handler() -> ModuleType:
    return _HANDLER


@pytest.fixture
def settings() -> RouterSettings:
    return RouterSettings.from_environ(ROUTER_ENV)


@pytest.fixture
def bedrock() -> Iterator[Bedrock]:
    stub = Bedrock()
    yield stub
    stub.stubber.deactivate()


@pytest.fixture
def make_router(settings: RouterSettings, bedrock: Bedrock) -> Callable[..., Router]:
    """A Router on the Stubber'd client; `parameter` is the active-model parameter's value, `local` its tier-0."""

    def make(
        *,
        parameter: str | None = None,
        settings: RouterSettings = settings,
        read_parameter: Callable[[str, int], str] | None = None,
        cache: DecisionCache | None = None,
        local: LocalTier | None = None,
    ) -> Router:
        def read(_name: str, _max_age: int) -> str:
            return parameter if parameter is not None else json.dumps({"model_id": None})

        return Router(
            settings,
            models=ModelInvoker(settings, bedrock.pool(), sleep=lambda _seconds: None),
            active_model=ActiveModelSource.for_settings(settings, read_parameter=read_parameter or read),
            # (`is None`: a disabled DecisionCache is empty, so falsy)
            cache=cache if cache is not None else DecisionCache(max_entries=100, ttl_seconds=60),
            local=local,
        )

    return make


@pytest.fixture
def invoke(router_handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, Any]]:
    """Call the handler with an event; `router` replaces the production wiring for this test."""

    def call(
        event: dict[str, Any], router: Router | None = None, remaining_ms: int = 10_000
    ) -> dict[str, Any]:
        if router is not None:
            monkeypatch.setattr(router_handler, "_router", router)
        response = router_handler.handler(event, LambdaContext(remaining_ms))
        response["json"] = json.loads(response["body"])
        return response

    return call
