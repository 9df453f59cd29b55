"""The tier-0 local model: its artifact format, its features and its pure-Python inference.

A small linear model over hashed word n-grams of the normalised query, predicting the modality
weights through a softmax. It is trained with numpy by the pipeline (routing.pipeline.local_training)
on the run's training set, evaluated as a fourth candidate, and answers queries inside the router
(no model call) when it is confident. Everything that must agree between training, evaluation and
the router lives here: the tokenizer, the feature hashing, the artifact's JSON format, the
prediction and the confidence. Standard library only and cheap to import: the router loads it at
cold start (no numpy there).

Artifact (JSON, `FORMAT`):
`{"format": "vsr-local-model/1", "modalities": [...], "buckets": 2**k, "ngrams": [1, 2],
"bias": [one per modality], "rows": {"<bucket>": [one weight per modality], ...},
"support": {"<bucket>": <training examples with that feature>, ...}, "min_support": n,
"trained": {...free-form facts: run_id, examples, ...}}`.
Only buckets seen in training have a row. Logits = bias + sum of the rows of the query's
features, scaled by 1/sqrt(feature count); weights = softmax(logits), normalised and rounded as
every decision is (`normalise_weights`).

Confidence (`LocalPrediction.confidence`, 0-1): the share of the query's features that training saw
at least `min_support` times, times the share of the probability mass on the top modality relative
to a uniform guess ((p_max - 1/K) / (1 - 1/K)), square-rooted so the two count evenly. A query made of
words the model never saw, or one it cannot separate from a uniform guess, is not confident. The
router answers a query itself only when confidence >= the threshold calibrated on the held-out set
(`routing.active_model.LocalModelRef.threshold`).
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .contract import RoutingDecision, normalise_query, normalise_weights, validate_modalities

FORMAT = "vsr-local-model/1"
DEFAULT_BUCKETS = 2**14
DEFAULT_NGRAMS = (1, 2)
MAX_BUCKETS = 2**20
# The query is read only this far: a longer query is still routed, from its first words.
MAX_WORDS = 64
_WORD = re.compile(r"\w+")
# The largest weight or bias an artifact may hold. Finite is not enough: rows near the float maximum sum
# to inf, and the softmax's inf - inf is NaN (no decision). With at most MAX_WORDS words (4 x MAX_WORDS
# features) every logit stays far from overflow; trained weights (L2-regularised logits) are a few units.
MAX_WEIGHT = 1e6
REASONING = "tier-0 local model (hashed word n-grams)"


class LocalModelInvalid(ValueError):
    """An artifact that is not a tier-0 model this code can run; the message says what is wrong."""


def words(query: str) -> list[str]:
    """The normalised query's words (`routing.normalise_query`, then runs of word characters)."""
    return _WORD.findall(normalise_query(query))[:MAX_WORDS]


def feature_buckets(
    query: str, buckets: int = DEFAULT_BUCKETS, ngrams: Sequence[int] = DEFAULT_NGRAMS
) -> list[int]:
    """The distinct hashed n-gram buckets of `query`, in first-seen order (the training features too).

    CRC-32 of the UTF-8 n-gram (with its order as a prefix, so "a b" as a bigram and as a unigram
    differ), masked to `buckets` (a power of two): stable across processes and platforms.
    """
    tokens = words(query)
    seen: dict[int, None] = {}
    mask = buckets - 1
    for order in ngrams:
        prefix = f"{order}\x1f"
        for start in range(len(tokens) - order + 1):
            gram = prefix + " ".join(tokens[start : start + order])
            seen.setdefault(zlib.crc32(gram.encode("utf-8")) & mask, None)
    return list(seen)


