"""What the live tier does, as plain data: a uniquely named stage, the commands that deploy it, run it,
call it and destroy it, and the cost shown before asking. No AWS call here (tests/unit/test_live_plan.py
checks it offline); tests/live/test_live_stage.py executes it against a real account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from cdk_app.config import AppConfig, load_config
from cdk_app.operator import cost as costing

REPO = Path(__file__).resolve().parents[2]
# Bedrock's minimum of 100 training records, plus a small held-out set; no judge (a judge job alone
# takes tens of minutes and bills the judge model).
LIVE_HOLDOUT = 10
LIVE_EXAMPLES = 100 + LIVE_HOLDOUT
ROUTE_QUERY = "people talking about the weather in the interview"
# A real distillation job takes hours: the run's own deadlines bound the wait.
RUN_TIMEOUT_HOURS = 12


def new_stage_name() -> str:
    """`lt` + 6 random hex digits: a valid stage (`^[a-z][a-z0-9]{0,9}$`), unique per live run."""
    return f"lt{secrets.token_hex(3)}"


@dataclass(frozen=True)
class LivePlan:
    stage: str
    region: str | None = None

    @property
    def context(self) -> dict[str, str]:
        """cdk.json overrides of the live stage: its own name, destroyable, small, judge off."""
        context = {
            "stage": self.stage,
            "removal_policy": "destroy",
            "examples": str(LIVE_EXAMPLES),
            "holdout": str(LIVE_HOLDOUT),
            "judge": "false",
        }
        if self.region:
            context["region"] = self.region
        return context

    @property
    def context_args(self) -> list[str]:
        return [arg for key, value in self.context.items() for arg in ("-c", f"{key}={value}")]

    def config(self) -> AppConfig:
        """The configuration the stage deploys with (cdk.json + the overrides), validated like the app does."""
        import json

        base = json.loads((REPO / "cdk.json").read_text())["context"]
        return load_config({**base, **self.context})

    def commands(self) -> dict[str, list[str]]:
        """Each step's command line, run from the repository root (.venv and node_modules/.bin)."""
        vsr = [str(REPO / ".venv" / "bin" / "vsr"), *self.context_args]
        cdk = [str(REPO / "node_modules" / ".bin" / "cdk")]
        return {
            "doctor": [*vsr, "doctor"],
            "cost": [*vsr, "cost"],
            "deploy": [*cdk, "deploy", "--all", "--require-approval", "never", *self.context_args],
            "start": [
                *vsr,
                "start",
                "--examples",
                str(LIVE_EXAMPLES),
                "--holdout",
                str(LIVE_HOLDOUT),
                "--no-judge",
                "--watch",
                "--interval",
                "60",
            ],
            "route": [*vsr, "route", ROUTE_QUERY, "--json"],
            "cleanup": [*vsr, "cleanup", "--yes", "--include-data"],
            "destroy": [*cdk, "destroy", "--all", "--force", *self.context_args],
        }

    def confirmation(self) -> str:
        estimate = costing.estimate_run(self.config())
        storage = estimate.storage_per_month_usd * estimate.storage_months
        return (
            f"The live tier deploys stage {self.stage!r}, runs one distillation of {LIVE_EXAMPLES} examples "
            f"(judge off), calls the router and destroys everything. Estimated cost ${estimate.run_usd:.2f}: "
            f"${estimate.run_usd - storage:.2f} of model calls and training, and at most ${storage:.2f} of custom "
            "model storage (billed per month, deleted at the end), plus pennies of CloudFormation, Lambda, API "
            "Gateway and S3. Continue? [y/N] "
        )
