"""Router Lambda: `POST /route` and `POST /route/batch` behind API Gateway (REST, proxy integration).

Parses the event, routes the queries, shapes the response; everything else lives in
`router_api`. Settings are read once at import; the router (Bedrock and SSM clients) is
built on the first request, so the import stays small. No X-Ray SDK here (see
routing.observability): Lambda's active tracing records the invocation segments.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from router_api.api import ApiError, error_response, json_response, parse_request, request_id_of, success_body
from router_api.service import Deadline, Router, build_router
from router_api.settings import RouterSettings
from router_api.telemetry import (
    record_candidate_refused,
    record_internal_error,
    record_local_model_error,
    record_model_refused,
    record_parameter_error,
    record_rejection,
    record_results,
    record_shared_cache,
)
from routing.observability import logger, metrics

SETTINGS = RouterSettings.from_environ(os.environ)
_router: Router | None = None


def get_router() -> Router:
    global _router
    if _router is None:
        _router = build_router(
            SETTINGS,
            on_parameter_error=record_parameter_error,
            on_model_refused=record_model_refused,
            on_candidate_refused=record_candidate_refused,
            on_local_model_error=record_local_model_error,
        )
    return _router


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = request_id_of(event, getattr(context, "aws_request_id", None))
    try:
        request = parse_request(event, SETTINGS)
    except ApiError as exc:
        record_rejection(exc.status, exc.message)
        return error_response(exc, request_id)
    try:
        deadline = Deadline.start(SETTINGS.deadline_ms, context.get_remaining_time_in_millis())
        router = get_router()
        results = router.route(request.queries, deadline)
    except Exception:
        # The router answers every query by design; reaching this is a bug, not a model failure.
        record_internal_error()
        return error_response(ApiError(500, "internal error"), request_id)
    record_results(results, cache_enabled=router.cache.enabled)
    record_shared_cache(router.cache)
    return json_response(200, success_body(request, [result.to_dict() for result in results]))