@dataclass(frozen=True, slots=True)
class LocalPrediction:
    decision: RoutingDecision
    confidence: float
    known_share: float


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A loaded tier-0 model; `predict` is pure Python and never raises for any query string."""

    modalities: tuple[str, ...]
    buckets: int
    ngrams: tuple[int, ...]
    bias: tuple[float, ...]
    rows: Mapping[int, tuple[float, ...]]
    support: Mapping[int, int]
    min_support: int
    trained: Mapping[str, Any]

    def logits(self, query: str) -> tuple[list[float], float]:
        """(the logits of `query`, the share of its features seen at least `min_support` times)."""
        features = feature_buckets(query, self.buckets, self.ngrams)
        logits = list(self.bias)
        known = 0
        if features:
            scale = 1.0 / math.sqrt(len(features))
            for bucket in features:
                row = self.rows.get(bucket)
                if row is None:
                    continue
                if self.support.get(bucket, 0) >= self.min_support:
                    known += 1
                for index, value in enumerate(row):
                    logits[index] += value * scale
        return logits, (known / len(features) if features else 0.0)

    def predict(self, query: str) -> LocalPrediction:
        logits, known_share = self.logits(query)
        peak = max(logits)
        exps = [math.exp(value - peak) for value in logits]
        total = math.fsum(exps)
        probabilities = [value / total for value in exps]
        weights = normalise_weights(dict(zip(self.modalities, probabilities, strict=True)), self.modalities)
        uniform = 1.0 / len(self.modalities)
        peakedness = max(0.0, (max(probabilities) - uniform) / (1.0 - uniform))
        confidence = math.sqrt(known_share * peakedness)
        return LocalPrediction(RoutingDecision(weights, REASONING), round(confidence, 6), known_share)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "modalities": list(self.modalities),
            "buckets": self.buckets,
            "ngrams": list(self.ngrams),
            "bias": list(self.bias),
            "rows": {str(bucket): list(row) for bucket, row in sorted(self.rows.items())},
            "support": {str(bucket): count for bucket, count in sorted(self.support.items())},
            "min_support": self.min_support,
            "trained": dict(self.trained),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)


def _floats(value: object, size: int, what: str) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != size:
        raise LocalModelInvalid(f"{what} must be a list of {size} numbers")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise LocalModelInvalid(f"{what} must hold finite numbers only")
        if abs(item) > MAX_WEIGHT:
            raise LocalModelInvalid(f"{what} must hold numbers of at most {MAX_WEIGHT:g} in magnitude")
        out.append(float(item))
    return tuple(out)


def _bucket(key: str, buckets: int, what: str) -> int:
    if not key.isdigit() or int(key) >= buckets:
        raise LocalModelInvalid(f"{what} key {key[:20]!r} is not a bucket below {buckets}")
    return int(key)


def load_local_model(text: str | bytes) -> LocalModel:
    """Parse and check an artifact; LocalModelInvalid names the first problem."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise LocalModelInvalid(f"not JSON: {exc}") from None
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise LocalModelInvalid(f"not a {FORMAT} artifact")
    try:
        modalities = validate_modalities(value.get("modalities") or ())
    except (TypeError, ValueError) as exc:
        raise LocalModelInvalid(f"modalities: {exc}") from None
    buckets = value.get("buckets")
    if not isinstance(buckets, int) or isinstance(buckets, bool) or not 1 <= buckets <= MAX_BUCKETS:
        raise LocalModelInvalid(f"buckets must be a power of two up to {MAX_BUCKETS}")
    if buckets & (buckets - 1):
        raise LocalModelInvalid(f"buckets must be a power of two up to {MAX_BUCKETS}")
    ngrams = value.get("ngrams")
    if (
        not isinstance(ngrams, list)
        or not ngrams
        or not all(isinstance(n, int) and 1 <= n <= 4 for n in ngrams)
    ):
        raise LocalModelInvalid("ngrams must be a non-empty list of orders from 1 to 4")
    size = len(modalities)
    bias = _floats(value.get("bias"), size, "bias")
    rows_value, support_value = value.get("rows"), value.get("support")
    if not isinstance(rows_value, dict) or not isinstance(support_value, dict):
        raise LocalModelInvalid("rows and support must be objects keyed by bucket")
    rows = {
        _bucket(key, buckets, "rows"): _floats(row, size, f"row {key}") for key, row in rows_value.items()
    }
    support: dict[int, int] = {}
    for key, count in support_value.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise LocalModelInvalid(f"support {key} must be a count")
        support[_bucket(key, buckets, "support")] = count
    min_support = value.get("min_support", 1)
    if isinstance(min_support, bool) or not isinstance(min_support, int) or min_support < 1:
        raise LocalModelInvalid("min_support must be a positive count")
    trained = value.get("trained") if isinstance(value.get("trained"), dict) else {}
    return LocalModel(modalities, buckets, tuple(ngrams), bias, rows, support, min_support, trained)
