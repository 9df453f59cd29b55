"""report.json against its schema, report.md and the self-contained report.html, the notification."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from datetime import UTC, datetime

import jsonschema
import pytest
from routing import LabelledExample, RoutingDecision, system_prompt
from routing.converse import ConverseResult
from routing.evaluation.answering import CallOutcome, Candidate
from routing.evaluation.evidence import gather
from routing.evaluation.gate import evaluate_gate
from routing.evaluation.html import latency_bins, render_html
from routing.evaluation.markdown import OFFLINE_BANNER, render_markdown
from routing.evaluation.metrics import summarise
from routing.evaluation.records import make_record
from routing.evaluation.report import build_report, notification, report_schema, summary_line
from routing.settings import GateThresholds, ModelPrice

from tests.evaluation_support import BASELINE_ID, DEPLOYMENT_ARN, MODALITIES, STUDENT_ID

PRICES = {"distilled": ModelPrice(input_per_1m=0.035, output_per_1m=0.14),
          "student": ModelPrice(input_per_1m=0.035, output_per_1m=0.14),
          "baseline": ModelPrice(input_per_1m=1.0, output_per_1m=5.0)}  # fmt: skip
MODEL_IDS = {"distilled": DEPLOYMENT_ARN, "student": STUDENT_ID, "baseline": BASELINE_ID}


def _answer(weights: dict[str, float]) -> str:
    return "{" + ", ".join(f'"{k}": {v}' for k, v in weights.items()) + ', "reasoning": "r"}'


def _records(count: int = 40, candidates=("distilled", "student", "baseline"), *, shift: float = 0.0):
    """Every candidate's answer records: the distilled model and the baseline exact (the distilled model
    moves `shift` of weight from the dominant modality to the next), the base student prose on every
    third query and throttled on every seventh."""
    by_candidate = {}
    for name in candidates:
        records = []
        for index in range(count):
            dominant = MODALITIES[index % 4]
            dominant_weight = 0.55
            reference = {m: (dominant_weight if m == dominant else 0.15) for m in MODALITIES}
            example = LabelledExample(f"query {index}", RoutingDecision.from_weights(reference))
            if name == "student" and index % 3 == 0:
                outcome = CallOutcome(
                    ConverseResult(
                        "Sure! The weights depend on the query.", "end_turn", 70, 200, 900.0 + index, 880.0
                    ),
                    None,
                    1,
                )
            elif name == "student" and index % 7 == 0:
                outcome = CallOutcome(None, "ThrottlingException: rate exceeded", 8)
            else:
                latency = {"distilled": 300.0, "student": 700.0, "baseline": 1700.0}[name] + index * 5
                answer = dict(reference)
                if name == "distilled" and shift:
                    following = MODALITIES[(index + 1) % 4]
                    answer[dominant], answer[following] = dominant_weight - shift, 0.15 + shift
                outcome = CallOutcome(
                    ConverseResult(_answer(answer), "end_turn", 60, 45, latency, latency - 20), None, 1
                )
            records.append(make_record(Candidate(name, MODEL_IDS[name]), index, example, outcome, MODALITIES))
        by_candidate[name] = records
    return by_candidate


def _summaries(
    count: int = 40, *, judge: bool = True, candidates=("distilled", "student", "baseline"), price=True,
    records=None,
):  # fmt: skip
    summaries = []
    for name, own in (records or _records(count, candidates)).items():
        judge_scores = (
            {"distilled": [4.0] * 10, "student": [2.0] * 10, "baseline": [4.0] * 10}[name] if judge else ()
        )
        summaries.append(
            summarise(name, MODEL_IDS[name], own, MODALITIES, PRICES[name] if price else None, judge_scores)
        )
    return summaries


def _report(summaries=None, *, records=None, offline=False, judge_status="Completed", warnings=()):
    """The report of these summaries; its evidence from `records` (default: `_records` of the same
    candidates and size, which is what `_summaries` summarised)."""
    summaries = summaries if summaries is not None else _summaries()
    by_name = {s.candidate: s for s in summaries}
    records = records if records is not None else _records(summaries[0].answers, list(by_name))
    evidence = gather(records, modalities=MODALITIES, tolerances={"mean_score": 0.25}, seed="run-42",
                      holdout_limit=1000)  # fmt: skip
    gate = evaluate_gate(
        by_name.get("distilled"), by_name.get("baseline"), GateThresholds(),
        score_difference=evidence.comparison("distilled_vs_baseline", "mean_score"),
        intervals=evidence.candidates.get("distilled"),
    )  # fmt: skip
    return build_report(
        run_id="run-42",
        dataset={"train_count": 9900, "holdout_count": 40},
        models=summaries,
        judge={"status": judge_status, "job_arn": None, "job_name": "vsr-judge-run-42", "failure": None,
               "prompts_per_candidate": 40, "metric": "OverallQuality"},
        gate=gate,
        evidence=evidence.to_dict(),
        warnings=list(warnings),
        offline_stand_in=offline,
        modalities=MODALITIES,
        inference={"system_prompt": system_prompt(MODALITIES), "max_tokens": 1000, "temperature": 0.0},
        artifacts={"results": "runs/run-42/evaluation/results.jsonl"},
        generated_at=datetime(2025, 6, 1, 12, 0, tzinfo=UTC),
    )  # fmt: skip


def validate(report) -> None:
    jsonschema.Draft202012Validator(report_schema(), format_checker=jsonschema.FormatChecker()).validate(
        report
    )


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(report_schema())


@pytest.mark.parametrize(
    "summaries",
    [
        None,
        _summaries(judge=False),
        _summaries(candidates=("distilled",)),
        _summaries(price=False),
        _summaries(count=1),
    ],
    ids=["full", "no-judge", "distilled-only", "no-prices", "one-query"],
)
def test_report_validates_against_its_schema(summaries) -> None:
    validate(_report(summaries))


def test_schema_rejects_what_the_contract_forbids() -> None:
    report = _report()
    for broken in (
        {k: v for k, v in report.items() if k != "gate"},
        {**report, "schema_version": 2},
        {**report, "unexpected": 1},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)
    wrong_type = copy.deepcopy(report)
    wrong_type["models"][0]["latency_ms"]["p95"] = "fast"
    with pytest.raises(jsonschema.ValidationError):
        validate(wrong_type)


def test_report_numbers_answer_the_three_questions() -> None:
    report = _report()
    models = {m["candidate"]: m for m in report["models"]}
    assert [m["candidate"] for m in report["models"]] == ["distilled", "student", "baseline"]
    assert models["distilled"]["mean_score"] == 5.0
    assert models["distilled"]["cost_per_1m_queries_usd"] == pytest.approx(60 * 0.035 + 45 * 0.14)
    assert models["baseline"]["cost_per_1m_queries_usd"] == pytest.approx(60 * 1.0 + 45 * 5.0)
    head = report["headline"]
    assert head["score_delta"] == 0.0
    assert head["latency_p50_speedup"] == pytest.approx(
        models["baseline"]["latency_ms"]["p50"] / models["distilled"]["latency_ms"]["p50"], rel=1e-3
    )
    assert head["cost_ratio"] == pytest.approx(8.4 / 285.0, rel=1e-3)
    assert report["gate"]["passed"]
    assert models["student"]["json_validity"] < 0.95


def test_markdown_has_the_side_by_side_table_and_the_gate() -> None:
    text = render_markdown(_report(), html_link="report.html")
    assert "| Model | Mean score (1-5) | LLM judge (1-5) | JSON validity |" in text
    assert re.search(
        r"\| Distilled student \(`arn:aws:bedrock:[^`]+`\) \| 5\.00 \| 4\.00 \| 100\.0% \|", text
    )
    assert "**Gate PASSED**" in text
    assert "PASS `max_p95_latency_ratio`" in text
    assert "Cost: $8.40 vs $285.00 per 1M routed queries" in text
    assert OFFLINE_BANNER not in text
    assert "[report.html](report.html)" in text


def test_html_is_self_contained_with_the_charts_and_the_table() -> None:
    summaries = _summaries()
    report = _report(summaries, warnings=["teacher <legacy> model"])
    page = render_html(report, {s.candidate: s.latencies_ms for s in summaries})
    for chart in ("chart-scores", "chart-latency", "chart-cost", "chart-confusion-distilled",
                  "chart-confusion-student", "chart-confusion-baseline"):  # fmt: skip
        assert f'<svg id="{chart}"' in page
    assert '<table id="side-by-side">' in page
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing loaded from elsewhere
    assert re.findall(r"https?://[^\s\"'<>]+", page) == ["http://www.w3.org/2000/svg"] * page.count("<svg ")
    assert "teacher &lt;legacy&gt; model" in page  # text is escaped
    assert 'id="offline-banner"' not in page
    assert page.count("<rect") > 30


def test_offline_runs_say_so_everywhere() -> None:
    summaries = _summaries()
    report = _report(summaries, offline=True)
    validate(report)
    assert render_markdown(report).startswith(f"> **{OFFLINE_BANNER}**")
    page = render_html(report, {s.candidate: s.latencies_ms for s in summaries})
    assert 'id="offline-banner"' in page and page.index("offline-banner") < page.index("<h1>")
    assert summary_line(report).startswith("[OFFLINE STAND-IN")
    subject, _ = notification(report, link="https://example", model_id=DEPLOYMENT_ARN)
    assert subject.startswith("[offline]")


def test_notification_names_the_failed_thresholds() -> None:
    shifted = _records(shift=0.12)  # every distilled weight 0.12 off: each answer scores 3
    report = _report(_summaries(records=shifted), records=shifted)
    assert not report["gate"]["passed"]
    subject, message = notification(report, link="https://console/report.html", model_id=DEPLOYMENT_ARN)
    assert subject == "Router distillation run-42: gate failed"
    assert "The active model is unchanged" in message
    assert "FAILED min_mean_score: distilled mean score 3.00 (95 % CI 3.00 to 3.00) < minimum 3.50" in message
    assert (
        "FAILED max_score_drop: distilled - baseline mean score -2.00 (95 % CI -2.00 to -2.00, 40 paired"
        in message
    )
    assert message.rstrip().endswith("Report: https://console/report.html")
    _, passed = notification(_report(), link="l", model_id=DEPLOYMENT_ARN)
    assert f"The router switches to {DEPLOYMENT_ARN}" in passed


def test_latency_bins_cover_every_call() -> None:
    values = [1.0, 2.0, 50.0, 99.0, 100.0]
    counts = latency_bins(values, top=100.0, bins=10)
    assert sum(counts) == len(values)
    assert counts[0] == 2 and counts[-1] == 2


def _with_invalid_student(answers: list[str | None]):
    """The summaries with the base student's first answers replaced by `answers` (None: the call failed)."""
    records = []
    for index, text in enumerate(answers):
        reference = {m: (0.55 if m == "visual" else 0.15) for m in MODALITIES}
        example = LabelledExample(f"query <{index}> | `x`", RoutingDecision.from_weights(reference))
        outcome = (
            CallOutcome(ConverseResult(text, "end_turn", 60, 45, 700.0, 680.0), None, 1)
            if text is not None
            else CallOutcome(None, "ThrottlingException: rate exceeded", 8)
        )
        records.append(make_record(Candidate("student", STUDENT_ID), index, example, outcome, MODALITIES))
    student = summarise("student", STUDENT_ID, records, MODALITIES, PRICES["student"])
    summaries = _summaries()
    return [summaries[0], student, summaries[2]]


