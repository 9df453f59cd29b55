"""The offline stand-in for Amazon Bedrock: ONE double for the local dry run and the tests.

NOTHING IT RETURNS IS A MODEL RESULT. It answers like Bedrock so that the real pipeline handlers
can run end to end on a laptop (the local dry run, `make dry-run`) and in the state-machine tests,
but every query, weight, score, latency and token count is simulated from keyword heuristics and
a seeded random generator. Its numbers must never be presented as what a model did; every answer
it writes is labelled ``[offline stand-in]`` where a label fits.

What it stands in for: the two boto3 clients the handlers use, ``bedrock`` (control plane) and
``bedrock-runtime`` (Converse). Get both with :func:`offline_clients` and hand them to the
handlers' client seam (``routing.clients.override_clients``). They share one simulated account,
``clients["bedrock"].account`` (:class:`cdk_app.local.account.OfflineAccount`): its resources,
its call log and its script, through which a test makes the stand-in report given job or
deployment statuses over polls, throttle, fail with a transport fault or answer garbage.

The parts, one concern each:

* :mod:`cdk_app.local.client`: request validation (botocore's own validator against the
  service model of the installed version, then Bedrock's server-side constraints), the real
  client's modeled errors, pagination, response checks, the call log;
* :mod:`cdk_app.local.control_plane`: foundation models, inference profiles, customization jobs,
  custom models, deployments and evaluation jobs, with their lifecycles;
* :mod:`cdk_app.local.runtime`: Converse and the simulated clock of its latencies;
* :mod:`cdk_app.local.datasets`: Bedrock's training-data rules and the simulated judge;
* :mod:`cdk_app.local.answers` and :mod:`cdk_app.local.vocabulary`: the simulated answers;
* :mod:`cdk_app.local.catalogue`: the foundation models and inference profiles;
* :mod:`cdk_app.local.account`: what both clients share.

Everything is deterministic for a given ``seed``: each Converse answer derives from the seed and
the request itself (not from call order); resource ids derive from the seed and the resource name.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cdk_app.local.account import DEFAULT_ACCOUNT, OfflineAccount, OfflineSettings, Script
from cdk_app.local.control_plane import OfflineBedrock
from cdk_app.local.runtime import OfflineBedrockRuntime

__all__ = ["offline_clients"]


def offline_clients(
    *,
    seed: int = 0,
    s3: Any = None,
    region: str = "us-east-1",
    account: str = DEFAULT_ACCOUNT,
    job_polls: int = 2,
    deployment_polls: int = 1,
    evaluation_polls: int = 1,
    teacher_defect_rate: float = 0.0,
    clock: Callable[[], datetime] | None = None,
) -> dict[str, Any]:
    """Both stand-in clients, sharing one simulated account: ``{"bedrock": ..., "bedrock-runtime": ...}``.

    ``s3`` (a boto3 S3 client, moto's in the dry run) lets customization jobs check their
    training file and evaluation jobs read their dataset and write their output.
    ``clock`` replaces the wall clock for lifecycle dates (end-of-life checks, timestamps).
    ``teacher_defect_rate`` starts the script's share of defective teacher items.
    """
    settings = OfflineSettings(
        seed=seed,
        region=region,
        account=account,
        job_polls=job_polls,
        deployment_polls=deployment_polls,
        evaluation_polls=evaluation_polls,
    )
    shared = OfflineAccount(
        settings,
        s3,
        clock or (lambda: datetime.now(UTC)),
        Script(teacher_defect_rate=teacher_defect_rate),
    )
    return {"bedrock": OfflineBedrock(shared), "bedrock-runtime": OfflineBedrockRuntime(shared)}
