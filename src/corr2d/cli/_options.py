"""Option types and value parsers shared by the commands."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import typer
from numpy.typing import NDArray

from corr2d.cli._shared import EXIT_INPUT, CLIError
from corr2d.io.errors import KernelFileError
from corr2d.kernel_spec import load_kernel

__all__ = [
    "BOUNDARY_HELP",
    "BOUNDARY_NAMES",
    "Boundary",
    "DtypeOption",
    "ForceOption",
    "KernelOption",
    "MaxPixelsOption",
    "MethodOption",
    "Mode",
    "OriginOption",
    "Pair",
    "SaveKernelOption",
    "ScaleOption",
    "non_negative",
    "parse_kernel_option",
    "parse_origin",
    "parse_size",
    "parse_unit",
    "positive",
]


def parse_kernel_option(spec: str) -> NDArray[np.float64]:
    """Typer parser for --kernel: file, name[:params] or inline rows."""
    try:
        return load_kernel(spec)
    except (KernelFileError, FileNotFoundError) as exc:
        # An input problem (exit 3), not a usage error: raise past click's ValueError net.
        raise CLIError(str(exc), EXIT_INPUT) from exc
    except ValueError as exc:  # the spec itself: a usage error, with its reason
        raise typer.BadParameter(str(exc)) from exc


@dataclass(frozen=True)
class Pair:
    """Two ints parsed from one option value (a kernel size, an input shape, a unit)."""

    first: int
    second: int

    @property
    def pair(self) -> tuple[int, int]:
        return (self.first, self.second)


def parse_size(text: str) -> Pair:
    """Typer parser for --size: ``5x5``, ``3x5`` or ``5``."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX,]\s*(\d+))?\s*", text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a size; write it as HxW, e.g. 5x5 (or 5)")
    rows = int(match.group(1))
    cols = int(match.group(2)) if match.group(2) is not None else rows
    if rows < 1 or cols < 1:
        raise typer.BadParameter(f"{text!r}: sizes must be at least 1x1")
    return Pair(rows, cols)


def parse_unit(text: str) -> Pair:
    """Typer parser for --unit: ``ROW,COL``."""
    match = re.fullmatch(r"\s*(\d+)\s*[,x]\s*(\d+)\s*", text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a unit; write it as ROW,COL, e.g. 0,0")
    return Pair(int(match.group(1)), int(match.group(2)))


def non_negative(value: int | None) -> int | None:
    """Typer callback for seeds and counts: None or an int >= 0."""
    if value is not None and value < 0:
        raise typer.BadParameter(f"must be a non-negative integer, got {value}")
    return value


def positive(value: float) -> float:
    if not (np.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a positive number, got {value}")
    return value


Mode = Literal["full", "valid", "same"]
Boundary = Literal["symm", "reflect", "mirror", "nearest", "fill", "constant", "wrap"]

#: Each ``--boundary`` name and the SciPy face's name for the same rule: SciPy's names,
#: and scipy.ndimage's with ndimage's meanings (see docs/semantics.md).
BOUNDARY_NAMES = {
    "symm": "symm",
    "reflect": "symm",
    "mirror": "mirror",
    "nearest": "nearest",
    "fill": "fill",
    "constant": "fill",
    "wrap": "wrap",
}

BOUNDARY_HELP = (
    "Border rule, by SciPy's or scipy.ndimage's names: [cyan]symm[/cyan] = "
    "[cyan]reflect[/cyan] (b a | a b c d | d c, edge repeated), [cyan]mirror[/cyan] "
    "(OpenCV's reflect101: c b | a b c d | c b), [cyan]nearest[/cyan] (edge pixel "
    "repeated), [cyan]fill[/cyan] = [cyan]constant[/cyan] (--fillvalue), "
    "[cyan]wrap[/cyan] (periodic)."
)


def parse_origin(text: str) -> Pair:
    """Typer parser for --origin: ``R,C`` or one int for both axes, may be negative."""
    match = re.fullmatch(r"\s*([+-]?\d+)\s*(?:,\s*([+-]?\d+))?\s*", text)
    if match is None:
        raise typer.BadParameter(
            f"{text[:40]!r} is not an origin; write it as ROW,COL or N, e.g. -1,0"
        )
    row = int(match.group(1))
    col = int(match.group(2)) if match.group(2) is not None else row
    return Pair(row, col)


OriginOption = Annotated[
    Pair | None,
    typer.Option(
        "--origin",
        parser=parse_origin,
        metavar="R,C|N",
        help="With --mode same: the kernel element over each output pixel, as in "
        "scipy.ndimage (element k//2 + origin; 0 centres odd kernels). Default: "
        "scipy.signal's rule, element (k-1)//2, which is origin -1 for even kernels.",
    ),
]
Method = Literal["auto", "direct", "fft"]
Scale = Literal["auto", "clip", "signed", "abs", "none"]
OutDtype = Literal["input", "uint8", "uint16", "float32", "float64"]

ForceOption = Annotated[bool, typer.Option("--force", "-f", help="Replace existing output files.")]
SaveKernelOption = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="Write the kernel to a .npy, .txt or .csv file."),
]
MaxPixelsOption = Annotated[
    int,
    typer.Option(
        "--max-pixels",
        min=1,
        help="Refuse images with more pixels than this (decompression-bomb guard).",
    ),
]
KernelOption = Annotated[
    NDArray[np.float64],
    typer.Option(
        "--kernel",
        "-k",
        parser=parse_kernel_option,
        metavar="NAME|FILE|ROWS",
        help="A registered kernel with optional parameters ([cyan]sobel-dx[/cyan], "
        "[cyan]gaussian:sigma=2[/cyan]; see [bold]corr2d kernels[/bold]), a .npy/.txt/.csv "
        'file, or inline rows ([cyan]"1,-1;0,2"[/cyan]: rows split by ";").',
    ),
]
ScaleOption = Annotated[
    Scale,
    typer.Option(
        help="How responses become pixels. [cyan]auto[/cyan]: kernels whose weights sum to "
        "s > 0 (blur, sharpen) are divided by s and clipped, as OpenCV saturates; zero-sum "
        "kernels (derivatives) as [cyan]signed[/cyan]. [cyan]clip[/cyan]: clip to the "
        "type's range. [cyan]signed[/cyan]: 0 is mid-grey, the strongest response white or "
        "black. [cyan]abs[/cyan]: magnitude, scaled down only if it does not fit. "
        "[cyan]none[/cyan]: raw values as floats (TIFF output). Table: docs/cli.md.",
    ),
]
DtypeOption = Annotated[
    OutDtype,
    typer.Option(
        "--dtype",
        help="Output pixel type; 'input' keeps the input's. Values move to the new depth "
        "(white is 255, 65535 or 1.0 for floats), except with --scale none.",
    ),
]
MethodOption = Annotated[
    Method, typer.Option(help="Compiled loops ('direct'), FFT, or 'auto' (cost model).")
]
