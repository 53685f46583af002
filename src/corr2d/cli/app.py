"""The ``corr2d`` command line: a thin typer layer over the library.

Each command parses and validates its arguments (in typer types and parsers), calls one
or two library functions, and prints or writes the result.  Every failure the user can
cause ends in one line on stderr, ``corr2d: error: ...``, and an exit code from
:data:`EXIT_CODES`; nothing is written when a command fails.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import numpy as np
import typer
from numpy.typing import NDArray
from typer.core import TyperGroup

from corr2d.io import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    ImageWriteError,
    KernelFileError,
    KernelSpecError,
    load_kernel,
)

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILURE",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_USAGE",
    "CLIError",
    "app",
    "main",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_OUTPUT = 4
EXIT_INTERRUPTED = 130

#: What each exit status means.
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILURE: "the computation failed (the library rejected the arguments)",
    EXIT_USAGE: "usage error: bad option or argument, unknown or malformed kernel",
    EXIT_INPUT: "input problem: missing, unreadable, corrupt, unsupported or too large "
    "image or kernel file; images that do not fit together",
    EXIT_OUTPUT: "output problem: the output exists (no --force), is an input, or cannot "
    "be written in that format or place",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}

_EXIT_HELP = (
    "[bold]Exit codes[/bold]: 0 ok, 1 computation failed, 2 usage error, 3 input problem, "
    "4 output problem, 130 interrupted."
)


class CLIError(Exception):
    """A failure to report as one line with a given exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# ------------------------------------------------------------------ errors, one line each

_CLICK_EXCEPTION: type[Exception] = next(
    cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException"
)


