"""rekbatch upload against the emulator: keys, sniffing, re-runs, bad input."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from runtime import documents


def test_uploads_images_keyed_by_relative_path_and_skips_non_images(aws, stack, tree, cli, keys):
    result = cli("upload", tree)

    assert result.code == 0, result.err
    assert keys("src-bucket") == [
        "2026 spring/garden+yard/rouge-gorge é.jpeg",
        "a.png",
        "nested/b.jpg",
    ]
    assert "uploaded 3 image(s)" in result.out
    assert "notes.txt: not a PNG or JPEG (by content)" in result.out
    assert "fake.jpg: not a PNG or JPEG (by content)" in result.out
    assert "ignored 1 hidden file(s)" in result.out
    head = aws.client("s3").head_object(Bucket="src-bucket", Key="nested/b.jpg")
    assert head["ContentType"] == "image/jpeg"
    body = (tree / "nested" / "b.jpg").read_bytes()
    assert head["Metadata"]["md5"] == hashlib.md5(body).hexdigest()


def test_progress_lines_report_files_and_bytes_when_not_a_terminal(stack, tree, cli):
    result = cli("upload", tree)

    total = sum(
        p.stat().st_size
        for p in tree.rglob("*")
        if p.suffix in {".png", ".jpg", ".jpeg"} and p.name != "fake.jpg"
    )
    last = [line for line in result.out.splitlines() if line.startswith("upload: ")][-1]
    assert last.startswith("upload: 3/3 files")
    assert f"{total / 1000:.1f} KB/{total / 1000:.1f} KB" in last
    assert "/s" in last
    assert "\x1b[" not in result.out  # no terminal control codes in a pipe


def test_rerun_uploads_nothing_and_a_changed_file_again(aws, stack, tree, cli, keys, make_image):
    assert cli("upload", tree).code == 0
    s3 = aws.client("s3")
    before = s3.head_object(Bucket="src-bucket", Key="a.png")["LastModified"]

    again = cli("upload", tree)
    assert again.code == 0
    assert "uploaded 0 image(s)" in again.out
    assert "skipped 3 already in the source bucket" in again.out
    assert s3.head_object(Bucket="src-bucket", Key="a.png")["LastModified"] == before

    (tree / "a.png").write_bytes(make_image("png", colour=(200, 10, 10)))
    changed = cli("upload", tree)
    assert "uploaded 1 image(s)" in changed.out
    assert (
        s3.get_object(Bucket="src-bucket", Key="a.png")["Body"].read()
        == (tree / "a.png").read_bytes()
    )


def test_already_processed_images_are_not_uploaded_again_unless_forced(aws, stack, tree, cli, keys):
    s3 = aws.client("s3")
    s3.put_object(Bucket="final-bucket", Key=documents.result_key("a.png"), Body=b"{}")
    s3.put_object(
        Bucket="final-bucket",
        Key=documents.failed_document_key("failed/", "nested/b.jpg"),
        Body=b"{}",
    )

    result = cli("upload", tree)
    assert "skipped 2 already processed" in result.out
    assert keys("src-bucket") == ["2026 spring/garden+yard/rouge-gorge é.jpeg"]

    forced = cli("upload", "--force", tree / "a.png")
    assert forced.code == 0
    assert "a.png" in keys("src-bucket")


def test_prefix_and_single_files(stack, tree, cli, keys):
    result = cli("upload", "--prefix", "/batch 7/", tree / "a.png", tree / "nested" / "b.jpg")

    assert result.code == 0, result.err
    assert keys("src-bucket") == ["batch 7/a.png", "batch 7/b.jpg"]


def test_image_content_with_a_name_the_pipeline_ignores_is_skipped_with_the_reason(
    stack, tmp_path, cli, keys, make_image
):
    (tmp_path / "scan.tiff").write_bytes(make_image("png"))
    (tmp_path / "ok.PNG").write_bytes(make_image("png"))

    result = cli("upload", tmp_path)

    assert keys("src-bucket") == ["ok.PNG"]
    assert "scan.tiff: PNG content but the name does not end in .jpg/.jpeg/.png" in result.out


def test_empty_folder_is_a_user_error(stack, tmp_path, cli):
    (tmp_path / "empty").mkdir()
    result = cli("upload", tmp_path / "empty")

    assert result.code == 2
    assert "no files found" in result.err


def test_missing_path_is_a_user_error(stack, tmp_path, cli):
    result = cli("upload", tmp_path / "nope")

    assert result.code == 2
    assert "no such file or directory" in result.err


def test_unreadable_file_is_reported_and_the_rest_uploaded(stack, tree, cli, keys):
    os.symlink(tree / "gone.png", tree / "broken.png")  # a dangling link: open() fails

    result = cli("upload", tree)

    assert result.code == 1
    assert "cannot read" in result.err and "broken.png" in result.err
    assert len(keys("src-bucket")) == 3


def test_folder_of_only_non_images_uploads_nothing(stack, tmp_path, cli, keys):
    (tmp_path / "a.txt").write_text("x")
    result = cli("upload", tmp_path)

    assert result.code == 0
    assert "nothing to upload" in result.out
    assert keys("src-bucket") == []


def test_missing_bucket_names_the_output(aws, stack, tree, cli, monkeypatch):
    monkeypatch.setenv("REKBATCH_SOURCE_BUCKET", "no-such-bucket")

    result = cli("upload", tree)

    assert result.code == 2
    assert "source bucket 'no-such-bucket' does not exist" in result.err
    assert "Traceback" not in result.err


def test_missing_outputs_say_how_to_provide_them(aws, tree, cli, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no pulumi CLI
    result = cli("upload", tree)

    assert result.code == 2
    assert "--source-bucket or REKBATCH_SOURCE_BUCKET" in result.err


def test_outputs_file_is_a_stack_source(aws, stack, tree, tmp_path, cli, keys, monkeypatch):
    monkeypatch.delenv("REKBATCH_SOURCE_BUCKET")
    saved = tmp_path / "outputs.json"
    saved.write_text(json.dumps({"sourceBucket": "src-bucket", "finalBucket": "final-bucket"}))

    result = cli("upload", "--outputs", saved, tree / "a.png")

    assert result.code == 0, result.err
    assert keys("src-bucket") == ["a.png"]


def test_no_credentials_is_one_clear_line(aws, stack, tree, cli, monkeypatch, tmp_path: Path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    result = cli("upload", tree)

    assert result.code == 2
    assert result.err.strip().startswith("error: no AWS credentials found")
    assert len(result.err.strip().splitlines()) == 1
