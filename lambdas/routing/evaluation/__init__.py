"""Evaluation of router candidates, the report, the quality gate and promotion.

Used by the evaluation Lambdas (evaluate, start_judge, check_judge, report, promote) and
by the operator CLI (promotion and rollback). Not imported by `routing` itself, so the
router's cold start does not pay for pydantic and boto3 here.

Each step's logic has its own module, as in `routing.pipeline`: `evaluate` (Evaluate),
`judge_job` (StartJudge and CheckJudge: one job's lifecycle), `reporting` (Report) and
`promotion` (Promote, beside the operators' promote / rollback). What they build on:

* `answering`: Converse calls with bounded concurrency, retries and a time budget;
* `records`: one scored answer (a line of results.jsonl); the rubric is `routing.rubric`;
* `metrics`, `pricing`: per-candidate aggregates, percentiles, cost per 1M queries;
* `intervals`, `evidence`: the statistics (bootstrap and Wilson intervals, verdicts, resolution;
  stdlib only) and their application to answer records (per-candidate intervals, paired
  comparisons, the per-modality breakdown);
* `judge`: the Bedrock LLM-judge job request, its input lines, its scores;
* `gate`: the quality gate (non-inferiority on the paired score difference);
* `report`, `markdown`, `html`: report.json (schema in report.schema.json), .md, .html;
* `local_candidate`, `calibration`, `local_report`: the tier-0 model as the fourth candidate (in
  process), its confidence threshold calibrated on half of the held-out set, its report section;
* `events`: the steps' typed environments.

The execution state and the steps' events (`routing.state`), the S3 keys (`routing.layout`),
S3 access (`routing.storage`) and the named errors (`routing.errors`) are shared with the
distillation pipeline.
"""
