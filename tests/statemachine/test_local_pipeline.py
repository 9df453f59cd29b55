"""The local harness itself: handler errors look like Lambda's, Step Functions' payload limit holds,
progress sees every event once, retries are recorded instead of slept."""

from __future__ import annotations

import json

from cdk_app.local.pipeline import DATA_LIMIT_ERROR, MAX_STATE_PAYLOAD_BYTES, LocalPipeline


class Throttled(Exception):
    pass


def definition(local: LocalPipeline) -> str:
    return json.dumps(
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": local.function_arn("step"), "Payload.$": "$"},
                    "ResultSelector": {"value.$": "$.Payload"},
                    "Retry": [
                        {
                            "ErrorEquals": ["Throttled"],
                            "IntervalSeconds": 30,
                            "MaxAttempts": 2,
                            "JitterStrategy": "FULL",
                        }
                    ],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        }
    )


def test_results_errors_retries_and_limits() -> None:
    attempts: list[dict] = []

    def step(event: dict, context) -> object:
        attempts.append(event)
        if event.get("mode") == "throttle" and len(attempts) == 1:
            raise Throttled("slow down")
        if event.get("mode") == "fail":
            raise ValueError("bad input")
        if event.get("mode") == "huge":
            return "x" * (MAX_STATE_PAYLOAD_BYTES + 1)
        return {"seen": event, "function": context.function_name}

    with LocalPipeline({"step": step}) as local:
        text = definition(local)
        events: list[dict] = []
        ok = local.run(text, {"mode": "throttle"}, name="ok", on_event=events.append)
        assert ok.status == "SUCCEEDED"
        assert ok.output["value"] == {"seen": {"mode": "throttle"}, "function": "step"}
        assert [i.error for i in ok.invocations] == ["Throttled", None]
        assert len(local.retry_delays) == 1 and 0 <= local.retry_delays[0] <= 30  # recorded, not slept
        assert [e["id"] for e in events] == [e["id"] for e in ok.history]

        failed = local.run(text, {"mode": "fail"}, name="failed")
        error = failed.output["error"]
        assert error["Error"] == "ValueError"
        assert json.loads(error["Cause"])["errorMessage"] == "bad input"

        huge = local.run(text, {"mode": "huge"}, name="huge")
        assert huge.output["error"]["Error"] == DATA_LIMIT_ERROR
        assert "States.DataLimitExceeded" in json.loads(huge.output["error"]["Cause"])["errorMessage"]
