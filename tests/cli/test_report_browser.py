"""The HTML gallery in a real headless Chromium, offline (file://, a black-hole proxy):
boxes are drawn where the JSON says (pixel checks on a screenshot) and the filters
work (DOM after the page's script ran)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from cli import gallery
from cli.results import item_from_document
from runtime import documents

CHROMIUM = next(
    (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p),
    None,
)
WIDTH, HEIGHT = 1200, 900
VERSION_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/b/version/b.v1/1700000000000"
BLUE = (40, 90, 200)
ROBIN = {"Left": 0.25, "Top": 0.2, "Width": 0.5, "Height": 0.4}
SPARROW = {
    "Left": 0.05,
    "Top": 0.6,
    "Width": 0.2,
    "Height": 0.3,
}  # the flat colour of the boxed fixture image (conftest make_image)


@pytest.fixture(scope="module", autouse=True)
def need_chromium():
    if CHROMIUM is None:
        if os.environ.get("REKBATCH_SKIP_BROWSER_TESTS") == "1":
            pytest.skip("REKBATCH_SKIP_BROWSER_TESTS=1")
        pytest.fail("chromium not found: run scripts/bootstrap.sh (installs Debian's chromium)")


def chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--proxy-server=http://127.0.0.1:9",  # offline: any network fetch would fail
        f"--user-data-dir={tmp_path / 'profile'}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={WIDTH},{HEIGHT}",
        *args,
        url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=True)


def screenshot(tmp_path: Path, page: Path, fragment: str = "") -> Image.Image:
    shot = tmp_path / f"shot{abs(hash(fragment))}.png"
    chromium(tmp_path, page.as_uri() + fragment, f"--screenshot={shot}")
    return Image.open(shot).convert("RGB")


def dom(tmp_path: Path, page: Path, fragment: str = "") -> str:
    return chromium(tmp_path, page.as_uri() + fragment, "--dump-dom").stdout


def near(pixel: tuple[int, ...], colour: tuple[int, ...], tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


def rect_of(img: Image.Image, colour: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """Bounding box (left, top, right, bottom; exclusive) of the pixels of ``colour``."""
    bands = [
        band.point(lambda v, c=c: 255 if abs(v - c) <= 4 else 0)
        for band, c in zip(img.split(), colour, strict=True)
    ]
    mask = Image.new("L", img.size, 255)
    for band in bands:
        mask = Image.composite(band, Image.new("L", img.size, 0), mask)
    found = mask.getbbox()
    assert found, f"colour {colour} not on the page: the image did not render"
    return found


def hex_rgb(value: str) -> tuple[int, int, int]:
    red, green, blue = (int(value[i : i + 2], 16) for i in (1, 3, 5))
    return red, green, blue


def box_colour(html: str, label: str) -> tuple[int, int, int]:
    match = re.search(rf'class="box" data-label="{label}"[^>]*--c:(#[0-9a-f]{{6}})', html)
    assert match, f"no box for {label}"
    return hex_rgb(match.group(1))


@pytest.fixture(scope="module")
def page(tmp_path_factory, make_image_module) -> Path:
    """The gallery of the same fixture results as test_report.py, rendered directly (the
    download path is covered there; this module tests what the browser shows)."""
    make_image = make_image_module
    docs = [
        result_doc(
            "garden/robin 1.png",
            [
                {"Name": "Robin", "Confidence": 97.5, "Geometry": {"BoundingBox": ROBIN}},
                {"Name": "Sparrow", "Confidence": 42.0, "Geometry": {"BoundingBox": SPARROW}},
            ],
        ),
        result_doc("garden/sparrow+2.jpg", [{"Name": "Sparrow", "Confidence": 88.25}]),
        result_doc("street/empty é.jpg", []),
        documents.build_error_document(
            source=documents.source_section("src", "street/broken.jpg", None, 6),
            final_bucket="final",
            failed_prefix="failed/",
            code="InvalidImageFormat",
            message="Request has unsupported image format",
            project_version_arn=VERSION_ARN,
        ),
    ]
    items = [
        item_from_document(d, d["output"].get("resultKey") or d["output"]["errorKey"], "failed/")
        for d in docs
    ]
    images = {
        "garden/robin 1.png": ("image/png", make_image("png", BLUE, (400, 300))),
        "garden/sparrow+2.jpg": ("image/jpeg", make_image("jpeg", (30, 160, 60), (300, 300))),
        "street/empty é.jpg": ("image/jpeg", make_image("jpeg", (120, 120, 120), (320, 240))),
    }
    path = tmp_path_factory.mktemp("gallery") / "report.html"
    path.write_text(gallery.render(items, images, subtitle="s3://final/"), encoding="utf-8")
    return path


def result_doc(key: str, labels: list[dict]) -> dict:
    return documents.build_result_document(
        source=documents.source_section("src", key, "e", 1),
        final_bucket="final",
        project_version_arn=VERSION_ARN,
        min_confidence=40.0,
        labels=labels,
    )


def edges(rect: tuple[int, int, int, int], box: dict) -> tuple[float, float, float, float]:
    left, top, right, bottom = rect
    w, h = right - left, bottom - top
    return (
        left + box["Left"] * w,
        top + box["Top"] * h,
        left + (box["Left"] + box["Width"]) * w,
        top + (box["Top"] + box["Height"]) * h,
    )


def test_boxes_are_drawn_where_the_json_says(page, tmp_path):
    html = page.read_text(encoding="utf-8")
    shot = screenshot(tmp_path, page)
    rect = rect_of(shot, BLUE)
    w, h = rect[2] - rect[0], rect[3] - rect[1]
    assert w > 200 and abs(w / h - 400 / 300) < 0.02, f"image rendered at {rect}"

    robin = box_colour(html, "Robin")
    x0, y0, x1, y1 = edges(rect, ROBIN)
    mid_y = round((y0 + y1) / 2)
    mid_x = round((x0 + x1) / 2)
    px = shot.getpixel
    assert near(px((round(x0) + 1, mid_y)), robin), "left edge"
    assert near(px((round(x1) - 2, mid_y)), robin), "right edge"
    assert near(px((mid_x, round(y1) - 2)), robin), "bottom edge"
    assert near(px((mid_x, round(y0) + 1)), robin), "top edge"
    assert near(px((round(x0) + 10, mid_y)), BLUE), "the box is not filled"
    assert near(px((round(x0) - 6, mid_y)), BLUE), "nothing drawn left of the box"
    assert near(px((round(x1) + 6, mid_y)), BLUE), "nothing drawn right of the box"

    sparrow = box_colour(html, "Sparrow")
    assert sparrow != robin
    sx0, sy0, sx1, sy1 = edges(rect, SPARROW)
    assert near(px((round(sx0) + 1, round((sy0 + sy1) / 2))), sparrow)


def test_confidence_filter_hides_low_confidence_boxes(page, tmp_path):
    shot = screenshot(tmp_path, page, "#min=50")
    rect = rect_of(shot, BLUE)
    sx0, sy0, _, sy1 = edges(rect, SPARROW)
    x0, y0, _, y1 = edges(rect, ROBIN)
    html = page.read_text(encoding="utf-8")

    assert near(shot.getpixel((round(sx0) + 1, round((sy0 + sy1) / 2))), BLUE), "Sparrow 42% hidden"
    assert near(shot.getpixel((round(x0) + 1, round((y0 + y1) / 2))), box_colour(html, "Robin"))


def visible_cards(html: str) -> list[str]:
    cards = re.findall(r"<article ([^>]*)>", html)
    return [re.search(r'data-key="([^"]*)"', c).group(1) for c in cards if " hidden" not in c]


def test_gallery_renders_every_card_offline(page, tmp_path):
    html = dom(tmp_path, page)

    assert sorted(visible_cards(html)) == [
        "garden/robin 1.png",
        "garden/sparrow+2.jpg",
        "street/broken.jpg",
        "street/empty é.jpg",
    ]
    assert 'data-shown="4"' in html
    assert "showing 4 of 4" in html


def test_label_and_confidence_filters_select_cards(page, tmp_path):
    only_sparrow = dom(tmp_path, page, "#label=Sparrow&min=50&unlabelled=0&failed=0")
    sparrow_any = dom(tmp_path, page, "#label=Sparrow&unlabelled=0&failed=0")
    robin_and_failed = dom(tmp_path, page, "#label=Robin&unlabelled=0&q=o")

    assert visible_cards(only_sparrow) == ["garden/sparrow+2.jpg"]
    assert "showing 1 of 4" in only_sparrow
    assert sorted(visible_cards(sparrow_any)) == ["garden/robin 1.png", "garden/sparrow+2.jpg"]
    assert sorted(visible_cards(robin_and_failed)) == ["garden/robin 1.png", "street/broken.jpg"]
