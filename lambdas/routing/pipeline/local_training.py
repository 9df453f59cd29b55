"""Train local model step: fit the tier-0 model (routing.local_model) on the run's training set with numpy.

It runs right after Start distillation, while Bedrock's job trains (hours of otherwise idle time).
The training set is the distillation's own file, `dataset/train.jsonl` (`bedrock-conversation-2024`
records: the user turn is the query, the assistant turn the teacher's decision as JSON), so the
tier-0 model learns the same labels as the distilled model and never sees a held-out or gold query.

The model: multinomial logistic regression with soft targets (the decision's modality weights),
features `routing.local_model.feature_buckets` (hashed word 1-2-grams) each of value
1/sqrt(feature count), exactly as `LocalModel.predict` scales them. Loss: the mean cross-entropy
of the targets against softmax(bias + X W) plus `l2`/2 * |W|^2 (the bias is not penalised),
minimised by full-batch Adam for a fixed number of epochs from zero weights: no randomness, so the
same training file gives the same artifact bytes. The weights are rounded to 6 decimals before the
final loss is computed, so the loss and logits training reports are those of the artifact itself.

Writes the artifact (`LocalModel.to_json()`) to `RunLayout.local_model_key` and returns
`$.local_model`: `{"trained", "key", "s3_uri", "sha256", "examples", "features", "seconds",
"train_loss", "error"}`. Numpy is imported here only: the router never imports this module.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..contract import example_from_dict
from ..errors import TrainingDataInvalid
from ..layout import s3_uri
from ..local_model import LocalModel, feature_buckets
from ..settings import TrainLocalModelEnv
from ..state import TrainLocalModelEvent
from ..storage import get_text, iter_jsonl, put

# Weights are stored with this many decimals (the artifact stays small; predict reads them back exactly).
DECIMALS = 6
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPSILON = 1e-8


def training_examples(text: str, modalities: Sequence[str]) -> tuple[list[str], list[list[float]]]:
    """(queries, target weights) of the `bedrock-conversation-2024` training file; TrainingDataInvalid names a bad line."""
    queries: list[str] = []
    targets: list[list[float]] = []
    try:
        for number, record in iter_jsonl(text):
            try:
                messages = record["messages"]
                query = messages[0]["content"][0]["text"]
                answer = json.loads(messages[1]["content"][0]["text"])
                example = example_from_dict({**answer, "query": query}, modalities)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise TrainingDataInvalid(
                    f"training file line {number} is not a routing conversation record ({exc})"
                ) from None
            queries.append(example.query)
            targets.append([example.decision.weights[name] for name in modalities])
    except ValueError as exc:  # a line that is not JSON
        raise TrainingDataInvalid(f"training file: {exc}") from None
    return queries, targets


class _Design:
    """The sparse design matrix X (examples x used buckets) as its entries (row, column, value)."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, examples: int,
                 buckets: np.ndarray) -> None:  # fmt: skip
        self.rows, self.cols, self.values, self.examples, self.buckets = rows, cols, values, examples, buckets

    def times(self, weights: np.ndarray) -> np.ndarray:
        """X @ weights, (examples, K)."""
        return _sums(self.rows, self.cols, self.values, weights, self.examples)

    def transposed_times(self, gradient: np.ndarray) -> np.ndarray:
        """X^T @ gradient, (columns, K)."""
        return _sums(self.cols, self.rows, self.values, gradient, len(self.buckets))


def _sums(
    out_ids: np.ndarray, in_ids: np.ndarray, values: np.ndarray, matrix: np.ndarray, count: int
) -> np.ndarray:
    """out[i, k] = sum of value * matrix[j, k] over the entries (i, j): one bincount per output column
    (bincount adds in entry order, so the result is the same on every run)."""
    columns = [np.bincount(out_ids, weights=values * column[in_ids], minlength=count) for column in matrix.T]
    return np.stack(columns, axis=1)


