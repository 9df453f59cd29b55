"""The committed OpenAPI document and the router function agree: what the document accepts the
handler accepts, what it refuses the handler refuses, with a status the document lists.

Every case is derived from docs/openapi.json itself (lengths, the query pattern, item counts,
documented statuses), not from the function's code, and drives the real handler.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from router_api.cache import DecisionCache
from router_api.service import SOURCE_HEURISTIC, RouteResult
from router_fixtures import api_event
from routing import heuristic_decision

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
SCHEMAS = DOCUMENT["components"]["schemas"]
QUERY = SCHEMAS["RouteRequest"]["properties"]["query"]
QUERIES = SCHEMAS["RouteBatchRequest"]["properties"]["queries"]
PATTERN = re.compile(QUERY["pattern"])  # JSON Schema patterns are searched, not anchored
# Code points around every class the pattern names: ASCII and Latin-1 (controls, NBSP, soft hyphen),
# the Unicode spaces and zero-width characters, the BOM, and visible letters of other scripts.
SAMPLE = [*range(0x100), 0x1680, 0x180E, *range(0x2000, 0x2071), 0x3000, 0xFEFF, 0x0410, 0x4E00, 0x1F600]


class RecordingRouter:
    """Answers every query with the heuristic and records what it was asked to route."""

    def __init__(self) -> None:
        self.cache = DecisionCache(max_entries=0, ttl_seconds=0)
        self.routed: list[str] = []

    def route(self, queries, deadline) -> list[RouteResult]:
        self.routed.extend(queries)
        return [
            RouteResult(heuristic_decision(q), "heuristic", SOURCE_HEURISTIC, True, 0.1, "m") for q in queries
        ]


def schema_accepts(query: str) -> bool:
    return QUERY["minLength"] <= len(query) <= QUERY["maxLength"] and PATTERN.search(query) is not None


def documented(path: str) -> set[int]:
    return {int(status) for status in DOCUMENT["paths"][path]["post"]["responses"]}


@pytest.fixture
def call(invoke):
    def send(
        payload: Any = None, *, path: str = "/route", **event: Any
    ) -> tuple[int, dict[str, Any], list[str]]:
        """POST `payload` as JSON (or the event keys given, e.g. a raw `body`) to `path`."""
        router = RecordingRouter()
        response = invoke({**api_event(path, body=payload), **event}, router)
        assert response["statusCode"] in documented(path), response
        return response["statusCode"], response["json"], router.routed

    return send


def test_every_sampled_character_is_a_query_exactly_when_the_pattern_says(call):
    disagreements = []
    for code in SAMPLE:
        status, _body, _routed = call({"query": chr(code)})
        if (status == 200) != schema_accepts(chr(code)) or status not in (200, 400):
            disagreements.append((hex(code), status))
    assert disagreements == []


def test_only_invisible_characters_are_blank_and_the_ends_are_trimmed(call):
    invisible = "".join(chr(code) for code in SAMPLE if not PATTERN.search(chr(code)))
    assert len(invisible) <= QUERY["maxLength"] and {"\x00", "\x1c", "\xa0", "\u200b", "\ufeff"} <= set(
        invisible
    )

    status, body, _ = call({"query": invisible})
    assert (status, schema_accepts(invisible)) == (400, False) and "no visible character" in body["message"]

    status, _body, routed = call({"query": f"{invisible[:40]}cats and dogs{invisible[:40]}"})
    assert status == 200 and routed == ["cats and dogs"]


@pytest.mark.parametrize(
    ("query", "accepted"),
    [
        ("a", True),
        ("a" * QUERY["maxLength"], True),
        (" " * (QUERY["maxLength"] - 1) + "a", True),
        ("a" * (QUERY["maxLength"] + 1), False),
        (" " * QUERY["maxLength"] + "a", False),  # the limit counts what is sent
        ("\U0001f600" * QUERY["maxLength"], True),  # characters, not UTF-16 units or bytes
        ("", False),
    ],
    ids=lambda value: f"len{len(value)}" if isinstance(value, str) else str(value),
)
def test_query_lengths_are_the_documents(call, query, accepted):
    assert schema_accepts(query) is accepted
    status, _body, _ = call({"query": query})
    assert status == (200 if accepted else 400)
    status, _body, _ = call({"queries": [query]}, path="/route/batch")
    assert status == (200 if accepted else 400)


@pytest.mark.parametrize(
    ("count", "accepted"), [(QUERIES["minItems"], True), (QUERIES["maxItems"], True), (QUERIES["maxItems"] + 1, False), (0, False)]
)  # fmt: skip
def test_batch_sizes_are_the_documents(call, count, accepted):
    status, _body, routed = call({"queries": [f"query {i}" for i in range(count)]}, path="/route/batch")
    assert status == (200 if accepted else 400)
    assert len(routed) == (count if accepted else 0)


def test_fields_the_document_does_not_name_are_refused(call):
    assert SCHEMAS["RouteRequest"]["additionalProperties"] is False
    status, body, _ = call({"query": "cats", "colour": "blue"})
    assert status == 400 and "'colour'" in body["message"]


def test_a_body_larger_than_documented_is_413_before_any_decoding(call, settings):
    (limit,) = {
        int(n) for n in re.findall(r"longer than (\d+) characters", json.dumps(DOCUMENT["paths"]["/route"]))
    }
    assert limit == settings.max_body_chars
    padding = " " * (limit - len('{"query": "cats"}') + 1)
    status, body, _ = call(body='{"query": "cats"}' + padding)
    assert status == 413 and str(limit) in body["message"]
    status, _body, _ = call(body='{"query": "cats"}' + padding[:-1])
    assert status == 200
    # A huge base64 body is refused by its size, never decoded (it is not even valid base64).
    status, body, _ = call(body="!" * (4 * limit * 2), isBase64Encoded=True)
    assert status == 413


@pytest.mark.parametrize("flag", ["false", "true", 1, None, False])
def test_only_boolean_true_means_base64(call, flag):
    status, _body, routed = call(body=json.dumps({"query": "cats"}), isBase64Encoded=flag)
    assert (status, routed) == (200, ["cats"])
    encoded = base64.b64encode(json.dumps({"query": "cats"}).encode()).decode()
    status, _body, routed = call(body=encoded, isBase64Encoded=True)
    assert (status, routed) == (200, ["cats"])


def test_unknown_field_names_are_echoed_bounded_and_as_valid_utf8(call, invoke, capsys):
    names = {f"{'k' * 1_000}{i}": 1 for i in range(100)} | {"\ud800lone": 1}
    capsys.readouterr()
    status, body, _ = call({"query": "cats", **names})
    assert status == 400
    assert len(body["message"]) < 600 and "and 96 more" in body["message"]
    logged = capsys.readouterr().out
    assert len(logged) < 4_000
    # What the Lambda runtime does with a response: JSON with ensure_ascii=False, then UTF-8.
    response = invoke(api_event(raw=json.dumps({"query": "cats", "\ud800": 1})), RecordingRouter())
    json.dumps(response, ensure_ascii=False).encode("utf-8")


def test_a_long_path_is_echoed_bounded(invoke):
    router = RecordingRouter()
    response = invoke(api_event("/" + "p" * 10_000, resource="/{proxy+}", body={"query": "cats"}), router)
    assert response["statusCode"] == 404 and len(response["json"]["message"]) < 200
    assert router.routed == []


def test_the_largest_valid_batch_as_python_sends_it_is_not_413(call, settings):
    """json.dumps escapes an emoji as a surrogate pair (12 characters): a full batch of them is valid."""
    queries = ["\U0001f3b5" * settings.query_max_chars] * settings.batch_max_queries
    body = json.dumps({"queries": queries})  # ensure_ascii=True, as requests and boto-style clients send
    assert len(body) > 6 * settings.query_max_chars * settings.batch_max_queries
    status, _body, routed = call(body=body, path="/route/batch")
    assert status == 200 and len(routed) == settings.batch_max_queries


def test_the_document_lists_every_source_the_router_answers_with():
    from router_api import service

    sources = {value for name, value in vars(service).items() if name.startswith("SOURCE_")}
    response = SCHEMAS["RouteResponse"]["properties"]
    assert set(response["source"]["enum"]) == sources
    assert "local" in sources and "tier-0" in response["model"]["description"]
