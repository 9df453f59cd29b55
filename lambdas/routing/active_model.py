"""The active-model parameter value (a public contract), read and written in one place.

The SSM parameter holds a JSON string:
`{"model_id": <deployment ARN or model id>, "run_id": ..., "promoted_at": ..., "previous": {...}}`.
`previous` is the value before the last promotion (without its own `previous`), so one
step rolls back. A missing, empty or unreadable value means "use the configured default".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ActiveModel:
    model_id: str | None
    run_id: str | None = None
    promoted_at: str | None = None
    previous: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "model_id": self.model_id,
                "run_id": self.run_id,
                "promoted_at": self.promoted_at,
                "previous": self.previous,
            },
            sort_keys=True,
        )

    def summary(self) -> dict[str, Any]:
        """This value without its `previous` (what a later value keeps as its own `previous`)."""
        return {"model_id": self.model_id, "run_id": self.run_id, "promoted_at": self.promoted_at}


NO_ACTIVE_MODEL = ActiveModel(model_id=None)


def parse_active_model(text: object) -> ActiveModel:
    """Tolerant read: anything that is not a JSON object with a non-empty string `model_id` is NO_ACTIVE_MODEL."""
    if not isinstance(text, str) or not text.strip():
        return NO_ACTIVE_MODEL
    try:
        value = json.loads(text)
    except ValueError:
        return NO_ACTIVE_MODEL
    if not isinstance(value, dict):
        return NO_ACTIVE_MODEL
    model_id = value.get("model_id")
    previous = value.get("previous")
    return ActiveModel(
        model_id=model_id if isinstance(model_id, str) and model_id.strip() else None,
        run_id=value.get("run_id") if isinstance(value.get("run_id"), str) else None,
        promoted_at=value.get("promoted_at") if isinstance(value.get("promoted_at"), str) else None,
        previous=previous if isinstance(previous, dict) else None,
    )


def promoted(current: ActiveModel, *, model_id: str, run_id: str, now: datetime | None = None) -> ActiveModel:
    """The value after promoting `model_id` of `run_id` over `current`."""
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    previous = current.summary() if current.model_id else None
    return ActiveModel(model_id=model_id, run_id=run_id, promoted_at=stamp, previous=previous)


def rolled_back(current: ActiveModel) -> ActiveModel | None:
    """The value after one rollback step, or None when there is nothing to roll back to."""
    if not current.previous:
        return None
    prev = parse_active_model(json.dumps(current.previous))
    if prev.model_id is None:
        return None
    return ActiveModel(
        model_id=prev.model_id, run_id=prev.run_id, promoted_at=prev.promoted_at, previous=None
    )
