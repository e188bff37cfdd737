"""Damage as scanners and phones do it (issue 8): the new profiles keep every answer area where their
transform says, really lose the corner marks they report lost, cut the QR's quiet zone, threshold
like a black-and-white scanner, and photograph the whole sheet on a darker table."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from formgen.definition import load_definition
from formgen.layout import PageLayout
from formgen.render import BuiltForm, build_form
from phieu.provingground import render_pdf_page
from phieu.provingground.bundle import stamp
from phieu.provingground.damage import sheet_geometry
from phieu.provingground.degrade import NEW_PROFILES, PROFILES, Degraded, degrade
from phieu.provingground.writers import write_jpeg

REPO = Path(__file__).resolve().parent.parent
DPI = 300.0
S = DPI / 25.4
SCANNERS = ("askew-clipped", "qr-clipped", "bw-scanner")


@pytest.fixture(scope="module")
def sipas() -> BuiltForm:
    return build_form(load_definition(REPO / "examples" / "sipas-2024.yaml"))


@pytest.fixture(scope="module")
def page4(sipas: BuiltForm) -> tuple[np.ndarray, PageLayout]:
    return render_pdf_page(stamp(sipas, [9], bytes(32)), 3, dpi=DPI), sipas.layout.page(4)


def grey(out: Degraded) -> np.ndarray:
    return out.image if out.image.ndim == 2 else cv2.cvtColor(out.image, cv2.COLOR_RGB2GRAY)


def frame_points(page: PageLayout) -> np.ndarray:
    """Points on every answer box's printed frame line (page px), 3 per side."""
    pts = []
    for b in page.boxes:
        t = 0.15  # the middle of the 0.3 mm frame line
        for f in (0.25, 0.5, 0.75):
            pts += [(b.x + t, b.y + f * b.h), (b.x + b.w - t, b.y + f * b.h),
                    (b.x + f * b.w, b.y + t), (b.x + f * b.w, b.y + b.h - t)]
    return np.array(pts) * S


def dark_at(img: np.ndarray, pts: np.ndarray, r: int = 1, *, off: float = 255.0) -> np.ndarray:
    """Mean grey in a small square round each point (``off`` where a point is off the image)."""
    h, w = img.shape
    out = np.full(len(pts), off)
    for i, (x, y) in enumerate(pts):
        xi, yi = int(round(x)), int(round(y))
        if r <= xi < w - r and r <= yi < h - r:
            out[i] = img[yi - r : yi + r + 1, xi - r : xi + r + 1].mean()
    return out


@pytest.mark.parametrize("profile", NEW_PROFILES)
def test_every_answer_box_is_on_the_image_where_the_mapping_says(page4: tuple[np.ndarray, PageLayout],
                                                                  profile: str) -> None:
    image, page = page4
    pts = frame_points(page)
    for seed in range(3):
        out = degrade(image, profile, np.random.default_rng(seed), dpi=DPI, page=page)
        assert out.profile == profile and out.damage
        mapped = out.map_points(pts)
        img = grey(out)
        h, w = img.shape
        assert (mapped[:, 0] > 1).all() and (mapped[:, 0] < w - 2).all() and (mapped[:, 1] > 1).all() \
            and (mapped[:, 1] < h - 2).all(), (profile, seed)
        hits = dark_at(img, mapped, 1) < 150
        assert hits.mean() > 0.97, (profile, seed, hits.mean())  # the mapping lands on the printed frames


def test_old_profiles_unchanged_by_the_new_ones() -> None:
    assert PROFILES == ("office", "fax", "phone") and not set(PROFILES) & set(NEW_PROFILES)


def askew_pages(image: np.ndarray, page: PageLayout, want: str, count: int) -> list[Degraded]:
    found = []
    for seed in range(80):
        out = degrade(image, "askew-clipped", np.random.default_rng(seed), dpi=DPI, page=page)
        if any(d.startswith(want) for d in out.damage):
            found.append(out)
        if len(found) == count:
            return found
    raise AssertionError(f"no {want} page in 80 seeds")


