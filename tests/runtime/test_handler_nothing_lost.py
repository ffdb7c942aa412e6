"""Nothing is ever lost under random faults and redelivery.

The inference handler against moto server + the Custom Labels model emulator
(fixtures: conftest.py; images and events: tests/factories.py)."""

from __future__ import annotations

from tests.factories import PNG_SIGNATURE, s3_event_body, sqs_event, sqs_record, square_image
from tests.runtime.conftest import FINAL, SOURCE, FakeContext, failed_ids


def test_nothing_is_ever_lost_under_random_faults_and_redelivery(env, context):
    """Like SQS: redeliver what the handler reports until nothing is left. After every
    round each key is finished (result or error document, source gone) or its message
    is still pending with the source in place; at the end everything is finished."""
    good = [f"lot/img{i}.png" for i in range(12)] + [f"lot/photo {i}.jpg" for i in range(4)]
    not_images = ["lot/readme.txt", "lot/data.csv"]
    corrupt = ["lot/corrupt1.jpg", "lot/corrupt2.png"]
    never_uploaded = ["lot/ghost.png"]
    for key in good:
        if key.endswith(".jpg"):
            env.put(key, square_image("JPEG"), "image/jpeg")
        else:
            env.put(key)
    for key in not_images:
        env.put(key, b"a,b", "text/plain")
    for key in corrupt:
        env.put(key, PNG_SIGNATURE + b" garbage")
    all_keys = good + not_images + corrupt + never_uploaded

    # Messages of 1 to 3 records, plus two that are not S3 events.
    records, groups, i = [], {}, 0
    for n, size in enumerate([1, 3, 2, 1, 3, 1, 2, 3, 1, 2, 2]):
        keys = all_keys[i : i + size]
        i += size
        if keys:
            groups[f"msg{n}"] = keys
            records.append(sqs_record(s3_event_body(*keys), f"msg{n}"))
    assert i >= len(all_keys)
    records.append(sqs_record("garbage", "junk1"))
    records.append(sqs_record('{"Records": [{"eventSource": "aws:sqs"}]}', "junk2"))

    env.aws.model.configure(
        fault_rates={"ThrottlingException": 0.3, "InternalServerError": 0.1}, seed=42
    )
    handler = env.handler(max_concurrency=4)
    pending = records
    for round_no in range(12):
        if round_no == 6:
            env.aws.model.configure(fault_rates={})  # the outage ends
        response = handler(sqs_event(*pending), FakeContext())
        retry = failed_ids(response)
        assert retry <= {r["messageId"] for r in pending}
        assert not retry & {"junk1", "junk2"}
        source, final = env.keys(SOURCE), env.keys(FINAL)
        pending_keys = {k for m in retry for k in groups[m]}
        for key in all_keys:
            finished = (
                key + ".json" in final or "failed/" + key + ".json" in final
            ) and key not in source
            assert finished or (key in pending_keys and key in source), (round_no, key)
        pending = [r for r in pending if r["messageId"] in retry]
        if not pending:
            break

    assert not pending, "everything finished once the faults stopped"
    assert env.keys(SOURCE) == set()
    final = env.keys(FINAL)
    for key in good:
        assert {key, key + ".json"} <= final
        assert env.document(key + ".json")["kind"] == "result"
    for key in not_images + corrupt:
        assert {"failed/" + key, "failed/" + key + ".json"} <= final
    assert env.document("failed/lot/readme.txt.json")["code"] == "UnsupportedImageType"
    assert env.document("failed/lot/corrupt1.jpg.json")["code"] == "InvalidImageFormat"
    assert env.document("failed/lot/ghost.png.json")["code"] == "SourceMissing"
    assert env.aws.model.meter()["faults_injected"] > 0, "the faults really happened"
    # Every image finished has its dataset line (duplicates allowed, never a gap).
    lines = {(line["source_key"], line["status"]) for line in env.dataset_lines()}
    assert lines == {(key, "succeeded") for key in good} | {
        (key, "failed") for key in not_images + corrupt + never_uploaded
    }