def test_a_few_invalid_raw_answers_per_model_are_in_every_format_escaped() -> None:
    hostile = '<script>alert("x")</script> ```json\n{"visual": '
    long = "Sure! " + "the weights depend on the query " * 30
    valid = _answer({m: 0.25 for m in MODALITIES})
    summaries = _with_invalid_student([valid, hostile, None, long, "no JSON here", valid])
    report = _report(summaries)
    validate(report)
    student = report["models"][1]
    samples = student["invalid_samples"]
    assert [sample["index"] for sample in samples] == [1, 2, 3]  # the first three, in held-out order
    assert samples[0]["answer"] == hostile and samples[0]["reason"]
    assert samples[1]["answer"] is None and samples[1]["reason"].startswith("ThrottlingException")
    assert samples[2]["truncated"] is True and len(samples[2]["answer"]) == 400
    assert report["models"][0]["invalid_samples"] == []

    page = render_html(report, {s.candidate: s.latencies_ms for s in summaries})
    section = page[page.index('id="invalid-answers"') :]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in section
    assert "<script" not in page.lower()
    assert "Base student: 4 of 6 answers invalid (first 3)" in section
    assert "query #1 <q>query &lt;1&gt; | `x`</q>" in section

    text = render_markdown(report)
    part = text[text.index("## Invalid answers") :]
    assert "### Base student: 4 of 6 answers invalid" in part
    assert "- query #1 `` query <1> | `x` ``: " in part  # a code span longer than the backticks inside
    # The raw answer holds a ``` fence: it is shown in a longer one, verbatim, so nothing in it renders.
    assert '  ````text\n  <script>alert("x")</script> ```json\n  {"visual": \n  ````' in part
    assert "(no answer: the call failed)" in part
    assert "### Distilled student: 0 of 40 answers invalid\n\nEvery answer parsed." in part


