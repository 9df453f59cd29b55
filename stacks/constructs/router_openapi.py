"""The router API's public contract, in one place: request models and the OpenAPI description.

The same JSON Schemas become the API Gateway request models (validated before the Lambda
runs) and the OpenAPI 3 document committed as docs/openapi.json; a test holds the
document, the schemas and the synthesized API equal. Regenerate the document after a
contract change with `python -m stacks.constructs.router_openapi`.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from routing.contract import QUERY_VISIBLE_PATTERN

from cdk_app.config import AppConfig
from stacks.constructs.function_environment import router_settings

ROUTE_PATH = "/route"
BATCH_PATH = "/route/batch"
OPENAPI_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"

SOURCES = ["model", "fallback_model", "heuristic", "cache", "local"]
ROUTE_MODEL_NAME = "RouteRequest"
BATCH_MODEL_NAME = "RouteBatchRequest"


def _query_schema(config: AppConfig) -> dict[str, Any]:
    """The router's exact rule for a query: the gateway refuses what the function would refuse."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": config.query_max_chars,
        "pattern": QUERY_VISIBLE_PATTERN,
        "description": (
            f"A video search query: 1 to {config.query_max_chars} characters (as sent), at least one of them "
            "visible (not white space, a control character, a zero-width character or a BOM). It is routed "
            "with its invisible ends trimmed."
        ),
    }


def route_request_schema(config: AppConfig) -> dict[str, Any]:
    return {
        "title": ROUTE_MODEL_NAME,
        "type": "object",
        "required": ["query"],
        "properties": {"query": _query_schema(config)},
        "additionalProperties": False,
    }


def batch_request_schema(config: AppConfig) -> dict[str, Any]:
    return {
        "title": BATCH_MODEL_NAME,
        "type": "object",
        "required": ["queries"],
        "properties": {
            "queries": {
                "type": "array",
                "minItems": 1,
                "maxItems": config.batch_max_queries,
                "items": _query_schema(config),
                "description": "Queries to route; the results come back in the same order.",
            }
        },
        "additionalProperties": False,
    }


def decision_schema(config: AppConfig) -> dict[str, Any]:
    weights = {
        name: {"type": "number", "minimum": 0, "maximum": 1, "description": f"Weight of the {name} signal."}
        for name in config.modalities
    }
    return {
        "title": "RouteResponse",
        "type": "object",
        "required": [*config.modalities, "reasoning", "model", "source", "degraded", "latency_ms"],
        "properties": {
            **weights,
            "reasoning": {
                "type": "string",
                "description": "Why these weights (from the model, tier-0 or the heuristic).",
            },
            "model": {
                "type": "string",
                "description": 'Model id or deployment ARN that answered, "local:<run id>" for the '
                'promoted run\'s tier-0 model, or "heuristic".',
            },
            "source": {"type": "string", "enum": SOURCES, "description": "Where the answer came from."},
            "degraded": {
                "type": "boolean",
                "description": "True when the active model did not answer (fallback model, tier-0 after a "
                "model failure, or heuristic); false for a confident tier-0 answer.",
            },
            "latency_ms": {
                "type": "number",
                "minimum": 0,
                "description": "Time the router spent on this query.",
            },
        },
        "additionalProperties": False,
    }


def openapi_document(config: AppConfig) -> dict[str, Any]:
    """OpenAPI 3.0 description of the router API for `config`."""
    weights_note = " + ".join(config.modalities)
    sigv4 = {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "AWS Signature Version 4 (service execute-api); the caller needs execute-api:Invoke.",
        "x-amazon-apigateway-authtype": "awsSigv4",
    }
    api_key = {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
        "description": "API key of the usage plan.",
    }
    security_name = "sigv4" if config.api_auth == "iam" else "api_key"
    errors = {
        "400": _error(
            "Invalid JSON, wrong types, unknown fields, queries without a visible character or too long, "
            "too many items."
        ),
        "403": _error("Missing or invalid credentials (SigV4 or API key), or blocked by the web ACL."),
        "404": _error("No such resource."),
        "405": _error("Method not allowed (only POST)."),
        "413": _error(
            f"Request body longer than {router_settings(config).max_body_chars} characters (the largest valid body, "
            "every query JSON-escaped), or than API Gateway's 10 MB payload limit."
        ),
        "429": _error("Throttled by the stage or usage plan limits."),
        "500": _error(
            "The router failed (a bug: model failures are answered with degraded = true, not 5xx)."
        ),
        "502": _error("The router function could not answer (API Gateway: Lambda error)."),
        "504": _error("The router function did not answer in time (API Gateway integration timeout)."),
    }

    def operation(op_id: str, summary: str, request: str, response: dict[str, Any]) -> dict[str, Any]:
        return {
            "operationId": op_id,
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{request}"}}},
            },
            "responses": {
                "200": {
                    "description": "Routing decision(s)",
                    "content": {"application/json": {"schema": response}},
                },
                **errors,
            },
            "security": [{security_name: []}],
        }

    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"{config.project_name} router API",
            "version": "1.0.0",
            "description": (
                "Modality weights for a video search query: how much the search engine should weigh "
                f"{weights_note}. Weights are in [0, 1] and sum to 1.0. Every query gets an answer: when "
                "the active model fails, the fallback model, the tier-0 local model or a heuristic answers and "
                "`degraded` is true."
            ),
        },
        "servers": [
            {
                "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}",
                "variables": {
                    "restApiId": {"default": "abcdef1234", "description": "RouterApiId stack output"},
                    "region": {"default": config.region},
                    "stage": {"default": config.stage},
                },
            }
        ],
        "paths": {
            ROUTE_PATH: {
                "post": operation(
                    "route",
                    "Route one query",
                    ROUTE_MODEL_NAME,
                    {"$ref": "#/components/schemas/RouteResponse"},
                )
            },
            BATCH_PATH: {
                "post": operation(
                    "routeBatch",
                    f"Route 1 to {config.batch_max_queries} queries",
                    BATCH_MODEL_NAME,
                    {
                        "type": "object",
                        "required": ["results"],
                        "properties": {
                            "results": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/RouteResponse"},
                            }
                        },
                    },
                )
            },
        },
        "components": {
            "schemas": {
                ROUTE_MODEL_NAME: route_request_schema(config),
                BATCH_MODEL_NAME: batch_request_schema(config),
                "RouteResponse": decision_schema(config),
                "Error": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {"message": {"type": "string"}, "request_id": {"type": "string"}},
                },
            },
            "securitySchemes": {"sigv4": sigv4, "api_key": api_key},
        },
    }


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def as_gateway_model_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI schema as API Gateway wants a model: JSON Schema draft 4, without OpenAPI-only keys."""
    model = copy.deepcopy(schema)
    model["$schema"] = "http://json-schema.org/draft-04/schema#"
    return model


def main() -> None:
    """Write docs/openapi.json for the configuration in cdk.json."""
    from cdk_app.config import load_config

    config = load_config(json.loads((OPENAPI_FILE.parents[1] / "cdk.json").read_text())["context"])
    OPENAPI_FILE.parent.mkdir(parents=True, exist_ok=True)
    OPENAPI_FILE.write_text(json.dumps(openapi_document(config), indent=2) + "\n")
    print(f"wrote {OPENAPI_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
