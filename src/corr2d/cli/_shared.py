"""What every command shares: exit codes, one-line errors, path checks and tables.

Every failure the user can cause ends in one line on stderr, ``corr2d: error: ...``,
and an exit code from :data:`EXIT_CODES`; nothing is written when a command fails.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import typer
from numpy.typing import NDArray

from corr2d.io.errors import ImageReadError, ImageWriteError, KernelFileError
from corr2d.kernel_spec import KernelSpecError

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILURE",
    "EXIT_HELP",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_USAGE",
    "CLIError",
    "check_inputs",
    "check_new_files",
    "check_output",
    "classify",
    "emit_warnings",
    "fail",
    "make_console",
    "matrix_table",
    "number_text",
    "one_line",
    "output_dtype",
    "plot_folder",
    "report",
    "same_file",
    "save_kernel",
    "shape_text",
    "write_pixels",
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

EXIT_HELP = (
    "[bold]Exit codes[/bold]: 0 ok, 1 computation failed, 2 usage error, 3 input problem, "
    "4 output problem, 130 interrupted."
)


class CLIError(Exception):
    """A failure to report as one line with a given exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


CLICK_EXCEPTION: type[Exception] = next(
    cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException"
)


def one_line(text: str) -> str:
    text = re.sub(r"\bValue error, ", "", str(text))
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def classify(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and message for an exception the user can cause, else None."""
    if isinstance(exc, CLIError):
        return exc.exit_code, str(exc)
    if isinstance(exc, CLICK_EXCEPTION):
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


def report(message: str) -> None:
    sys.stderr.write(f"corr2d: error: {one_line(message)}\n")
    sys.stderr.flush()


def make_console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def fail(message: str, code: int) -> NoReturn:
    raise CLIError(message, code)


def same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        return False
    return a.resolve() == b.resolve()


def check_output(output: Path, inputs: Sequence[Path], force: bool) -> None:
    """Refuse to write onto an input (ever) or onto an existing file (without --force)."""
    for source in inputs:
        if same_file(output, source):
            fail(f"{output}: is an input; refusing to overwrite an input file", EXIT_OUTPUT)
    if output.exists() and not force:
        fail(f"{output}: already exists (use --force to replace it)", EXIT_OUTPUT)
    if output.exists() and output.is_dir():
        fail(f"{output}: is a folder; give a file name", EXIT_OUTPUT)


def check_inputs(inputs: Sequence[Path]) -> None:
    for source in inputs:
        if not source.exists():
            fail(f"{source}: no such file", EXIT_INPUT)
        if source.is_dir():
            fail(f"{source}: is a folder, not an image file", EXIT_INPUT)


def plot_folder(folder: Path | None) -> Path | None:
    if folder is None:
        return None
    if folder.exists() and not folder.is_dir():
        fail(f"{folder}: --plot needs a folder, and this is a file", EXIT_OUTPUT)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{folder}: cannot create the folder ({exc.strerror or exc})", EXIT_OUTPUT)
    return folder


def check_new_files(paths: Sequence[Path], force: bool) -> None:
    if force:
        return
    for path in paths:
        if path.exists():
            fail(f"{path}: already exists (use --force to replace it)", EXIT_OUTPUT)


def output_dtype(image: NDArray[Any], requested: str, scale: str) -> np.dtype:
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


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in shape)


def matrix_table(array: NDArray[Any], title: str | None = None, precision: int = 4) -> Any:
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
        table.add_row(*(number_text(v, precision) for v in row))
    return table


def number_text(value: float, precision: int) -> str:
    if float(value).is_integer() and abs(value) < 1e9:
        return f"{int(value)}"
    return f"{value:.{precision}g}"


def emit_warnings(caught: Sequence[warnings.WarningMessage]) -> None:
    for item in caught:
        sys.stderr.write(f"corr2d: warning: {one_line(str(item.message))}\n")


def save_kernel(
    path: Path | None, kernel: NDArray[Any], inputs: Sequence[Path], force: bool
) -> None:
    if path is None:
        return
    from corr2d.io import write_kernel

    write_kernel(path, kernel, overwrite=force)


def write_pixels(
    path: Path,
    response: NDArray[Any],
    image: NDArray[Any],
    scale: str,
    dtype: str,
    signed: bool,
    force: bool,
) -> np.dtype:
    from corr2d.io import to_image_dtype, write_image

    target = output_dtype(image, dtype, scale)
    pixels = to_image_dtype(response, target, scale, signed=signed)  # type: ignore[arg-type]
    write_image(path, pixels, overwrite=force)
    return target