def test_askew_feeds_lose_corner_marks_into_an_a4_scan_area(page4: tuple[np.ndarray, PageLayout]) -> None:
    image, page = page4
    lost_counts = set()
    for out in askew_pages(image, page, "fed", 8):
        a = out.transform
        angle = abs(np.degrees(np.arctan2(a[1, 0], a[0, 0])))
        assert 3.0 <= angle <= 4.0 + 1e-6
        k = out.dpi / DPI  # the scan area is the sheet's own size, not a bed bigger than the turned page
        assert abs(out.image.shape[1] - image.shape[1] * k) <= 1 and abs(out.image.shape[0] - image.shape[0] * k) <= 1
        assert out.lost_marks
        lost_counts.add(len(out.lost_marks))
        img = grey(out)
        for m in page.marks:
            centre = dark_at(img, out.map_points(np.array([[m.cx * S, m.cy * S]])), 2)[0]
            if m.name in out.lost_marks:
                assert centre > 150, (m.name, out.damage)  # gone: beyond the edge or whitened by border cleanup
            else:
                assert centre < 110, (m.name, out.damage)
    assert len(lost_counts) >= 2  # one to four marks, not always the same number


@pytest.mark.parametrize("damage", ["torn corner", "staple"])
def test_torn_and_stapled_corners_cover_their_mark(page4: tuple[np.ndarray, PageLayout], damage: str) -> None:
    image, page = page4
    for out in askew_pages(image, page, damage, 3):
        words = " ".join(out.damage)
        if "folded" in words or "torn" in words:
            assert out.lost_marks, words
        img = grey(out)
        for name in out.lost_marks:
            m = next(m for m in page.marks if m.name == name)
            spread = np.linspace(-0.4, 0.4, 5) * m.size  # lost: at least half of the mark is gone
            square = np.array([[m.cx + dx, m.cy + dy] for dx in spread for dy in spread]) * S
            values = dark_at(img, out.map_points(square), 1)
            lid_black = "black lid" in words  # a torn-off or folded-away corner shows the scanner's black lid
            assert lid_black or (values > 120).mean() >= 0.45, (name, words, values)


