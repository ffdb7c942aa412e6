"""The demo's generated sample images: labelled as drawn by the model emulator."""

from __future__ import annotations

from pathlib import Path

from cli.samples import CORRUPT_NAME, NOT_IMAGE_NAME, files_in, generate
from emulator.labels import compute_labels, sniff_format


def test_samples_are_labelled_as_drawn(tmp_path: Path) -> None:
    samples = generate(tmp_path, 12)
    images = [s for s in samples if s.valid]
    assert len(images) == 12
    for sample in images:
        names = [label["Name"] for label in compute_labels(sample.path.read_bytes())]
        assert set(sample.expected) <= set(names), sample.key
        if sample.key.endswith(".png"):  # lossless: exactly what was drawn
            assert sorted(names) == sorted(sample.expected), sample.key


def test_png_and_jpeg_alternate_and_two_files_are_bad_on_purpose(tmp_path: Path) -> None:
    samples = generate(tmp_path, 4)
    formats = [sniff_format(s.path.read_bytes()) for s in samples]
    assert formats == ["PNG", "JPEG", "PNG", "JPEG", "PNG", None]
    bad = {s.key for s in samples if not s.valid}
    assert bad == {CORRUPT_NAME, NOT_IMAGE_NAME}


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = [s.path.read_bytes() for s in generate(tmp_path / "a", 5, seed=3)]
    again = [s.path.read_bytes() for s in generate(tmp_path / "b", 5, seed=3)]
    other = [s.path.read_bytes() for s in generate(tmp_path / "c", 5, seed=4)]
    assert first == again and first != other


def test_files_in_lists_a_users_folder_with_relative_keys(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.png").write_bytes(b"1")
    (tmp_path / "y.jpg").write_bytes(b"2")
    (tmp_path / ".hidden").write_bytes(b"3")
    assert [key for _, key in files_in(tmp_path)] == ["a/b/x.png", "y.jpg"]


def test_the_demo_samples_raise_an_alert_and_leave_images_for_review(tmp_path: Path) -> None:
    """The demo's labelThresholds and alertLabels against the emulator's confidences on
    the default samples: at least one alert and one image for review (and not all)."""
    from cli.demo import DEMO_ALERT_LABELS, DEMO_LABEL_THRESHOLDS
    from runtime import thresholds
    from runtime.settings import DEFAULTS, MIN_CONFIDENCE

    floor = float(DEFAULTS[MIN_CONFIDENCE])
    alerts = review = 0
    images = [s for s in generate(tmp_path) if s.valid]
    for sample in images:
        returned = [
            label
            for label in compute_labels(sample.path.read_bytes())
            if label["Confidence"] >= floor
        ]
        kept, below = thresholds.split_labels(returned, DEMO_LABEL_THRESHOLDS)
        alerts += bool(thresholds.alert_matches(kept, DEMO_ALERT_LABELS))
        review += bool(below)
    assert 1 <= alerts < len(images)
    assert 1 <= review < len(images)
