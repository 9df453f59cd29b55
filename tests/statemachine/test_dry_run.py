"""The local dry run end to end: the real definition and handlers in moto, Bedrock replaced by the
offline stand-in, the run's files copied out, every output labelled as not being model results."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from cdk_app.local.dry_run import LABEL, run_dry_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory):
    lines: list[str] = []
    out = tmp_path_factory.mktemp("dry-run")
    started = time.monotonic()
    result = run_dry_run(examples=150, holdout=30, out_dir=out, progress=lines.append, run_id="dry-run-test")
    return result, lines, time.monotonic() - started


def test_the_run_succeeds_through_evaluation_and_report_quickly(dry_run) -> None:
    result, _, seconds = dry_run
    assert result.succeeded, f"{result.error}: {result.cause}"
    for state in (
        "Plan",
        "Generate",
        "PrepareDataset",
        "StartDistillation",
        "CreateDeployment",
        "Evaluate",
        "Report",
    ):
        assert state in result.states
    assert seconds < 30


def test_the_report_and_run_files_are_copied_locally(dry_run) -> None:
    result, _, _ = dry_run
    run_dir: Path = result.run_dir
    assert run_dir.name == "dry-run-test"
    for relative in ("manifest.json", "dataset/stats.json", "dataset/holdout.jsonl", "report/report.json",
                     "report/report.md", "report/report.html"):  # fmt: skip
        assert (run_dir / relative).is_file(), relative
    stats = json.loads((run_dir / "dataset" / "stats.json").read_text())
    assert json.dumps(stats)  # a real JSON document, as the pipeline wrote it
    holdout = (run_dir / "dataset" / "holdout.jsonl").read_text().splitlines()
    assert len(holdout) == 30


def test_the_report_says_offline_stand_in_and_has_a_gate_decision(dry_run) -> None:
    result, _, _ = dry_run
    report = json.loads(result.report_file("json").read_text())
    assert report == result.report
    assert report["offline_stand_in"] is True
    assert isinstance(report["gate"]["passed"], bool)
    assert report["gate"]["reasons"]
    assert {model["candidate"] for model in report["models"]} == {"distilled", "student", "baseline", "local"}
    assert report["dataset"]["holdout_count"] == 30
    assert "OFFLINE STAND-IN" in result.report_file("md").read_text()
    assert "OFFLINE STAND-IN" in result.report_file("html").read_text().upper()


def test_the_dry_runs_report_shows_intervals_and_verdicts(dry_run) -> None:
    result, _, _ = dry_run
    report = result.report
    for name in ("distilled", "student", "baseline"):
        assert report["candidates"][name]["intervals"]["mean_score"]["n"] == 30
    for name in ("distilled_vs_baseline", "distilled_vs_student"):
        difference = report["comparisons"][name]["mean_score"]
        assert difference["verdict"] in {"better", "not worse", "worse", "undecided"}
        assert difference["n"] == 30 and len(difference["ci95"]) == 2
    assert report["resolution"]["comparison"] == "distilled_vs_baseline"
    markdown = result.report_file("md").read_text()
    assert "## How sure: 95 % intervals" in markdown and "## Paired comparisons" in markdown
    page = result.report_file("html").read_text()
    assert '<svg id="chart-interval-mean_score"' in page and '<svg id="chart-differences"' in page


def test_every_progress_line_and_the_notification_are_labelled(dry_run) -> None:
    result, lines, _ = dry_run
    assert lines
    assert all(line.startswith(f"{LABEL} | ") for line in lines)
    text = "\n".join(lines)
    assert re.search(r"Generate: (\d+)/\1 batches done", text)
    assert "Completed" in text  # the distillation job's status as polled
    assert "Active" in text  # the deployment's status as polled
    assert "quality gate" in text
    assert str(result.report_file("html")) in text
    assert result.notifications
    assert all(item["subject"].startswith("[offline]") for item in result.notifications)


def test_an_identical_dry_run_gives_identical_numbers_and_gate_decision(dry_run, tmp_path: Path) -> None:
    # Latencies are the stand-in's seeded simulation, not wall-clock timings: nothing may differ.
    first, _, _ = dry_run
    again = run_dry_run(
        examples=150, holdout=30, out_dir=tmp_path, progress=lambda line: None, run_id="dry-run-test"
    )
    assert again.succeeded, f"{again.error}: {again.cause}"
    assert again.report["models"] == first.report["models"]
    assert again.report["gate"] == first.report["gate"]
    assert again.report["comparisons"] == first.report["comparisons"]  # seeded by the run id
    results = (first.run_dir / "evaluation" / "results.jsonl").read_text().splitlines()
    # The tier-0 model answers in process (no server latency), timed on the same simulated clock.
    timed = [record for record in map(json.loads, results)
             if record["latency_ms"] is not None and record["candidate"] != "local"]  # fmt: skip
    assert {record["candidate"] for record in timed} == {"distilled", "student", "baseline"}
    assert all(record["latency_ms"] == record["server_latency_ms"] for record in timed)
