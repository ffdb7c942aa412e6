"""Per-label confidence rules: thresholds applied after detection, and alert rules.

Rekognition's ``MinConfidence`` is one floor for every label; a model's labels
rarely deserve the same one (each label has its own "assumed threshold" when
MinConfidence is unset). ``labelThresholds`` maps a label name to the
confidence (0-100) it needs to count; ``MinConfidence`` stays the floor sent to
the API. A label under its threshold is not dropped: the result document keeps
it under ``labelsBelowThreshold`` (same shape as ``labels``), so a reviewer or
a report can still see it, and ``labelThresholds`` records what was applied.

``alertLabels`` maps a label name to the confidence at which an image with that
label raises an alert (runtime/alerts.py). Only labels that count (in
``labels``, at or above their threshold) can raise one.

Rules shared by both maps, checked by the runtime's settings and, with the key
named, by the stack config (infra/config/keys.py), so a bad map fails ``pulumi up``:

- a JSON object of label name -> number; names non-empty (Rekognition Custom
  Labels names, matched exactly, case included), at most ``MAX_NAME_CHARS``;
- each number between 0 and 100;
- a threshold below ``minConfidence`` is refused: Rekognition never returns
  such a label, so the threshold would silently do nothing (lower
  minConfidence instead, which is what the user meant);
- an alert confidence below the label's effective threshold (its
  ``labelThresholds`` entry, else minConfidence) is refused for the same reason.

Pure and standard-library only: infra/ imports it without the runtime's dependencies.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

MAX_NAME_CHARS = 256
MAX_ENTRIES = 500


class RuleError(ValueError):
    """A label rule map is invalid; the message says why (the caller names the setting)."""


def parse_rules(raw: str | Mapping[str, Any] | None) -> dict[str, float]:
    """A label -> confidence map from JSON text (or an already parsed object); checked."""
    if raw is None:
        return {}
    value: Any = raw
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RuleError(f"is not valid JSON ({exc.msg}): {text[:80]!r}") from None
    if not isinstance(value, Mapping):
        raise RuleError(
            f'must be a JSON object of label name -> confidence, like {{"cat": 80}}, got {value!r}'
        )
    if len(value) > MAX_ENTRIES:
        raise RuleError(f"has {len(value)} labels; at most {MAX_ENTRIES}")
    rules: dict[str, float] = {}
    for name, confidence in value.items():
        if not isinstance(name, str) or not name.strip():
            raise RuleError("label names must be non-empty strings")
        if len(name) > MAX_NAME_CHARS:
            raise RuleError(f"label name longer than {MAX_NAME_CHARS} characters: {name[:40]!r}...")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            raise RuleError(
                f"the confidence of {name!r} must be a number 0-100, got {confidence!r}"
            )
        number = float(confidence)
        if not math.isfinite(number) or not 0 <= number <= 100:
            raise RuleError(f"the confidence of {name!r} must be between 0 and 100, got {number:g}")
        rules[name] = number
    return rules


def check_thresholds(thresholds: Mapping[str, float], min_confidence: float) -> None:
    """Refuse thresholds under the API floor: they could never change anything."""
    low = {name: value for name, value in thresholds.items() if value < min_confidence}
    if low:
        listed = ", ".join(f"{name!r}: {value:g}" for name, value in sorted(low.items()))
        raise RuleError(
            f"{listed} below minConfidence ({min_confidence:g}): Rekognition returns no label "
            f"under minConfidence, so such a threshold does nothing; lower minConfidence to "
            f"{min(low.values()):g} or raise the threshold"
        )


def check_alerts(
    alerts: Mapping[str, float], thresholds: Mapping[str, float], min_confidence: float
) -> None:
    """Refuse alert confidences under the label's effective threshold (never reachable)."""
    low = {
        name: (value, effective_threshold(name, thresholds, min_confidence))
        for name, value in alerts.items()
        if value < effective_threshold(name, thresholds, min_confidence)
    }
    if low:
        listed = ", ".join(
            f"{name!r}: {value:g} (threshold {floor:g})"
            for name, (value, floor) in sorted(low.items())
        )
        raise RuleError(
            f"{listed}: an alert fires only for labels that count (at or above their threshold "
            "in labelThresholds, else minConfidence); raise the alert confidence or lower the "
            "threshold"
        )


def effective_threshold(name: str, thresholds: Mapping[str, float], min_confidence: float) -> float:
    """The confidence a label needs to count: its own threshold, else the API floor."""
    return thresholds.get(name, min_confidence)


def dumps_rules(rules: Mapping[str, float]) -> str:
    """The compact JSON the function's environment carries (sorted: stable diffs)."""
    return json.dumps(
        {name: _number(value) for name, value in sorted(rules.items())},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def split_labels(
    labels: Iterable[Mapping[str, Any]], thresholds: Mapping[str, float]
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(labels that count, labels under their threshold), each in Rekognition's order.

    A label counts at or above its threshold (the same ``>=`` as MinConfidence);
    labels without a threshold always count (the API floor already applied).
    """
    kept: list[Mapping[str, Any]] = []
    below: list[Mapping[str, Any]] = []
    for label in labels:
        threshold = thresholds.get(str(label.get("Name", "")))
        if threshold is not None and _confidence(label) < threshold:
            below.append(label)
        else:
            kept.append(label)
    return kept, below


def alert_matches(
    labels: Iterable[Mapping[str, Any]], alerts: Mapping[str, float]
) -> list[Mapping[str, Any]]:
    """The labels (of those that count) at or above their alert confidence."""
    return [
        label
        for label in labels
        if str(label.get("Name", "")) in alerts
        and _confidence(label) >= alerts[str(label.get("Name", ""))]
    ]


def _confidence(label: Mapping[str, Any]) -> float:
    try:
        return float(label.get("Confidence", 0.0))
    except (TypeError, ValueError):
        return 0.0


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value
