"""One real, minimal run on a uniquely named stage, then everything destroyed (`make test-live`).

Asks before spending: prints `vsr cost` for the stage and the estimate, then waits for "y" on the
terminal (VSR_LIVE_YES=1 answers for you). Order: doctor -> deploy -> run (110 examples, judge off)
-> route -> cleanup (deployments, custom models, data) -> destroy, the last two always.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.live.live_plan import REPO, RUN_TIMEOUT_HOURS, LivePlan, new_stage_name

pytestmark = pytest.mark.live


def _run(command: list[str], timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    print("$", " ".join(command), flush=True)
    return subprocess.run(
        command, cwd=REPO, text=True, timeout=timeout, stdout=subprocess.PIPE, stderr=sys.stderr
    )


def _confirm(question: str) -> bool:
    if os.environ.get("VSR_LIVE_YES") == "1":
        print(question + "y (VSR_LIVE_YES=1)")
        return True
    return input(question).strip().lower() in {"y", "yes"}


def test_deploy_run_route_destroy(live_account) -> None:
    plan = LivePlan(stage=new_stage_name(), region=os.environ.get("VSR_LIVE_REGION"))
    commands = plan.commands()
    print(_run(commands["cost"]).stdout)
    if not _confirm(plan.confirmation()):
        pytest.skip("not confirmed: nothing was deployed")
    doctor = _run(commands["doctor"])
    print(doctor.stdout)
    assert doctor.returncode == 0, "vsr doctor found a problem: fix it before the live tier"
    try:
        assert _run(commands["deploy"]).returncode == 0, "cdk deploy failed"
        started = _run(commands["start"], timeout=RUN_TIMEOUT_HOURS * 3600)
        print(started.stdout)
        assert started.returncode == 0, "the run did not succeed (see vsr watch / vsr report)"
        routed = _run(commands["route"], timeout=120)
        assert routed.returncode == 0, "the router did not answer"
        answer = json.loads(routed.stdout)
        assert abs(sum(answer[m] for m in plan.config().modalities) - 1.0) < 1e-6, answer
    finally:
        cleanup = _run(commands["cleanup"], timeout=3600)
        destroy = _run(commands["destroy"], timeout=3600)
        print(f"stage {plan.stage}: cleanup exit {cleanup.returncode}, destroy exit {destroy.returncode}")
        assert cleanup.returncode == 0 and destroy.returncode == 0, (
            f"stage {plan.stage} may still have resources: run `vsr -c stage={plan.stage} cleanup` and "
            f"`cdk destroy --all -c stage={plan.stage} -c removal_policy=destroy`"
        )
