"""Streaming files larger than memory: the options, and when a command streams.

A command streams its files (reads them chunk by chunk and writes its output band by
band, through :mod:`corr2d.dask`) when asked to with ``--chunks`` or ``--scheduler`` (or
the ``CORR2D_SCHEDULER`` environment variable), when a file is a Zarr array, or when an
input TIFF stored in tiles or strips has more than :data:`STREAM_PIXELS` pixels (for
``filter``: a single input, and a TIFF output).  Everything else runs in memory as
before.  This module does not import Dask: the work is done in :mod:`corr2d.dask.cli`,
imported only to stream.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from corr2d.cli._shared import EXIT_USAGE, fail

__all__ = [
    "STREAM_PIXELS",
    "ChunksOption",
    "SchedulerOption",
    "load",
    "parse_chunks",
    "parse_scheduler",
    "wanted",
]

#: Tiled TIFF inputs with more pixels than this (4096 x 4096) stream by themselves.
STREAM_PIXELS = 2**24

_ADDRESS = re.compile(r"(?:(tcp|tls|inproc|ws|wss|ucx)://)?\[?[\w.\-:]+\]?:\d{1,5}")


def parse_chunks(text: str) -> tuple[int, int] | str:
    """Typer parser for --chunks: ``N``, ``HxW`` or ``'auto'``."""
    if text.strip().lower() == "auto":
        return "auto"
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX,]\s*(\d+))?\s*", text)
    rows = int(match.group(1)) if match else 0
    cols = int(match.group(2)) if match and match.group(2) else rows
    if rows < 1 or cols < 1:
        raise typer.BadParameter(
            f"must be N or HxW in pixels, at least 1 (e.g. 2048 or 1024x4096) or 'auto', "
            f"got {text[:40]!r}"
        )
    return (rows, cols)


def parse_scheduler(text: str) -> str:
    """Typer parser for --scheduler: 'threads', 'synchronous' or a scheduler address."""
    value = text.strip()
    if value in ("threads", "synchronous") or _ADDRESS.fullmatch(value):
        return value
    raise typer.BadParameter(
        "must be 'threads', 'synchronous' or a Dask scheduler's address such as "
        f"tcp://127.0.0.1:8786, got {text[:60]!r}"
    )


ChunksOption = Annotated[
    Any,
    typer.Option(
        "--chunks",
        parser=parse_chunks,
        metavar="N|HxW",
        help="Stream the files through Dask in chunks of this many pixels ('auto': about "
        "2048x2048, in whole tiles). Tiled TIFFs over 4096x4096 and Zarr stream anyway.",
        show_default=False,
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        parser=parse_scheduler,
        envvar="CORR2D_SCHEDULER",
        metavar="ADDRESS",
        help="Stream the files and run the work on this dask.distributed scheduler "
        "(e.g. tcp://127.0.0.1:8786), or 'threads' (default) or 'synchronous' here.",
        show_default=False,
    ),
]


def wanted(inputs: Sequence[Path], output: Path | None, chunks: Any, scheduler: str | None) -> bool:
    """Whether a command on ``inputs`` writing the image ``output`` (None: no image)
    streams its files."""
    if chunks is not None or scheduler is not None:
        return True
    if any(_is_zarr(path) for path in [*inputs, *([output] if output else [])]):
        return True
    if output is None:  # estimate: a pair, either of them large
        return any(_large_segmented_tiff(path) for path in inputs)
    return (
        len(inputs) == 1
        and output.suffix.lower() in (".tif", ".tiff")
        and _large_segmented_tiff(inputs[0])
    )


def load() -> Any:
    """The streaming commands (:mod:`corr2d.dask.cli`), or one line saying what to install."""
    try:
        from corr2d.dask import cli
    except ImportError:
        fail(
            "streaming files (--chunks, --scheduler, Zarr, large tiled TIFF) needs Dask: "
            "pip install 'corr2d[dask]'",
            EXIT_USAGE,
        )
    return cli


def _is_zarr(path: Path) -> bool:
    if path.suffix.lower() == ".zarr":
        return True
    return path.is_dir() and any((path / name).exists() for name in ("zarr.json", ".zarray"))


def _large_segmented_tiff(path: Path) -> bool:
    """A sound TIFF with more than :data:`STREAM_PIXELS` pixels, stored in smaller pieces.

    A damaged one (the decoder complained, or its pieces are not all in the file: a
    few bytes whose header claims billions of pixels) is never streamed: the in-memory
    path refuses it in one line, where streaming would work through the claimed size.
    """
    if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file():
        return False
    try:
        import tifffile

        from corr2d.io.images import decoder_reports

        # a damaged file's complaints are read_image's to report, in one line
        with decoder_reports() as reports, tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            pixels = int(page.imagelength) * int(page.imagewidth)
            if page.is_tiled:
                piece = int(page.tilelength) * int(page.tilewidth)
            else:
                piece = int(page.rowsperstrip) * int(page.imagewidth)
            whole = _pieces_in_file(page, path.stat().st_size)
    except Exception:  # not a TIFF this can read: the in-memory path reports it
        return False
    return pixels > STREAM_PIXELS and piece < pixels and whole and not reports


def _pieces_in_file(page: Any, size: int) -> bool:
    """Whether the page lists every piece its shape needs, each within the file (an
    empty piece, of a sparse file, may be anywhere)."""
    offsets, counts = page.dataoffsets, page.databytecounts
    if len(offsets) != math.prod(page.chunked) or len(counts) != len(offsets):
        return False
    pieces = zip(offsets, counts, strict=True)
    return all(count == 0 or offset + count <= size for offset, count in pieces)
