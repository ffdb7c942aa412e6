"""Per-label thresholds and alert rules: parsed, checked, applied after detection;
labels under their threshold are kept in the result document, never dropped."""

from __future__ import annotations

import pytest

from runtime import settings as names
from runtime import thresholds as t
from runtime.settings import Settings, SettingsError
from tests.factories import s3_event_body, sqs_event, sqs_record, square_image

BASE = {
    names.FINAL_BUCKET: "final",
    names.PROJECT_VERSION_ARN: (
        "arn:aws:rekognition:us-east-1:123456789012:project/p/version/p.v1/1700000000000"
    ),
}


def test_rules_parse_from_json_text_and_objects():
    assert t.parse_rules('{"cat": 80, "dog": 65.5}') == {"cat": 80.0, "dog": 65.5}
    assert t.parse_rules({"cat": 80}) == {"cat": 80.0}
    assert t.parse_rules("") == {} and t.parse_rules(None) == {} and t.parse_rules("{}") == {}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("[1, 2]", "JSON object"),
        ("{cat: 80}", "not valid JSON"),
        ('{"": 80}', "non-empty"),
        ('{"  ": 80}', "non-empty"),
        ('{"cat": "high"}', "must be a number"),
        ('{"cat": true}', "must be a number"),
        ('{"cat": 101}', "between 0 and 100"),
        ('{"cat": -1}', "between 0 and 100"),
        ('{"cat": NaN}', "between 0 and 100"),
    ],
)
def test_bad_rules_are_refused_saying_why(raw, says):
    with pytest.raises(t.RuleError, match=says):
        t.parse_rules(raw)


def test_a_threshold_below_min_confidence_is_refused():
    with pytest.raises(t.RuleError, match=r"'cat': 40 below minConfidence \(50\)"):
        t.check_thresholds({"cat": 40, "dog": 50}, 50)
    t.check_thresholds({"dog": 50, "cow": 99}, 50)  # at the floor is allowed


def test_an_alert_under_the_label_threshold_is_refused():
    with pytest.raises(t.RuleError, match=r"'cat': 70 \(threshold 80\)"):
        t.check_alerts({"cat": 70}, {"cat": 80}, 50)
    with pytest.raises(t.RuleError, match=r"'dog': 40 \(threshold 50\)"):
        t.check_alerts({"dog": 40}, {}, 50)
    t.check_alerts({"cat": 80, "dog": 90}, {"cat": 80}, 50)


def test_split_keeps_every_label_and_marks_those_under_their_threshold():
    labels = [
        {"Name": "cat", "Confidence": 79.9},
        {"Name": "dog", "Confidence": 60.0},
        {"Name": "cat", "Confidence": 80.0},
        {"Name": "cow", "Confidence": 51.0},
    ]
    kept, below = t.split_labels(labels, {"cat": 80, "dog": 61})
    assert kept == [{"Name": "cat", "Confidence": 80.0}, {"Name": "cow", "Confidence": 51.0}]
    assert below == [{"Name": "cat", "Confidence": 79.9}, {"Name": "dog", "Confidence": 60.0}]


def test_alert_matches_are_the_labels_at_or_above_their_alert_confidence():
    labels = [{"Name": "cat", "Confidence": 90.0}, {"Name": "dog", "Confidence": 89.0}]
    assert t.alert_matches(labels, {"cat": 90, "dog": 90}) == [labels[0]]
    assert t.alert_matches(labels, {}) == []


def test_settings_read_and_render_the_rules():
    settings = Settings.from_env(
        {**BASE, names.LABEL_THRESHOLDS: '{"cat": 80}', names.ALERT_LABELS: '{"cat": 95}'}
    )
    assert settings.label_thresholds == {"cat": 80.0}
    assert settings.alert_labels == {"cat": 95.0}
    assert Settings.from_env(settings.to_env()) == settings
    assert Settings.from_env(BASE).label_thresholds == {}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (names.LABEL_THRESHOLDS, '{"cat": 40}'),  # under MIN_CONFIDENCE (50)
        (names.LABEL_THRESHOLDS, "cat=80"),
        (names.ALERT_LABELS, '{"cat": 200}'),
        (names.ALERT_LABELS, '{"cat": 45}'),
    ],
)
def test_bad_rules_fail_the_cold_start_naming_the_variable(name, value):
    with pytest.raises(SettingsError, match=f"^{name} "):
        Settings.from_env({**BASE, name: value})


def test_labels_under_their_threshold_stay_in_the_result_document(env, context):
    env.put("red.png", square_image("PNG", colour="red"))
    handler = env.handler(min_confidence=10.0, label_thresholds={"red square": 99.95})

    response = handler(sqs_event(sqs_record(s3_event_body("red.png"))), context)

    assert response == {"batchItemFailures": []}
    doc = env.document("red.png.json")
    assert doc["labelThresholds"] == {"red square": 99.95}
    below = [label["Name"] for label in doc["labelsBelowThreshold"]]
    assert below == ["red square"]
    assert "red square" not in [label["Name"] for label in doc["labels"]]
    assert "white background" in [label["Name"] for label in doc["labels"]]
    kept_below = doc["labelsBelowThreshold"][0]
    assert kept_below["Confidence"] < 99.95 and "BoundingBox" in kept_below["Geometry"]


def test_without_thresholds_every_label_counts(env, context):
    env.put("red.png", square_image("PNG", colour="red"))
    env.handler(min_confidence=10.0)(sqs_event(sqs_record(s3_event_body("red.png"))), context)
    doc = env.document("red.png.json")
    assert doc["labelsBelowThreshold"] == [] and doc["labelThresholds"] == {}
    assert {label["Name"] for label in doc["labels"]} >= {"white background", "red square"}
