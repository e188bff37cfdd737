"""The kinds of returned sheets the accuracy benchmark reports separately, and their generation.

A kind is a population of respondents (a mark mix) through one way of scanning (a degradation
profile), written as the files that way produces. The first three are the first proving ground's
profiles; the others are what issue 8 found readers failing on:

| kind | respondents | scanned |
|---|---|---|
| office / fax / phone | ``mixed`` | office scanner PDF / 1-bit fax TIFF / phone photo of the page |
| loops | people who circle (loops round box and code or the code alone, overshooting ticks) | office |
| askew-clipped | everyday returns | 3-4° askew feeds losing corner marks; torn and stapled corners |
| qr-clipped | everyday returns | the QR's quiet zone cut at the edge, any way round |
| phone-table | everyday returns | phone photos of the whole sheet on a table |
| stray-dots | many blank rows with pen rests beside boxes; light pencil | office |
| real-marks | real pen marks cut from real scans (Auto Multiple Choice's) | office |
| bw-scanner | everyday returns in pen | office scanner in black-and-white mode (PDF or TIFF, G4) |

Seeds and real marks come in two disjoint splits: ``tune`` (seeds 1000-8999, one half of the real
mark sources) for looking at failures and adjusting a reader, ``final`` (seeds 9000 and up, the other
half) for the figures that are reported. Generation runs in worker processes, one scan file each.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .bundle import Format, PageRecord, make_bundle
from .realmarks import MarkBank, Split
from .truth import SheetTruth

if TYPE_CHECKING:
    from formgen.render import BuiltForm

SPLIT_SEEDS: dict[str, int] = {"tune": 1000, "final": 9000}
_KIND_STRIDE = 100  # seeds of one kind: base + stride * kind + worker


@dataclass(frozen=True)
class Kind:
    name: str
    profile: str
    mix: str
    formats: tuple[Format, ...]  # scan file formats, one per worker in turn
    what: str
    photo: bool = False  # judged against the photo targets (review <= 5 %), not the scanner ones (2 %)
    real_marks: bool = False  # needs a MarkBank of real pen marks


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("office", "office", "mixed", ("pdf",), "office scanner, everyday marks"),
        Kind("fax", "fax", "mixed", ("tiff",), "fax-like 1-bit TIFF"),
        Kind("phone", "phone", "mixed", ("jpeg",), "phone photo of the page", photo=True),
        Kind("loops", "office", "loops", ("pdf",), "respondents who circle; overshooting ticks"),
        Kind("askew-clipped", "askew-clipped", "returns", ("pdf",), "3-4° feeds losing corner marks; torn, stapled corners"),
        Kind("qr-clipped", "qr-clipped", "returns", ("pdf",), "QR quiet zone cut at the edge, any orientation"),
        Kind("phone-table", "phone-table", "returns", ("jpeg",), "phone photo of the whole sheet on a table", photo=True),
        Kind("stray-dots", "office", "strays", ("pdf",), "pen rests beside boxes on blank rows; light pencil"),
        Kind("real-marks", "office", "real", ("pdf",), "real pen marks cut from real scans", real_marks=True),
        Kind("bw-scanner", "bw-scanner", "returns-pen", ("pdf", "tiff"), "office scanner in black-and-white mode"),
    )
}


def kind_seed(kind: str, split: Split) -> int:
    """The first generator seed of ``kind`` in ``split`` (its workers add their number)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    return SPLIT_SEEDS[split] + _KIND_STRIDE * list(KINDS).index(kind)


def generate(
    built: BuiltForm,
    serials: list[int],
    secret: bytes,
    out: Path,
    *,
    kind: Kind,
    split: Split,
    workers: int,
    bank: MarkBank | None = None,
) -> tuple[list[SheetTruth], list[PageRecord]]:
    """Fill and degrade ``serials`` as ``kind`` in ``split``: (truths in serial order, a record per page)."""
    if kind.real_marks and not bank:
        raise ValueError(f"kind {kind.name} needs real marks (a MarkBank)")
    return bundle_in_parallel(built, serials, secret, out, profile=kind.profile, formats=kind.formats,
                              seed=kind_seed(kind.name, split), workers=workers, name=kind.name, mix=kind.mix,
                              bank=bank)


def bundle_in_parallel(
    built: BuiltForm,
    serials: list[int],
    secret: bytes,
    out: Path,
    *,
    profile: str,
    formats: tuple[Format, ...],
    seed: int,
    workers: int,
    name: str,
    mix: str = "mixed",
    bank: MarkBank | None = None,
) -> tuple[list[SheetTruth], list[PageRecord]]:
    """``make_bundle`` split over ``workers`` processes: one scan file (or file series) per worker,
    ``NAME-k``, worker k seeded ``seed + k`` (one worker: ``NAME``). Returns the truths in the order of
    ``serials`` and a record of every page written."""
    parts = [serials[i::workers] for i in range(workers) if serials[i::workers]]
    names = [f"{name}-{k + 1}" for k in range(len(parts))] if len(parts) > 1 else [name]
    jobs = [(built, part, secret, profile, formats[k % len(formats)], out, names[k], seed + k, mix, bank)
            for k, part in enumerate(parts)]
    if len(jobs) <= 1:
        results = [_bundle_job(*job) for job in jobs]
    else:
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
            results = list(pool.map(_bundle_job, *zip(*jobs, strict=True)))
    found = {t.serial: t for truths, _records in results for t in truths}
    records = [r for _truths, part in results for r in part]
    return [found[s] for s in serials], records


def _bundle_job(built: BuiltForm, serials: list[int], secret: bytes, profile: str, fmt: Format, out: Path,
                name: str, seed: int, mix: str, bank: MarkBank | None) -> tuple[list[SheetTruth], list[PageRecord]]:
    records: list[PageRecord] = []
    truths = make_bundle(built, built.layout, serials, profile=profile, rng=np.random.default_rng(seed), out_dir=out,
                         fmt=fmt, secret=secret, name=name, mix=mix, bank=bank, manifest=records)
    return truths, records
