"""How every Lambda of the product is packaged and run, decided once.

- arm64 and one current Python runtime for all functions;
- one shared layer: the routing core (`lambdas/routing/`) plus the pinned runtime
  dependencies from `lambdas/routing/requirements.txt`, installed by pip with the Lambda
  platform's wheels on this machine (no Docker);
- each function's own folder under `lambdas/` as its code asset;
- a dedicated role that can write only to the function's own log group, X-Ray tracing,
  and Powertools settings in the environment.

Synthesizing with the context `aws:cdk:bundling-stacks=[]` (the tests do) skips the pip
step; the asset then points at the source folder.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, Duration, ILocalBundling, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_app.config import AppConfig
from stacks.constructs.nag import acknowledge_resources

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
SHARED_PACKAGE_DIR = LAMBDAS_DIR / "routing"
LAYER_REQUIREMENTS = SHARED_PACKAGE_DIR / "requirements.txt"

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
# pip's view of the same platform: the wheels Lambda's arm64 Python 3.14 can load. pip does not widen a
# platform tag to older glibc versions, so each tag a pinned wheel needs is named: manylinux2014
# (glibc 2.17: pydantic-core, ...) and manylinux_2_28 (numpy 2.4.6 ships only
# `cp314-manylinux_2_27_aarch64.manylinux_2_28_aarch64` wheels for arm64; `pip download numpy==2.4.6
# --platform manylinux2014_aarch64` finds none). Lambda's python3.14 runtime is based on Amazon Linux 2023
# (glibc 2.34), which loads manylinux_2_28 wheels.
# Installed, the layer is about 119 MB (numpy and numpy.libs 68 MB of it), under Lambda's 250 MB
# CodeSizeUnzipped ("the maximum size of a function's deployment package and layers when they're extracted").
PIP_PLATFORM_ARGS = (
    "--platform", "manylinux2014_aarch64",
    "--platform", "manylinux_2_28_aarch64",
    "--implementation", "cp",
    "--python-version", "3.14",
    "--only-binary=:all:",
)  # fmt: skip
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", "requirements.txt")


@jsii.implements(ILocalBundling)
class _PipLayerBundling:
    """Builds the layer locally: pip installs the Lambda platform's wheels, then the shared package is copied."""

    def try_bundle(self, output_dir: str, *, image=None, **_options) -> bool:
        target = Path(output_dir) / "python"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--requirement", str(LAYER_REQUIREMENTS), "--target", str(target), *PIP_PLATFORM_ARGS],
            check=True,
        )  # fmt: skip
        shutil.copytree(
            SHARED_PACKAGE_DIR, target / SHARED_PACKAGE_DIR.name, ignore=_IGNORED, dirs_exist_ok=True
        )
        return True


@functools.cache
def _source_hash() -> str:
    """Hash of everything that goes into the layer, so an unchanged layer is not rebuilt (read once per synth)."""
    digest = hashlib.sha256(" ".join(PIP_PLATFORM_ARGS).encode())
    digest.update(RUNTIME.name.encode())
    for path in sorted(SHARED_PACKAGE_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(SHARED_PACKAGE_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


class RuntimeLayer(Construct):
    """The layer every function uses: routing core + pinned dependencies (Powertools, pydantic, boto3...)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(
                str(SHARED_PACKAGE_DIR),
                asset_hash=_source_hash(),
                bundling=BundlingOptions(image=RUNTIME.bundling_image, local=_PipLayerBundling()),
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="Routing core and pinned runtime dependencies",
        )


class RuntimeFunction(Construct):
    """One Lambda function of the product, with its own role, log group and tracing.

    `folder` is the function's directory under `lambdas/`; its `handler.py` holds `handler`.
    Grants are given to `self.function` (or `self.role`) by the construct that owns the capability.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        layer: RuntimeLayer,
        folder: str,
        description: str,
        environment: Mapping[str, str] | None = None,
        timeout: Duration | None = None,
        memory_size: int = 512,
        handler: str = "handler.handler",
    ) -> None:
        super().__init__(scope, construct_id)
        source = LAMBDAS_DIR / folder
        if not (source / handler.split(".")[0]).with_suffix(".py").is_file():
            raise ValueError(
                f"RuntimeFunction {construct_id}: {source}/{handler.split('.')[0]}.py does not exist"
            )

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention_days(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY
            if config.removal_policy == "destroy"
            else RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{config.prefix} {folder} function",
        )
        self.log_group.grant_write(self.role)

        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=lambda_.Code.from_asset(str(source), exclude=["__pycache__", "*.pyc", "tests"]),
            handler=handler,
            layers=[layer.layer],
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=timeout or Duration.seconds(30),
            memory_size=memory_size,
            description=description,
            environment={
                "POWERTOOLS_SERVICE_NAME": f"{config.prefix}-{folder}",
                "POWERTOOLS_METRICS_NAMESPACE": f"{config.project_name}/{config.stage}",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **(environment or {}),
            },
        )
        acknowledge_resources(
            self.role,
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
            ["*"],
        )


def retention_days(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a number of days the configuration allows."""
    return _RETENTION[days]


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR, 731: logs.RetentionDays.TWO_YEARS, 1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}  # fmt: skip