def test_qr_quiet_zone_is_cut_in_any_orientation(page4: tuple[np.ndarray, PageLayout]) -> None:
    image, page = page4
    modules = sheet_geometry(image, DPI, page).qr_modules  # page px
    turns = set()
    for seed in range(14):
        out = degrade(image, "qr-clipped", np.random.default_rng(seed), dpi=DPI, page=page)
        turns.add(out.turn)
        img = grey(out)
        h, w = img.shape
        paper = float(np.median(img[h // 3 : h // 2, w // 3 : w // 2]))
        for x in (modules.x + 2, modules.x + modules.w / 2, modules.x + modules.w - 2):
            # from just above the modules up through the quiet zone (4 modules, ~2 mm): the edge comes first
            up = np.array([[x, modules.y + 1 - k] for k in np.arange(0, 2.2 * S)])
            seen = dark_at(img, out.map_points(up), 0, off=-1.0)
            assert seen[0] >= 0, (seed, out.damage)  # the modules' top row: still on the image
            gone = (seen < 0) | (seen < paper - 12)  # then the image ends, or the paper (its edge's shadow, the lid)
            assert gone[4:].any(), (seed, out.damage)  # above the modules (the quiet zone is white paper)
        centre = out.map_points(np.array([[modules.x + modules.w / 2, modules.y + modules.h / 2]]))[0]
        assert 0 <= centre[0] < w and 0 <= centre[1] < h
    assert {0, 180} <= turns and turns & {90, 270}


def test_bw_scanner_is_one_bit_at_office_resolutions(page4: tuple[np.ndarray, PageLayout]) -> None:
    image, page = page4
    modes = set()
    for seed in range(8):
        out = degrade(image, "bw-scanner", np.random.default_rng(seed), dpi=DPI, page=page)
        assert set(np.unique(out.image)) <= {0, 255} and out.dpi in (200.0, 300.0) and out.jpeg_quality is None
        assert not out.lost_marks
        modes.add(out.damage[0])
    assert len(modes) >= 2


def test_phone_photo_shows_the_whole_sheet_on_a_darker_table(page4: tuple[np.ndarray, PageLayout]) -> None:
    image, page = page4
    h0, w0 = image.shape
    border = np.array([[x, y] for x in np.linspace(0, w0, 15) for y in (0, h0)]
                      + [[x, y] for y in np.linspace(0, h0, 15) for x in (0, w0)], float)
    surfaces = set()
    for seed in range(6):
        out = degrade(image, "phone-table", np.random.default_rng(seed), dpi=DPI, page=page)
        assert out.image.ndim == 3 and out.image.shape[2] == 3  # a phone writes colour
        h, w = out.image.shape[:2]
        edge = out.map_points(border)
        margin = 0.015 * max(h, w)
        assert (edge[:, 0] > margin).all() and (edge[:, 0] < w - margin).all(), seed  # the whole sheet in frame
        assert (edge[:, 1] > margin).all() and (edge[:, 1] < h - margin).all(), seed
        img = grey(out)
        hull = cv2.convexHull(edge.astype(np.float32)).astype(np.int32)
        inside = np.zeros_like(img)
        cv2.fillPoly(inside, [hull], 255)
        table = img[cv2.erode(255 - inside, np.ones((15, 15), np.uint8)) > 0]
        paper = img[cv2.erode(inside, np.ones((15, 15), np.uint8)) > 0]
        assert np.median(table) < np.median(paper) - 40, seed  # a darker surface round the sheet
        marks = out.map_points(np.array([[m.cx * S, m.cy * S] for m in page.marks]))
        assert (dark_at(img, marks, 1) < 110).all(), seed  # every registration mark where the mapping says
        surfaces.add(out.damage[0])
    assert len(surfaces) >= 2


def test_curled_paper_is_a_smooth_non_linear_warp(page4: tuple[np.ndarray, PageLayout]) -> None:
    image, page = page4
    h0, w0 = image.shape
    grid = np.array([[x, y] for x in np.linspace(0, w0, 9) for y in np.linspace(0, h0, 9)])
    curled = 0
    for seed in range(10):
        out = degrade(image, "phone-table", np.random.default_rng(seed), dpi=DPI, page=page, jpeg=False)
        assert out.warp is not None
        flat = np.c_[grid, np.ones(len(grid))] @ out.transform.T
        flat = flat[:, :2] / flat[:, 2:]
        bend = np.abs(out.map_points(grid) - flat).max()
        if "curl flat" not in " ".join(out.damage):
            curled += 1
            assert bend > 0.5, (seed, out.damage)  # not just a homography
        back = out.warp.unproject(out.map_points(grid))  # type: ignore[attr-defined]
        assert np.abs(back - grid).max() < 0.05  # the inverse used to render it is exact
    assert curled >= 5


def test_phone_jpeg_carries_exif_orientation_and_72_dpi(tmp_path: Path) -> None:
    shown = np.zeros((40, 30, 3), np.uint8)
    shown[:10, :, 0] = 255  # red along the top as shown
    path = tmp_path / "photo.jpg"
    write_jpeg(shown, path, dpi=72, quality=95, orientation=6, camera="samsung SM-A155F")
    with Image.open(path) as im:
        assert im.size == (40, 30)  # stored turned
        exif = im.getexif()
        assert exif[0x0112] == 6 and exif[0x010F] == "samsung" and im.info["dpi"] == (72, 72)
        upright = np.asarray(ImageOps.exif_transpose(im))
    assert upright.shape == shown.shape and upright[:8, :, 0].mean() > 200 and upright[15:, :, 0].mean() < 40
    with pytest.raises(ValueError, match="orientation"):
        write_jpeg(shown, path, orientation=5)


def test_a_crease_is_a_faint_line_across_the_sheet() -> None:
    from phieu.provingground.damage import crease

    page = np.full((1200, 850), 240, np.uint8)
    words = crease(page, np.random.default_rng(3), px_per_mm=S / 3)
    at = float(words.split(" at ")[1].split()[0]) * S / 3  # where it says the fold runs (px)
    darkest = page.min(axis=1) if "across" in words else page.min(axis=0)
    line = int(np.argmin(darkest))
    assert abs(line - at) < 0.03 * page.shape[0]  # there, and across the whole sheet
    assert 180 < darkest.min() < 232 and (page > 180).all()  # faint: a fold, not ink
    assert ((page.min(axis=1) if "across" in words else page.min(axis=0)) > 236).mean() > 0.7