def test_confusion_cells_with_small_counts_are_visibly_filled() -> None:
    from routing.evaluation.html import cell_colours, confusion_chart

    model = {
        "candidate": "distilled",
        "dominant_confusion": {
            "labels": ["visual", "audio"],
            "columns": ["visual", "audio", "invalid"],
            "matrix": [[40, 1, 0], [0, 1, 0]],
        },
    }
    chart = confusion_chart(model)
    fills = re.findall(r'<rect [^>]*fill="([^"]+)"><title>reference (\w+), answer (\w+): (\d+)', chart)
    by_cell = {(row, column): (fill, int(count)) for fill, row, column, count in fills}
    for (row, column), (fill, count) in by_cell.items():
        opacity = float(fill.rsplit(",", 1)[1].rstrip(")")) if fill.startswith("rgba") else 0.0
        if count:
            assert opacity >= 0.3, (row, column, fill)  # 1 beside 40 is not a blank cell
        else:
            assert fill == "#ffffff"
    assert cell_colours(1, 1, correct=True) == ("rgba(37,99,235,0.95)", "#ffffff")


def test_the_latency_chart_has_a_visible_legend() -> None:
    summaries = _summaries()
    page = render_html(_report(summaries), {s.candidate: s.latencies_ms for s in summaries})
    legend = re.search(r'<p class="chart-legend" id="latency-legend">(.*?)</p>', page)
    assert legend
    visible = re.sub(r"<svg.*?</svg>", "", legend.group(1))  # text on the page, not in a tooltip
    assert "p50 (median)" in visible and "p95" in visible
    assert 'stroke-dasharray="4 3"' in legend.group(1)  # the dashed sample matches the chart's p95 line
    assert page.index("chart-latency") < page.index("latency-legend")