def _one_line(text: str) -> str:
    text = re.sub(r"\bValue error, ", "", str(text))
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _classify(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and message for an exception the user can cause, else None."""
    if isinstance(exc, CLIError):
        return exc.exit_code, str(exc)
    if isinstance(exc, _CLICK_EXCEPTION):
        message = exc.format_message()  # type: ignore[attr-defined]
        ctx = getattr(exc, "ctx", None)
        where = ""
        if ctx is not None and ctx.command_path:
            where = f" (see '{ctx.command_path} --help')"
        if message:
            message = message[0].lower() + message[1:]
        return int(getattr(exc, "exit_code", EXIT_USAGE)), f"{message}{where}"
    if isinstance(exc, KernelSpecError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, ImageReadError, KernelFileError)):
        return EXIT_INPUT, str(exc)
    if isinstance(exc, (FileExistsError, ImageWriteError)):
        return EXIT_OUTPUT, str(exc)
    if isinstance(exc, PermissionError):
        return EXIT_OUTPUT, f"permission denied: {exc.filename or exc}"
    if isinstance(exc, (ValueError, TypeError)):
        return EXIT_FAILURE, str(exc)
    if isinstance(exc, MemoryError):
        return EXIT_FAILURE, "out of memory (try a smaller image or --method fft)"
    return None


def _report(message: str) -> None:
    sys.stderr.write(f"corr2d: error: {_one_line(message)}\n")
    sys.stderr.flush()


class _Corr2dGroup(TyperGroup):
    """The command group, with one-line errors and documented exit codes."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args=args,
                prog_name=prog_name or "corr2d",
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except KeyboardInterrupt:
            _report("interrupted")
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if type(exc).__name__ == "Abort":
                _report("aborted")
                sys.exit(EXIT_FAILURE)
            verdict = _classify(exc)
            if verdict is None:
                raise
            _report(verdict[1])
            sys.exit(verdict[0])
        code = result if isinstance(result, int) else EXIT_OK
        if not standalone_mode:
            return code
        sys.exit(code)


app = typer.Typer(
    name="corr2d",
    cls=_Corr2dGroup,
    help="2-D cross-correlation on real images: filter, find edges, estimate and learn "
    "kernels, receptive fields, and the chapter 'Convolutions for Images' as a demo.",
    epilog=_EXIT_HELP,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from corr2d import __version__

        typer.echo(f"corr2d {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """2-D cross-correlation on real images.

    Filter images with named, file or inline kernels, find edges, recover the kernel
    that maps one image to another (solved or learned), compute receptive fields, and
    replay the chapter "Convolutions for Images" with [bold]corr2d demo[/bold].
    """
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(EXIT_OK)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the console script ``corr2d`` calls this.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status (see :data:`EXIT_CODES`); the process exits with it.
    """
    command = typer.main.get_command(app)
    code = command.main(
        args=list(argv) if argv is not None else None, prog_name="corr2d", standalone_mode=False
    )
    code = int(code) if isinstance(code, int) else EXIT_OK
    if argv is None:
        sys.exit(code)
    return code


# ------------------------------------------------------------------ shared parsing helpers


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _parse_kernel(spec: str) -> NDArray[np.float64]:
    """Typer parser for --kernel: file, name[:params] or inline rows."""
    try:
        return load_kernel(spec)
    except (KernelFileError, FileNotFoundError) as exc:
        # An input problem (exit 3), not a usage error: raise past click's ValueError net.
        raise CLIError(str(exc), EXIT_INPUT) from exc


@dataclass(frozen=True)
class _Pair:
    """Two ints parsed from one option value (a kernel size, an input shape, a unit)."""

    first: int
    second: int

    @property
    def pair(self) -> tuple[int, int]:
        return (self.first, self.second)


def _parse_size(text: str) -> _Pair:
    """Typer parser for --size: ``5x5``, ``3x5`` or ``5``."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX,]\s*(\d+))?\s*", text)
    if match is None:
        raise ValueError(f"{text!r} is not a size; write it as HxW, e.g. 5x5 (or 5)")
    rows = int(match.group(1))
    cols = int(match.group(2)) if match.group(2) is not None else rows
    if rows < 1 or cols < 1:
        raise ValueError(f"{text!r}: sizes must be at least 1x1")
    return _Pair(rows, cols)


def _parse_unit(text: str) -> _Pair:
    """Typer parser for --unit: ``ROW,COL``."""
    match = re.fullmatch(r"\s*(\d+)\s*[,x]\s*(\d+)\s*", text)
    if match is None:
        raise ValueError(f"{text!r} is not a unit; write it as ROW,COL, e.g. 0,0")
    return _Pair(int(match.group(1)), int(match.group(2)))


def _positive(value: float) -> float:
    if not (np.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a positive number, got {value}")
    return value


def _fail(message: str, code: int) -> NoReturn:
    raise CLIError(message, code)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        return False
    return a.resolve() == b.resolve()


def _check_output(output: Path, inputs: Sequence[Path], force: bool) -> None:
    """Refuse to write onto an input (ever) or onto an existing file (without --force)."""
    for source in inputs:
        if _same_file(output, source):
            _fail(f"{output}: is an input; refusing to overwrite an input file", EXIT_OUTPUT)
    if output.exists() and not force:
        _fail(f"{output}: already exists (use --force to replace it)", EXIT_OUTPUT)
    if output.exists() and output.is_dir():
        _fail(f"{output}: is a folder; give a file name", EXIT_OUTPUT)


def _check_inputs(inputs: Sequence[Path]) -> None:
    for source in inputs:
        if not source.exists():
            _fail(f"{source}: no such file", EXIT_INPUT)
        if source.is_dir():
            _fail(f"{source}: is a folder, not an image file", EXIT_INPUT)


def _plot_folder(folder: Path | None) -> Path | None:
    if folder is None:
        return None
    if folder.exists() and not folder.is_dir():
        _fail(f"{folder}: --plot needs a folder, and this is a file", EXIT_OUTPUT)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"{folder}: cannot create the folder ({exc.strerror or exc})", EXIT_OUTPUT)
    return folder


def _check_new_files(paths: Sequence[Path], force: bool) -> None:
    if force:
        return
    for path in paths:
        if path.exists():
            _fail(f"{path}: already exists (use --force to replace it)", EXIT_OUTPUT)


def _output_dtype(image: NDArray[Any], requested: str, scale: str) -> np.dtype:
    if requested != "input":
        chosen = np.dtype(requested)
    elif image.dtype.kind == "f":
        chosen = np.dtype(np.float64 if image.dtype == np.float64 else np.float32)
    else:
        chosen = (
            np.dtype(image.dtype) if image.dtype in (np.uint8, np.uint16) else np.dtype(np.uint16)
        )
    if scale == "none" and chosen.kind != "f":
        chosen = np.dtype(np.float32)
    return chosen


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in shape)


def _matrix_table(array: NDArray[Any], title: str | None = None, precision: int = 4) -> Any:
    from rich.table import Table

    table = Table(
        title=title,
        box=None,
        show_header=False,
        pad_edge=False,
        title_justify="left",
    )
    values = np.asarray(array, dtype=np.float64)
    # Round-off far below the kernel's scale (1e-15 where 0 is meant) is shown as 0.
    peak = float(np.abs(values).max()) if values.size else 0.0
    values = np.where(np.abs(values) < 1e-12 * max(peak, 1.0), 0.0, values)
    for _ in range(values.shape[1]):
        table.add_column(justify="right")
    for row in values:
        table.add_row(*(_number(v, precision) for v in row))
    return table


def _number(value: float, precision: int) -> str:
    if float(value).is_integer() and abs(value) < 1e9:
        return f"{int(value)}"
    return f"{value:.{precision}g}"


# ------------------------------------------------------------------ option types

Mode = Literal["full", "valid", "same"]
Boundary = Literal["fill", "wrap", "symm"]
Method = Literal["auto", "direct", "fft"]
Scale = Literal["auto", "clip", "abs", "none"]
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
        parser=_parse_kernel,
        metavar="NAME|FILE|ROWS",
        help="A registered kernel with optional parameters ([cyan]sobel-dx[/cyan], "
        "[cyan]gaussian:sigma=2[/cyan]; see [bold]corr2d kernels[/bold]), a .npy/.txt/.csv "
        'file, or inline rows ([cyan]"1,-1;0,2"[/cyan]: rows split by ";").',
    ),
]
ScaleOption = Annotated[
    Scale,
    typer.Option(
        help="How responses become pixels. [cyan]auto[/cyan]: non-negative results kept "
        "if they fit the output type, else scaled so the maximum is white; signed results "
        "(kernel with negative weights) mapped around mid-grey, 0 -> 128 (8-bit). "
        "[cyan]clip[/cyan]: round and clip to the type's range. [cyan]abs[/cyan]: "
        "magnitude, then as auto. [cyan]none[/cyan]: raw float32 values (TIFF output).",
    ),
]
DtypeOption = Annotated[
    OutDtype,
    typer.Option("--dtype", help="Output pixel type; 'input' keeps the input's."),
]
MethodOption = Annotated[
    Method, typer.Option(help="Compiled loops ('direct'), FFT, or 'auto' (cost model).")
]


# ------------------------------------------------------------------ filter


def _write_pixels(
    path: Path,
    response: NDArray[Any],
    image: NDArray[Any],
    scale: str,
    dtype: str,
    signed: bool,
    force: bool,
) -> np.dtype:
    from corr2d.io import to_image_dtype, write_image

    target = _output_dtype(image, dtype, scale)
    pixels = to_image_dtype(response, target, scale, signed=signed)  # type: ignore[arg-type]
    write_image(path, pixels, overwrite=force)
    return target


def _tiff_name(path: Path) -> Path:
    return path if path.suffix.lower() in (".tif", ".tiff") else path.with_suffix(".tif")


@app.command(
    "filter",
    epilog="[bold]Examples[/bold]\n\n"
    "  corr2d filter photo.png edges.png --kernel sobel-dx\n\n"
    "  corr2d filter photo.png blur.png --kernel gaussian:sigma=2 --boundary symm\n\n"
    '  corr2d filter scan.tif diff.tif --kernel "1,-1" --scale none\n\n'
    "  corr2d filter a.png b.jpg c.tif out/ --kernel my_kernel.npy\n\n" + _EXIT_HELP,
)
def filter_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="INPUT... OUTPUT",
            help="Input images (PNG, JPEG, TIFF), then the output file, or a folder when "
            "there are several inputs.",
            show_default=False,
        ),
    ],
    kernel: KernelOption,
    mode: Annotated[
        Mode, typer.Option(help="Output size: 'same' as the input, 'valid' or 'full'.")
    ] = "same",
    boundary: Annotated[
        Boundary,
        typer.Option(help="Border rule: 'symm' mirror, 'fill' with --fillvalue, 'wrap'."),
    ] = "symm",
    fillvalue: Annotated[float, typer.Option(help="The value outside for 'fill'.")] = 0.0,
    convolve: Annotated[
        bool, typer.Option("--convolve", help="Convolve (flip the kernel) instead of correlate.")
    ] = False,
    method: MethodOption = "auto",
    scale: ScaleOption = "auto",
    dtype: DtypeOption = "input",
    plot: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE.png",
            help="Also draw input, kernel and output side by side (single input only).",
        ),
    ] = None,
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
) -> None:
    """Filter images with a kernel: 2-D cross-correlation, channel by channel.

    Colour images are filtered per channel (an alpha channel is dropped); 8-bit, 16-bit
    and floating-point images keep their type unless [bold]--dtype[/bold] says otherwise.
    """
    from corr2d.io import filter_image, read_image

    if len(paths) < 2:
        _fail("filter needs at least one INPUT and an OUTPUT", EXIT_USAGE)
    inputs, output = paths[:-1], paths[-1]
    _check_inputs(inputs)
    folder_mode = len(inputs) > 1 or output.is_dir() or str(output).endswith(("/", "\\"))
    if plot is not None and folder_mode:
        _fail("--plot draws one input; give a single INPUT and an OUTPUT file", EXIT_USAGE)
    if folder_mode:
        if output.exists() and not output.is_dir():
            _fail(f"{output}: several inputs need an output folder, and this is a file", EXIT_USAGE)
        targets = [output / source.name for source in inputs]
        if scale == "none" or dtype in ("float32", "float64"):
            targets = [_tiff_name(target) for target in targets]
        names = [target.name for target in targets]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            _fail(
                f"several inputs would be written to the same file: {', '.join(duplicates)}",
                EXIT_OUTPUT,
            )
    else:
        targets = [output]
        if (scale == "none" or dtype in ("float32", "float64")) and output.suffix.lower() not in (
            ".tif",
            ".tiff",
        ):
            _fail(
                f"{output}: floating-point output (--scale none or --dtype float) needs a "
                ".tif or .tiff file",
                EXIT_USAGE,
            )
    for target in targets:
        _check_output(target, inputs, force)
    if plot is not None:
        _check_output(plot, inputs, force)
    if folder_mode:
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _fail(f"{output}: cannot create the folder ({exc.strerror or exc})", EXIT_OUTPUT)

    signed = bool((kernel < 0).any())
    console = _console()

    def run_one(source: Path, target: Path) -> str:
        image = read_image(source, max_pixels=max_pixels)
        response = filter_image(
            image, kernel, mode, boundary, fillvalue, convolve=convolve, method=method
        )
        written = _write_pixels(target, response, image, scale, dtype, signed, force)
        if plot is not None:
            from corr2d.plot import plot_filter

            plot_filter(image, kernel, response, plot, overwrite=force)
        return f"{source} -> {target} ({_shape_text(response.shape)}, {written}, scale {scale})"

    if len(inputs) == 1:
        console.print(run_one(inputs[0], targets[0]), markup=False)
        if plot is not None:
            console.print(f"figure: {plot}", markup=False)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("filter"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=_console(stderr=True),
    ) as progress:
        task = progress.add_task("", total=len(inputs))
        for source, target in zip(inputs, targets, strict=True):
            progress.update(task, description=source.name)
            line = run_one(source, target)
            progress.console.print(line, markup=False)
            progress.advance(task)


# ------------------------------------------------------------------ edges


@app.command(
    "edges",
    epilog="[bold]Examples[/bold]\n\n"
    "  corr2d edges photo.png magnitude.png\n\n"
    "  corr2d edges photo.png dx.png --operator scharr --axis x\n\n"
    "  corr2d edges scan.tif magnitude.tif --scale none\n\n" + _EXIT_HELP,
)
def edges_command(
    input: Annotated[Path, typer.Argument(metavar="INPUT", help="The image.", show_default=False)],
    output: Annotated[
        Path, typer.Argument(metavar="OUTPUT", help="The output image.", show_default=False)
    ],
    operator: Annotated[
        Literal["sobel", "scharr", "prewitt", "finite"],
        typer.Option(help="Derivative kernels; 'finite' is central differences."),
    ] = "sobel",
    axis: Annotated[
        Literal["x", "y"] | None,
        typer.Option(
            help="One signed derivative: 'x' along columns (edges running up-down), 'y' "
            "along rows.  Default: the gradient magnitude."
        ),
    ] = None,
    boundary: Annotated[Boundary, typer.Option(help="Border rule.")] = "symm",
    method: MethodOption = "auto",
    scale: ScaleOption = "auto",
    dtype: DtypeOption = "input",
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
) -> None:
    """Edges: the gradient magnitude sqrt(dx^2 + dy^2), or one derivative with --axis.

    With [bold]--scale auto[/bold] the magnitude is scaled so the strongest edge is white,
    and a single derivative is drawn around mid-grey (0 is grey).
    """
    from corr2d.io import gradient_image, read_image

    _check_inputs([input])
    if (scale == "none" or dtype in ("float32", "float64")) and output.suffix.lower() not in (
        ".tif",
        ".tiff",
    ):
        _fail(
            f"{output}: floating-point output (--scale none or --dtype float) needs a .tif "
            "or .tiff file",
            EXIT_USAGE,
        )
    _check_output(output, [input], force)
    image = read_image(input, max_pixels=max_pixels)
    response = gradient_image(image, operator, axis, boundary, method=method)
    written = _write_pixels(output, response, image, scale, dtype, axis is not None, force)
    what = "gradient magnitude" if axis is None else f"d/d{axis}"
    _console().print(
        f"{input} -> {output} ({operator} {what}, {_shape_text(response.shape)}, {written})",
        markup=False,
    )


# ------------------------------------------------------------------ estimate


def _read_pair(x_path: Path, y_path: Path, max_pixels: int) -> tuple[NDArray[Any], NDArray[Any]]:
    from corr2d.io import read_image

    _check_inputs([x_path, y_path])
    X = read_image(x_path, max_pixels=max_pixels)
    Y = read_image(y_path, max_pixels=max_pixels)
    x_channels = 1 if X.ndim == 2 else X.shape[2]
    y_channels = 1 if Y.ndim == 2 else Y.shape[2]
    if x_channels != y_channels:
        _fail(
            f"{x_path} has {x_channels} channel(s) but {y_path} has {y_channels}; give "
            "two grey or two colour images",
            EXIT_INPUT,
        )
    return X, Y


def _channels(image: NDArray[Any]) -> list[NDArray[np.float64]]:
    from corr2d.io import to_float

    if image.ndim == 2:
        return [to_float(image)]
    return [to_float(image[..., c]) for c in range(image.shape[2])]


def _relation(
    x_shape: tuple[int, ...], y_shape: tuple[int, ...], size: tuple[int, int], mode: str
) -> str:
    """The mode relating X's and Y's sizes, checked (or inferred for 'auto')."""
    kh, kw = size
    h, w = x_shape[:2]
    expected = {
        "valid": (h - kh + 1, w - kw + 1),
        "same": (h, w),
        "circular": (h, w),
        "full": (h + kh - 1, w + kw - 1),
    }
    y = tuple(y_shape[:2])
    if mode == "auto":
        for candidate in ("same", "valid", "full"):
            if expected[candidate] == y:
                return candidate
        _fail(
            f"the images do not fit together: X is {h}x{w} and Y is {y[0]}x{y[1]}, but with a "
            f"{kh}x{kw} kernel Y must be {h}x{w} (same), {_shape_text(expected['valid'])} "
            f"(valid) or {_shape_text(expected['full'])} (full)",
            EXIT_INPUT,
        )
    if expected[mode] != y:
        _fail(
            f"the images do not fit together: X is {h}x{w} and Y is {y[0]}x{y[1]}, but "
            f"--mode {mode} with a {kh}x{kw} kernel needs Y of "
            f"{_shape_text(expected[mode])}",
            EXIT_INPUT,
        )
    return mode


def _prediction(
    x: NDArray[Any], kernel: NDArray[Any], bias: float, mode: str, convolution: bool
) -> NDArray[Any]:
    from corr2d import correlate2d

    k = kernel[::-1, ::-1] if convolution else kernel
    if mode == "circular":
        kh, kw = k.shape
        wrapped = np.pad(x, ((0, kh - 1), (0, kw - 1)), mode="wrap")
        out = correlate2d(wrapped, k, "valid")
    else:
        out = correlate2d(x, k, mode)  # type: ignore[arg-type]
    return out + bias


def _emit_warnings(caught: Sequence[warnings.WarningMessage]) -> None:
    for item in caught:
        sys.stderr.write(f"corr2d: warning: {_one_line(str(item.message))}\n")


def _save_kernel(
    path: Path | None, kernel: NDArray[Any], inputs: Sequence[Path], force: bool
) -> None:
    if path is None:
        return
    from corr2d.io import write_kernel

    write_kernel(path, kernel, overwrite=force)


@app.command(
    "estimate",
    epilog="[bold]Examples[/bold]\n\n"
    "  corr2d estimate X.png Y.tif --size 3x3\n\n"
    "  corr2d estimate X.png Y.png --size 5x5 --method ridge --bias --save K.npy --plot figs/\n\n"
    + _EXIT_HELP,
)
def estimate_command(
    x_path: Annotated[
        Path, typer.Argument(metavar="X", help="The input image.", show_default=False)
    ],
    y_path: Annotated[
        Path, typer.Argument(metavar="Y", help="The filtered image.", show_default=False)
    ],
    size_option: Annotated[
        _Pair,
        typer.Option(
            "--size", "-s", parser=_parse_size, metavar="HxW", help="Kernel size, e.g. 5x5 or 3x7."
        ),
    ],
    method: Annotated[
        Literal["lstsq", "ridge", "fft", "gd"],
        typer.Option(
            help="Least squares, ridge, Fourier division (needs --mode circular), "
            "or gradient descent."
        ),
    ] = "lstsq",
    mode: Annotated[
        Literal["auto", "valid", "same", "full", "circular"],
        typer.Option(
            help="How Y's size relates to X's; 'auto' infers same/valid/full from the sizes."
        ),
    ] = "auto",
    bias: Annotated[bool, typer.Option("--bias", help="Also estimate a constant offset.")] = False,
    alpha: Annotated[
        float | None, typer.Option(min=0.0, help="Regularisation of ridge and fft.")
    ] = None,
    convolve: Annotated[
        bool, typer.Option("--convolve", help="Y was made by convolution, not correlation.")
    ] = False,
    save: SaveKernelOption = None,
    plot: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Draw the kernel and the residual image here."),
    ] = None,
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
) -> None:
    """Recover the kernel K with Y = correlate(X, K) (+ bias) from two images.

    Pixel values are used as stored (no rescaling), so X and Y should share a scale:
    for an exact answer store Y as float TIFF ([bold]corr2d filter --scale none[/bold]).
    Colour images give one equation set per channel, solved together.
    """
    from corr2d import estimate_kernel

    size = size_option.pair
    X, Y = _read_pair(x_path, y_path, max_pixels)
    relation = _relation(X.shape, Y.shape, size, mode)
    if method == "fft" and mode == "auto" and relation == "same":
        relation = "circular"  # Fourier division models the image as periodic
    figure = None
    folder = None
    if save is not None:
        _check_output(save, [x_path, y_path], force)
    if plot is not None:
        figure = plot / "estimate.png"
        if not force and figure.exists():
            _fail(f"{figure}: already exists (use --force to replace it)", EXIT_OUTPUT)
    xs, ys = _channels(X), _channels(Y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = estimate_kernel(
            xs if len(xs) > 1 else xs[0],
            ys if len(ys) > 1 else ys[0],
            size,
            bias=bias,
            method=method,
            alpha=alpha,
            mode=relation,  # type: ignore[arg-type]
            convolution=convolve,
        )
    _emit_warnings(caught)

    from rich.table import Table

    console = _console()
    console.print(_matrix_table(result.kernel, title=f"kernel {_shape_text(size)}", precision=6))
    facts = Table(box=None, show_header=False, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row(
        "method", f"{result.method} (Y from X: {relation}{', convolution' if convolve else ''})"
    )
    facts.add_row("bias", "none" if result.bias is None else f"{result.bias:.6g}")
    facts.add_row("residual (RMS)", f"{result.residual:.3e}")
    facts.add_row("rank", f"{result.rank} of {result.n_unknowns} unknowns")
    facts.add_row("condition number", f"{result.condition_number:.3e}")
    facts.add_row(
        "identifiable",
        "yes"
        if result.identifiable
        else f"NO: {result.n_unknowns - result.rank} combination(s) undetermined",
    )
    console.print(facts)
    _save_kernel(save, result.kernel, [x_path, y_path], force)
    if save is not None:
        console.print(f"kernel: {save}", markup=False)
    if plot is not None and figure is not None:
        from corr2d.plot import plot_kernel_estimate

        folder = _plot_folder(plot)
        assert folder is not None
        residual = np.stack(
            [
                y - _prediction(x, result.kernel, result.bias or 0.0, relation, convolve)
                for x, y in zip(xs, ys, strict=True)
            ],
            axis=-1,
        ).mean(axis=-1)
        plot_kernel_estimate(
            result.kernel,
            residual,
            figure,
            overwrite=force,
            title=f"{x_path.name} -> {y_path.name}",
        )
        console.print(f"figure: {figure}", markup=False)


# ------------------------------------------------------------------ learn


@app.command(
    "learn",
    epilog="[bold]Examples[/bold]\n\n"
    "  corr2d learn X.png Y.tif --size 3x3\n\n"
    "  corr2d learn X.png Y.png --size 1x2 --steps 50 --optimizer sgd --lr 0.03 --plot figs/\n\n"
    + _EXIT_HELP,
)
def learn_command(
    x_path: Annotated[
        Path, typer.Argument(metavar="X", help="The input image.", show_default=False)
    ],
    y_path: Annotated[
        Path, typer.Argument(metavar="Y", help="The target image.", show_default=False)
    ],
    size_option: Annotated[
        _Pair,
        typer.Option("--size", "-s", parser=_parse_size, metavar="HxW", help="Kernel size."),
    ],
    steps: Annotated[int, typer.Option(min=1, help="Training steps.")] = 300,
    lr: Annotated[float, typer.Option(callback=_positive, help="Learning rate.")] = 0.05,
    optimizer: Annotated[Literal["sgd", "adam"], typer.Option(help="The optimiser.")] = "adam",
    loss: Annotated[
        Literal["mean_squared", "squared"],
        typer.Option(help="Mean squared error, or the chapter's summed squared error."),
    ] = "mean_squared",
    bias: Annotated[bool, typer.Option("--bias/--no-bias", help="Learn a bias too.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the initial kernel.")] = 0,
    save: SaveKernelOption = None,
    plot: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Draw the loss curve and the kernel here."),
    ] = None,
    force: ForceOption = False,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
) -> None:
    """Learn the kernel mapping X to Y by training a Conv2D layer, as the chapter does.

    Y must be the size of X ('same' padding) or smaller by the kernel ('valid').  Both
    images are divided by the same factor (the largest value of X's type) for training,
    which leaves the kernel unchanged; the bias is reported in the images' units.
    """
    from corr2d import Conv2D, fit

    size = size_option.pair
    X, Y = _read_pair(x_path, y_path, max_pixels)
    relation = _relation(X.shape, Y.shape, size, "auto")
    if relation == "full":
        _fail("learn needs Y of X's size ('same') or smaller by the kernel ('valid')", EXIT_INPUT)
    if save is not None:
        _check_output(save, [x_path, y_path], force)
    figures: list[Path] = []
    if plot is not None:
        figures = [plot / "learn_loss.png", plot / "learn_kernel.png"]
        _check_new_files(figures, force)
    factor = float(np.iinfo(X.dtype).max) if X.dtype.kind in "ui" else 1.0
    xs = [x / factor for x in _channels(X)]
    ys = [y / factor for y in _channels(Y)]
    layer = Conv2D(size, bias=bias, padding="same" if relation == "same" else 0, rng=seed)
    console = _console()
    console.print(
        f"training Conv2D({_shape_text(size)}, bias={bias}, padding={relation!r}) with "
        f"{optimizer}, lr {lr:g}, {steps} steps, {loss} loss",
        markup=False,
    )
    every = max(1, steps // 10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(
            layer,
            xs if len(xs) > 1 else xs[0],
            ys if len(ys) > 1 else ys[0],
            steps=steps,
            lr=lr,
            optimizer=optimizer,
            loss=loss,
            log_every=every,
            progress=True,
            print_fn=lambda line: console.print(line, markup=False),
        )
    _emit_warnings(caught)
    kernel = layer.weight.data.reshape(size)
    console.print(_matrix_table(kernel, title=f"learned kernel {_shape_text(size)}", precision=6))
    if layer.bias is not None:
        console.print(f"bias: {float(layer.bias.data[0]) * factor:.6g}", markup=False)
    console.print(
        f"loss: {history.loss[0]:.4g} -> {history.loss[-1]:.4g} after {history.steps} steps",
        markup=False,
    )
    if save is not None:
        _save_kernel(save, kernel, [x_path, y_path], force)
        console.print(f"kernel: {save}", markup=False)
    if plot is not None:
        from corr2d.plot import plot_kernel_estimate, plot_loss

        _plot_folder(plot)
        plot_loss(
            history.loss,
            figures[0],
            title=f"learning a {_shape_text(size)} kernel",
            ylabel=f"{loss.replace('_', ' ')} loss",
            overwrite=force,
        )
        offset = float(layer.bias.data[0]) * factor if layer.bias is not None else 0.0
        residual = np.mean(
            [
                (y - _prediction(x, kernel, offset / factor, relation, False)) * factor
                for x, y in zip(xs, ys, strict=True)
            ],
            axis=0,
        )
        plot_kernel_estimate(
            kernel,
            residual,
            figures[1],
            overwrite=force,
            titles=("learned kernel", "residual Y - K*X"),
        )
        for figure in figures:
            console.print(f"figure: {figure}", markup=False)


# ------------------------------------------------------------------ rf


@app.command(
    "rf",
    epilog="[bold]Examples[/bold]\n\n"
    "  corr2d rf 2x2 2x2\n\n"
    "  corr2d rf 7x7/s2/p3 pool3x3/s2/p1 3x3 3x3 --input 224\n\n"
    "  corr2d rf 3x3 3x3/d2 3x3/d4 --input 32 --plot rf.png\n\n"
    "Layers are [bold][conv|pool]KxK[/bold] with optional [bold]/sS[/bold] stride, "
    "[bold]/pP[/bold] padding (or psame, pvalid) and [bold]/dD[/bold] dilation.\n\n" + _EXIT_HELP,
)
def rf_command(
    layers: Annotated[
        list[str],
        typer.Argument(
            metavar="LAYER...", help="The layers, first to last, e.g. 3x3/s2.", show_default=False
        ),
    ],
    input_option: Annotated[
        _Pair | None,
        typer.Option(
            "--input",
            "-i",
            parser=_parse_size,
            metavar="N|HxW",
            help="Input size: adds each layer's output size.",
        ),
    ] = None,
    unit_option: Annotated[
        _Pair | None,
        typer.Option(
            "--unit",
            parser=_parse_unit,
            metavar="ROW,COL",
            help="The output unit to locate and draw (default: the centre one).",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE.png", help="Draw the unit's receptive field over the input grid."
        ),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Receptive field of a stack of layers: size, jump and centre after each layer."""
    from rich import box
    from rich.table import Table

    from corr2d import empirical_receptive_field, parse_layer, receptive_field

    input_shape = input_option.pair if input_option is not None else None
    unit = unit_option.pair if unit_option is not None else None
    specs = []
    for index, text in enumerate(layers):
        try:
            specs.append(parse_layer(text))
        except ValueError as exc:
            _fail(f"layer {index + 1} ({text!r}): {exc}", EXIT_USAGE)
    if plot is not None:
        _check_output(plot, [], force)
    field = receptive_field(specs, input_shape)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("layer", "output", "jump", "size", "start"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for row in field.rows:
        table.add_row(
            row.layer,
            "-" if row.output_shape is None else _shape_text(row.output_shape),
            _shape_text(row.jump),
            _shape_text(row.size),
            ", ".join(f"{v:g}" for v in row.start),
        )
    console = _console()
    console.print(table)
    rows, cols = field.size
    console.print(
        f"receptive field: {rows}x{cols} input pixels; jump {_shape_text(field.jump)}", markup=False
    )
    out_shape = field.output_shape
    if unit is None:
        unit = (out_shape[0] // 2, out_shape[1] // 2) if out_shape is not None else (0, 0)
    if out_shape is not None and (unit[0] >= out_shape[0] or unit[1] >= out_shape[1]):
        _fail(
            f"--unit {unit[0]},{unit[1]} is outside the output ({_shape_text(out_shape)})",
            EXIT_USAGE,
        )
    window = field.to_input(*unit)
    console.print(
        f"unit ({unit[0]}, {unit[1]}) sees rows {window.rows[0]}..{window.rows[1] - 1}, "
        f"columns {window.cols[0]}..{window.cols[1] - 1}, centred on "
        f"({window.center[0]:g}, {window.center[1]:g})",
        markup=False,
    )
    if plot is not None:
        from corr2d.plot import plot_receptive_field

        grid = input_shape or (max(window.rows[1], 1), max(window.cols[1], 1))
        mask = None
        if input_shape is not None:
            mask = empirical_receptive_field(specs, input_shape, unit)
        plot_receptive_field(
            grid,
            (window.rows, window.cols),
            plot,
            mask=mask,
            title=f"unit ({unit[0]}, {unit[1]}) of {' -> '.join(layers)}",
            overwrite=force,
        )
        console.print(f"figure: {plot}", markup=False)


# ------------------------------------------------------------------ kernels


@app.command(
    "kernels",
    epilog="[bold]Examples[/bold]\n\n"
    "  corr2d kernels\n\n"
    "  corr2d kernels sobel-dx\n\n"
    "  corr2d kernels gaussian:sigma=0.8\n\n" + _EXIT_HELP,
)
def kernels_command(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="[NAME[:PARAMS]]", help="Show one kernel, with parameters, e.g. box:size=5."
        ),
    ] = None,
) -> None:
    """List the named kernels with their matrices, or show one."""
    from corr2d import kernels

    console = _console()
    if name is not None:
        base, _, params = name.partition(":")
        try:
            text = kernels.describe(base)
        except ValueError:
            text = base
        try:
            matrix = load_kernel(name)
        except KernelSpecError:
            if params or text == base:
                raise
            console.print(text, markup=False)
            console.print(
                f"  (needs parameters: e.g. corr2d kernels '{base}:key=value')", markup=False
            )
            return
        console.print(text, markup=False)
        console.print(_matrix_table(matrix, precision=6))
        return
    for entry in kernels.names():
        console.print(kernels.describe(entry), markup=False, style="bold")
        try:
            matrix = kernels.get(entry)
        except (TypeError, ValueError):
            console.print("  (needs parameters; see the line above)", markup=False)
            continue
        if max(matrix.shape) <= 5:
            console.print(_matrix_table(matrix))
        else:
            console.print(
                f"  {_shape_text(matrix.shape)} with the default parameters", markup=False
            )


# ------------------------------------------------------------------ demo


@app.command(
    "demo",
    epilog="[bold]Examples[/bold]\n\n"
    "  corr2d demo\n\n"
    "  corr2d demo --seed 1 --plot figures/\n\n" + _EXIT_HELP,
)
def demo_command(
    seed: Annotated[
        int | None,
        typer.Option(
            help="Draw the initial kernel with this seed (default: the chapter's "
            "own start, which reproduces its printed losses)."
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Write the demo's four figures into this folder."),
    ] = None,
    force: ForceOption = False,
) -> None:
    """The chapter "Convolutions for Images", end to end.

    The 3x3 example ([[19, 25], [37, 43]]), the 6x8 edge image and its edges, the
    transposed image, learning the 1x2 kernel back, convolution as correlation with the
    flipped kernel, and the receptive field of two stacked 2x2 layers.
    """
    from corr2d.cli.demo import FIGURES, chapter_demo, print_demo, write_demo_figures

    if plot is not None:
        if plot.exists() and not plot.is_dir():
            _fail(f"{plot}: --plot needs a folder, and this is a file", EXIT_OUTPUT)
        _check_new_files([plot / name for name in FIGURES], force)
    demo = chapter_demo(seed)
    console = _console()
    print_demo(demo, console)
    if plot is not None:
        folder = _plot_folder(plot)
        assert folder is not None
        console.print()
        for path in write_demo_figures(demo, folder, overwrite=force):
            console.print(f"figure: {path}", markup=False)


# ------------------------------------------------------------------ bench


@app.command(
    "bench",
    epilog="[bold]Examples[/bold]\n\n"
    "  corr2d bench --quick\n\n"
    "  corr2d bench --sizes 256,1024 --kernels 3,9,31 --dtype float32\n\n" + _EXIT_HELP,
)
def bench_command(
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes, few repeats.")] = False,
    sizes: Annotated[
        str | None, typer.Option(metavar="N,N,...", help="Image sizes (square).")
    ] = None,
    kernel_sizes: Annotated[
        str | None, typer.Option("--kernels", metavar="K,K,...", help="Kernel sizes (square).")
    ] = None,
    dtype: Annotated[Literal["float32", "float64"], typer.Option(help="Data type.")] = "float64",
    repeat: Annotated[int | None, typer.Option(min=1, help="Timed runs per case.")] = None,
) -> None:
    """Time corr2d's 'same' correlation against the installed peers.

    Peers, when importable: scipy.signal.correlate2d, scipy.ndimage.correlate,
    scipy.signal.fftconvolve, cv2.filter2D and torch's conv2d.  Prints the median time
    of each and its ratio to corr2d (above 1: corr2d is faster).
    """
    from corr2d.cli.bench import run_benchmark

    def numbers(text: str | None, default: tuple[int, ...], option: str) -> tuple[int, ...]:
        if text is None:
            return default
        try:
            values = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            _fail(f"{option} must be comma-separated integers, got {text!r}", EXIT_USAGE)
        if not values or min(values) < 1:
            _fail(f"{option} must be positive integers, got {text!r}", EXIT_USAGE)
        return values

    image_sizes = numbers(sizes, (128, 256) if quick else (256, 512, 1024), "--sizes")
    kernels_ = numbers(kernel_sizes, (3, 9) if quick else (3, 7, 15, 31), "--kernels")
    runs = repeat if repeat is not None else (3 if quick else 7)
    console = _console()
    rows = run_benchmark(
        image_sizes,
        kernels_,
        dtype=dtype,
        repeat=runs,
        quick=quick,
        progress_console=_console(stderr=True),
    )
    from rich import box
    from rich.table import Table

    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title=f"median of {runs} runs, {dtype}, mode 'same'; ratio = its time / "
        "corr2d's (above 1: corr2d is faster)",
        title_justify="left",
    )
    for column in ("image", "kernel", "implementation", "median", "ratio"):
        table.add_column(column, justify="left" if column == "implementation" else "right")
    for row in rows:
        base = row.times["corr2d"]
        for index, (name, value) in enumerate(row.times.items()):
            table.add_row(
                f"{row.size}x{row.size}" if index == 0 else "",
                f"{row.kernel}x{row.kernel}" if index == 0 else "",
                name,
                _ms(value),
                "1" if name == "corr2d" else f"{value / base:.2f}",
                end_section=index == len(row.times) - 1,
            )
    console.print(table)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"