def _design(queries: Sequence[str], buckets: int, ngrams: Sequence[int]) -> _Design:
    features = [feature_buckets(query, buckets, ngrams) for query in queries]
    used = np.array(sorted({bucket for row in features for bucket in row}), dtype=np.int64)
    column = {int(bucket): index for index, bucket in enumerate(used)}
    rows, cols, values = [], [], []
    for index, row in enumerate(features):
        scale = 1.0 / math.sqrt(len(row)) if row else 0.0
        for bucket in row:
            rows.append(index)
            cols.append(column[bucket])
            values.append(scale)
    return _Design(
        np.array(rows, dtype=np.int64),
        np.array(cols, dtype=np.int64),
        np.array(values, dtype=np.float64),
        len(queries),
        used,
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _loss(probabilities: np.ndarray, targets: np.ndarray, weights: np.ndarray, l2: float) -> float:
    cross_entropy = -float(np.sum(targets * np.log(np.clip(probabilities, 1e-300, None)))) / len(targets)
    return cross_entropy + 0.5 * l2 * float(np.sum(weights * weights))


@dataclass(frozen=True)
class Fitted:
    """A trained model and what training computed with its (rounded) weights."""

    model: LocalModel
    logits: np.ndarray  # (examples, K): bias + X W of the artifact's weights
    train_loss: float
    features: int


def fit(
    queries: Sequence[str],
    targets: Sequence[Sequence[float]],
    modalities: Sequence[str],
    settings: TrainLocalModelEnv,
    *,
    trained: dict[str, Any] | None = None,
) -> Fitted:
    """Fit the model (deterministic: zero start, full batch, fixed epochs); `trained` goes into the artifact."""
    if not queries:
        raise TrainingDataInvalid("the training file has no records")
    ngrams = tuple(settings.ngrams)
    design = _design(queries, settings.buckets, ngrams)
    y = np.asarray(targets, dtype=np.float64)
    n, k = y.shape
    f = len(design.buckets)
    weights, bias = np.zeros((f, k)), np.zeros(k)
    moments = [np.zeros((f, k)), np.zeros((f, k)), np.zeros(k), np.zeros(k)]
    beta1, beta2 = _ADAM_BETAS
    for step in range(1, settings.epochs + 1):
        probabilities = _softmax(design.times(weights) + bias)
        gradient = (probabilities - y) / n
        grad_w = design.transposed_times(gradient) + settings.l2 * weights
        grad_b = gradient.sum(axis=0)
        correction1, correction2 = 1 - beta1**step, 1 - beta2**step
        for index, (param, grad) in enumerate(((weights, grad_w), (bias, grad_b))):
            first, second = moments[2 * index], moments[2 * index + 1]
            first *= beta1
            first += (1 - beta1) * grad
            second *= beta2
            second += (1 - beta2) * grad * grad
            param -= (
                settings.learning_rate
                * (first / correction1)
                / (np.sqrt(second / correction2) + _ADAM_EPSILON)
            )
    weights, bias = np.round(weights, DECIMALS) + 0.0, np.round(bias, DECIMALS) + 0.0  # + 0.0: no -0.0
    logits = design.times(weights) + bias
    loss = _loss(_softmax(logits), y, weights, settings.l2)
    support = np.bincount(design.cols, minlength=f)
    model = LocalModel(
        modalities=tuple(modalities),
        buckets=settings.buckets,
        ngrams=ngrams,
        bias=tuple(float(value) for value in bias),
        rows={int(bucket): tuple(float(v) for v in weights[i]) for i, bucket in enumerate(design.buckets)},
        support={int(bucket): int(support[i]) for i, bucket in enumerate(design.buckets)},
        min_support=settings.min_support,
        trained={
            **(trained or {}),
            "examples": n,
            "features": f,
            "epochs": settings.epochs,
            "l2": settings.l2,
            "train_loss": round(loss, 6),
        },
    )
    return Fitted(model, logits, loss, f)


def train_local_model(
    event: TrainLocalModelEvent,
    *,
    settings: TrainLocalModelEnv,
    s3: Any,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Train on the run's train.jsonl and write the artifact; returns `$.local_model`.

    A run distilled from invocation logs has no training file: nothing is trained and the result says so
    (`trained` false), like a failed training the state machine catches.
    """
    run = event.run
    key = run.layout.local_model_key
    if not event.dataset.train_key:
        return not_trained(
            "no training file: a run distilled from invocation logs has no train.jsonl to train tier-0 on"
        )
    text = get_text(s3, run.bucket, event.dataset.train_key)
    if text is None:
        raise TrainingDataInvalid(f"no training file at s3://{run.bucket}/{event.dataset.train_key}")
    started = clock()
    queries, targets = training_examples(text, run.settings.modalities)
    fitted = fit(queries, targets, run.settings.modalities, settings, trained={"run_id": run.run_id})
    seconds = clock() - started
    body = fitted.model.to_json().encode("utf-8")
    put(s3, run.bucket, key, body, "application/json")
    return {
        "trained": True,
        "key": key,
        "s3_uri": s3_uri(run.bucket, key),
        "sha256": hashlib.sha256(body).hexdigest(),
        "examples": len(queries),
        "features": fitted.features,
        "seconds": round(seconds, 3),
        "train_loss": round(fitted.train_loss, 6),
        "error": None,
    }


def not_trained(error: str) -> dict[str, Any]:
    """`$.local_model` of a run without a tier-0 model (the same keys, `trained` false)."""
    return {"trained": False, "key": None, "s3_uri": None, "sha256": None, "examples": 0, "features": 0,
            "seconds": None, "train_loss": None, "error": error}  # fmt: skip