def test_the_report_recommends_max_tokens_from_the_distilled_answers() -> None:
    # Every distilled answer is 45 output tokens: p99 45 x 1.5 = 67.5 -> 96 (a multiple of 32).
    report = _report()
    validate(report)
    distilled = next(m for m in report["models"] if m["candidate"] == "distilled")
    assert distilled["tokens"]["output_p99"] == 45
    assert report["recommended_max_tokens"] == 96


def test_recommended_max_tokens_has_a_floor_and_needs_distilled_answers() -> None:
    from routing.evaluation.report import recommended_max_tokens

    short = replace(_summaries(candidates=("distilled",))[0], output_tokens_per_call=[10] * 40)
    assert recommended_max_tokens([short]) == 64
    long = replace(short, output_tokens_per_call=[100] * 39 + [300])
    # p99 of 40 calls interpolates between the 39th and the 40th: 100 + 0.61 x 200 = 222; x 1.5 = 333 -> 352.
    assert recommended_max_tokens([long]) == 352
    assert recommended_max_tokens(_summaries(candidates=("student",))) is None


def test_a_pass_that_starts_a_rollout_says_so_in_the_notification() -> None:
    from routing.settings import PromotionPolicy

    canary = PromotionPolicy(on_pass="canary", percent=10, auto_finish_after={"queries": 5000, "hours": 24})
    _, message = notification(_report(), link="l", model_id=DEPLOYMENT_ARN, on_pass=canary)
    assert f"A canary rollout of {DEPLOYMENT_ARN} starts for 10 % of queries" in message
    assert "after 5,000 candidate queries or 24 h with no alarm" in message
    assert "The router switches" not in message
    _, shadow = notification(
        _report(), link="l", model_id=DEPLOYMENT_ARN, on_pass=PromotionPolicy(on_pass="shadow")
    )
    assert "keeps serving every answer" in shadow and "vsr rollout --finish" in shadow
