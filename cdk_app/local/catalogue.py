"""The offline Bedrock stand-in's model catalogue: foundation models and system inference profiles.

What GetFoundationModel and GetInferenceProfile answer (values as in us-east-1, 2026), and the
identifier forms Bedrock accepts for a model (an id, a foundation-model ARN, a geography-prefixed
system inference profile id or its ARN). Each simulated account (:class:`cdk_app.local.account.
OfflineAccount`) starts from a copy of :data:`FOUNDATION_MODELS`, so a test can retire a model
(``dataclasses.replace(model, lifecycle="LEGACY", end_of_life=...)``) without touching others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "FOUNDATION_MODELS",
    "GEOGRAPHY_NAMES",
    "PROFILE_GEOGRAPHIES",
    "FoundationModel",
    "foundation_id",
    "inference_profile_id",
    "split_profile",
]


@dataclass(frozen=True, slots=True)
class FoundationModel:
    """One row of GetFoundationModel's answer (values as in us-east-1, 2026)."""

    model_id: str
    name: str
    provider: str
    inference_types: tuple[str, ...]
    customizations: tuple[str, ...] = ()
    input_modalities: tuple[str, ...] = ("TEXT",)
    lifecycle: str = "ACTIVE"
    legacy_time: datetime | None = None
    end_of_life: datetime | None = None
    # Can act as a distillation teacher (not part of the API answer: Bedrock checks it on create).
    teacher: bool = False


_NOVA_MODALITIES = ("TEXT", "IMAGE", "VIDEO")

FOUNDATION_MODELS: dict[str, FoundationModel] = {
    model.model_id: model
    for model in (
        FoundationModel("amazon.nova-micro-v1:0", "Nova Micro", "Amazon", ("ON_DEMAND", "INFERENCE_PROFILE")),
        # The customizable variants are separate model ids (context window suffix), invoked only once customized.
        FoundationModel(
            "amazon.nova-micro-v1:0:128k",
            "Nova Micro",
            "Amazon",
            ("PROVISIONED",),
            ("FINE_TUNING", "DISTILLATION"),
        ),
        FoundationModel(
            "amazon.nova-lite-v1:0",
            "Nova Lite",
            "Amazon",
            ("ON_DEMAND", "INFERENCE_PROFILE"),
            (),
            _NOVA_MODALITIES,
        ),
        FoundationModel(
            "amazon.nova-lite-v1:0:300k",
            "Nova Lite",
            "Amazon",
            ("PROVISIONED",),
            ("FINE_TUNING", "DISTILLATION"),
            _NOVA_MODALITIES,
        ),
        FoundationModel(
            "amazon.nova-pro-v1:0",
            "Nova Pro",
            "Amazon",
            ("ON_DEMAND", "INFERENCE_PROFILE"),
            (),
            _NOVA_MODALITIES,
            teacher=True,
        ),
        FoundationModel(
            "amazon.nova-pro-v1:0:300k",
            "Nova Pro",
            "Amazon",
            ("PROVISIONED",),
            ("FINE_TUNING", "DISTILLATION"),
            _NOVA_MODALITIES,
        ),
        FoundationModel(
            "amazon.nova-premier-v1:0",
            "Nova Premier",
            "Amazon",
            ("INFERENCE_PROFILE",),
            (),
            _NOVA_MODALITIES,
            lifecycle="LEGACY",
            legacy_time=datetime(2026, 3, 14, tzinfo=UTC),
            end_of_life=datetime(2026, 9, 14, tzinfo=UTC),
            teacher=True,
        ),
        FoundationModel(
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            "Claude Haiku 4.5",
            "Anthropic",
            ("INFERENCE_PROFILE",),
            (),
            ("TEXT", "IMAGE"),
        ),
    )
}

PROFILE_GEOGRAPHIES = {
    "us": ("us-east-1", "us-east-2", "us-west-2"),
    "eu": ("eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1"),
    "apac": ("ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-2"),
    "global": (),
}
GEOGRAPHY_NAMES = {"us": "US", "eu": "EU", "apac": "APAC", "global": "Global"}


def split_profile(
    model_id: str, models: Mapping[str, FoundationModel] = FOUNDATION_MODELS
) -> tuple[str | None, str]:
    """("us", "amazon.nova-pro-v1:0") for a system inference profile id, (None, id) otherwise."""
    head, _, rest = model_id.partition(".")
    if head in PROFILE_GEOGRAPHIES and rest in models:
        return head, rest
    return None, model_id


def foundation_id(identifier: str) -> str:
    """The model id inside a foundation-model ARN, or the identifier itself."""
    marker = ":foundation-model/"
    return identifier.split(marker, 1)[1] if marker in identifier else identifier


def inference_profile_id(identifier: str) -> str:
    """The profile id inside an inference-profile ARN, or the identifier itself."""
    marker = ":inference-profile/"
    return identifier.split(marker, 1)[1] if marker in identifier else identifier
