"""What every command shares: exit codes, one-line errors, path checks and tables.

Every failure the user can cause ends in one line on stderr, ``corr2d: error: ...``,
and an exit code from :data:`EXIT_CODES`; nothing is written when a command fails.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import numpy as np
import typer
from numpy.typing import NDArray

from corr2d._validation import available_memory
from corr2d.io._atomic import drop, hold, release
from corr2d.io.errors import ImageReadError, ImageWriteError, KernelFileError
from corr2d.io.images import WRITE_SUFFIXES
from corr2d.kernel_spec import KernelSpecError

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILURE",
    "EXIT_HELP",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_OVERFLOW",
    "EXIT_TOO_LARGE",
    "EXIT_USAGE",
    "RESPONSE_OVERFLOW",
    "CLIError",
    "Output",
    "Outputs",
    "available_memory",
    "check_finite_response",
    "check_floating_output",
    "check_inputs",
    "check_memory",
    "check_outputs",
    "classify",
    "emit_warnings",
    "fail",
    "make_console",
    "matrix_table",
    "number_text",
    "numpy_if_short",
    "one_line",
    "output_dtype",
    "report",
    "same_file",
    "save_kernel",
    "shape_text",
    "warn",
    "write_pixels",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_OUTPUT = 4
EXIT_OVERFLOW = 5
EXIT_TOO_LARGE = 6
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
    EXIT_OVERFLOW: "overflow: an exact integer result could exceed int64, or a result lies "
    "beyond the range of its floating-point type",
    EXIT_TOO_LARGE: "too large for this machine: a size, padding or step count whose arrays "
    "could not fit in its memory",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}

EXIT_HELP = (
    "[bold]Exit codes[/bold]: 0 ok, 1 computation failed, 2 usage error, 3 input problem, "
    "4 output problem, 5 overflow, 6 too large for this machine, 130 interrupted."
)

#: NumPy's own words for an array larger than it can address.
_NUMPY_TOO_LARGE = ("Maximum allowed dimension exceeded", "array is too big")


class CLIError(Exception):
    """A failure to report as one line with a given exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


CLICK_EXCEPTION: type[Exception] = next(
    cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException"
)


def one_line(text: str) -> str:
    """``text`` with its lines joined by single spaces."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


#: Write failures of the file system rather than of the program: disk or quota full,
#: file too large, read-only mount.
_FULL_OR_READ_ONLY = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


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
    if isinstance(exc, OSError) and exc.errno in _FULL_OR_READ_ONLY:
        where = f"{exc.filename}: " if exc.filename else ""
        return EXIT_OUTPUT, f"{where}cannot be written: {exc.strerror}"
    if isinstance(exc, OverflowError):
        return EXIT_OVERFLOW, str(exc)
    if isinstance(exc, MemoryError) or (
        isinstance(exc, ValueError) and any(words in str(exc) for words in _NUMPY_TOO_LARGE)
    ):
        detail = str(exc) or "out of memory"
        return EXIT_TOO_LARGE, f"too large for this machine: {detail} (use smaller sizes)"
    if isinstance(exc, (ValueError, TypeError)):
        return EXIT_FAILURE, str(exc)
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
    """Whether two paths name one file (links and ``..`` included), existing or not."""
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        return False
    return a.resolve() == b.resolve()


def numpy_if_short(work: float) -> contextlib.AbstractContextManager[None]:
    """Run a job of ``work`` multiply-adds on vectorised NumPy where it is short
    (:data:`corr2d.filtering.SHORT_JOB_WORK`): less work than loading the compiled loops
    costs a fresh process (0.3-0.5 s; seconds when they must be compiled first)."""
    from corr2d.core._engine import short_job
    from corr2d.filtering import SHORT_JOB_WORK

    return short_job() if work < SHORT_JOB_WORK else contextlib.nullcontext()


def check_inputs(inputs: Sequence[Path]) -> None:
    for source in inputs:
        if not source.exists():
            fail(f"{source}: no such file", EXIT_INPUT)
        if source.is_dir():
            fail(f"{source}: is a folder, not an image file", EXIT_INPUT)


# --------------------------------------------------------------------------- outputs

OutputKind = Literal["image", "kernel", "figure", "folder"]


#: Names that look like one figure, not the folder for several.
_FIGURE_SUFFIXES = (*WRITE_SUFFIXES, ".pdf", ".svg")


def _suffixes(kind: OutputKind) -> tuple[str, ...]:
    from corr2d.io.kernel_files import KERNEL_FILE_SUFFIXES

    table = {"image": tuple(WRITE_SUFFIXES), "kernel": KERNEL_FILE_SUFFIXES, "figure": (".png",)}
    return table.get(kind, ())


@dataclass(frozen=True)
class Output:
    """One output of a command: its path, what is written there, and the option naming it.

    ``kind`` is 'image' (PNG, JPEG or TIFF), 'kernel' (.npy, .txt, .csv), 'figure' (PNG) or
    'folder' (created by the command, for the files it holds).
    """

    path: Path
    kind: OutputKind
    option: str = "OUTPUT"


class Outputs:
    """The outputs of one command: checked before any work, written only when it succeeds.

    Made by :func:`check_outputs`.  Used as a context manager around the command's work:
    each writer writes into :meth:`stage`'s temporary path beside the final one, and the
    temporaries are moved into place together when the block ends without an exception.
    Any failure, Ctrl-C included, removes them and the folders this command created, so a
    failed command leaves nothing behind.  A Ctrl-C during the final moves (a few renames)
    is held until they finish.
    """

    def __init__(self, outputs: Sequence[Output], force: bool) -> None:
        self.force = force
        self._declared = {output.path.absolute(): output for output in outputs}
        self._staged: dict[Path, Path] = {}
        self._created: list[Path] = []

    def __enter__(self) -> Outputs:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        if kind is None:
            self.commit()
            return
        if error is not None:
            self._name_outputs_in(error)
        self.discard()

    def _name_outputs_in(self, error: BaseException) -> None:
        """Where ``error`` names a temporary file, name the output it was staged for.

        A writer that refuses its data (a PNG cannot hold 16-bit colour) or runs out of
        disk reports the path it was given, which is the hidden temporary one.
        """
        names = {
            str(temporary): str(self._declared[final].path)
            for final, temporary in self._staged.items()
        }

        def renamed(text: str) -> str:
            for temporary, given in names.items():
                text = text.replace(temporary, given)
            return text

        error.args = tuple(renamed(a) if isinstance(a, str) else a for a in error.args)
        if isinstance(error, OSError) and isinstance(error.filename, str):
            error.filename = renamed(error.filename)

    def stage(self, path: Path) -> Path:
        """A fresh temporary path, with ``path``'s suffix, to write ``path``'s content to."""
        import secrets

        final = path.absolute()
        if final not in self._declared:
            raise RuntimeError(f"{path}: not one of the checked outputs")
        self._make_folder(final.parent)
        temporary = final.parent / f".{final.stem}.{secrets.token_hex(4)}.part{final.suffix}"
        self._staged[final] = temporary
        hold(temporary)  # written anonymously where the platform can: kill -9 leaves nothing
        return temporary

    def _make_folder(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            try:
                path.mkdir()
            except OSError as exc:
                fail(f"{path}: cannot create the folder ({exc.strerror or exc})", EXIT_OUTPUT)
            self._created.append(path)

    def folder(self, path: Path) -> Path:
        """Create a declared output folder (removed again if the command fails)."""
        self._make_folder(path.absolute())
        return path

    def commit(self) -> None:
        """Move every staged file into place; refuse files that appeared meanwhile."""
        with _sigint_held():
            placed: list[Path] = []
            try:
                for final, temporary in self._staged.items():
                    if release(temporary, final, self.force):
                        placed.append(final)
                        continue
                    if not temporary.exists():
                        continue
                    _place(temporary, final, self.force)
                    placed.append(final)
            except BaseException:
                if not self.force:
                    for final in placed:
                        final.unlink(missing_ok=True)
                self.discard()
                raise
            self._staged.clear()
            self._created.clear()

    def discard(self) -> None:
        """Remove the staged files and the folders this command created."""
        for temporary in self._staged.values():
            drop(temporary)
            temporary.unlink(missing_ok=True)
        self._staged.clear()
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._created.clear()


def _place(temporary: Path, final: Path, force: bool) -> None:
    if force:
        os.replace(temporary, final)
        return
    try:
        os.link(temporary, final)
    except FileExistsError:
        fail(f"{final}: already exists (use --force to replace it)", EXIT_OUTPUT)
    except OSError:  # no hard links on this file system
        if final.exists():
            fail(f"{final}: already exists (use --force to replace it)", EXIT_OUTPUT)
        os.replace(temporary, final)
        return
    temporary.unlink()


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold SIGINT for the duration (main thread only), then let the command finish."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def check_outputs(outputs: Sequence[Output | None], inputs: Sequence[Path], force: bool) -> Outputs:
    """Check every output of a command before any work, and return them for writing.

    Each output must end in a suffix its writer supports, must not be an input (even
    with ``--force``), must not exist unless ``force`` (and then not as a folder where a
    file is meant, or the reverse), and its folder must exist or be one the command
    creates.  No two outputs may name the same file.  ``None`` entries (options not
    given) are skipped.

    Raises
    ------
    CLIError
        With exit code 4 (:data:`EXIT_OUTPUT`) and the first rule broken.
    """
    given = [output for output in outputs if output is not None]
    folders = {output.path.absolute() for output in given if output.kind == "folder"}
    seen: dict[Path, Output] = {}
    for output in given:
        _check_output(output, inputs, force, folders)
        key = output.path.resolve()
        if key in seen:
            fail(
                f"{output.path}: {seen[key].option} and {output.option} name the same file; "
                "give them different names",
                EXIT_OUTPUT,
            )
        seen[key] = output
    return Outputs(given, force)


def _check_output(output: Output, inputs: Sequence[Path], force: bool, folders: set[Path]) -> None:
    path, option = output.path, output.option
    suffixes = _suffixes(output.kind)
    if suffixes and path.suffix.lower() not in suffixes:
        fail(
            f"{path}: {option} must end in {', '.join(suffixes)}, got "
            f"{path.suffix or 'no suffix'!r}",
            EXIT_OUTPUT,
        )
    for source in inputs:
        if same_file(path, source):
            fail(f"{path}: is an input; refusing to overwrite an input file", EXIT_OUTPUT)
    if output.kind == "folder":
        if path.exists() and not path.is_dir():
            fail(f"{path}: {option} needs a folder, and this is a file", EXIT_OUTPUT)
        if not path.exists() and path.suffix.lower() in _FIGURE_SUFFIXES:
            # 'learn ... --plot loss.png' would make a folder named loss.png
            fail(
                f"{path}: {option} must be a folder here, and this names an image file; "
                "give a folder (e.g. figs/)",
                EXIT_USAGE,
            )
        _check_creatable(path, option)
        return
    if path.is_dir():
        fail(f"{path}: is a folder; {option} needs a file name", EXIT_OUTPUT)
    if path.exists() and not force:
        fail(f"{path}: already exists (use --force to replace it)", EXIT_OUTPUT)
    parent = path.parent.absolute()
    if parent.is_dir():
        _check_creatable(parent, option)
    elif not any(parent == folder or folder in parent.parents for folder in folders):
        fail(f"{path}: the folder {str(path.parent)!r} does not exist", EXIT_OUTPUT)


def _check_creatable(folder: Path, option: str) -> None:
    """The folder, or its nearest existing ancestor, must be a folder we may write in."""
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        fail(f"{folder}: {option} cannot go there; {existing} is a file", EXIT_OUTPUT)
    if not os.access(existing, os.W_OK | os.X_OK):
        fail(f"{folder}: permission denied; cannot write in {existing}", EXIT_OUTPUT)


def check_floating_output(output: Path, scale: str, dtype: str) -> None:
    """Floating-point pixels (--scale none, --dtype float32/64) need a TIFF file."""
    floating = scale == "none" or dtype in ("float32", "float64")
    if floating and output.suffix.lower() not in (".tif", ".tiff"):
        fail(
            f"{output}: floating-point output (--scale none or --dtype float) needs a .tif "
            "or .tiff file",
            EXIT_USAGE,
        )


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
    """A matrix as plain text: its title, then rows of right-aligned numbers.

    Every number is written in full (``precision`` significant digits), never cut to fit
    a terminal: lines longer than the terminal wrap, and in a file or a pipe they stay
    whole.  Round-off far below the matrix's scale (1e-15 where 0 is meant) is shown as 0.
    """
    from rich.text import Text

    values = np.asarray(array, dtype=np.float64)
    peak = float(np.abs(values).max()) if values.size else 0.0
    values = np.where(np.abs(values) < 1e-12 * max(peak, 1.0), 0.0, values)
    cells = [[number_text(v, precision) for v in row] for row in values]
    widths = [max(len(row[col]) for row in cells) for col in range(values.shape[1])]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    if title:
        lines.insert(0, title)
    return Text("\n".join(lines), no_wrap=False)


def number_text(value: float, precision: int) -> str:
    if float(value).is_integer() and abs(value) < 1e9:
        return f"{int(value)}"
    return f"{value:.{precision}g}"


def emit_warnings(caught: Sequence[warnings.WarningMessage]) -> None:
    for item in caught:
        warn(str(item.message))


def save_kernel(outputs: Outputs, path: Path | None, kernel: NDArray[Any]) -> None:
    """Write a kernel file (staged in ``outputs``), if ``--save`` was given."""
    if path is None:
        return
    from corr2d.io import write_kernel

    write_kernel(outputs.stage(path), kernel)


def check_pixels_writable(path: Path, image: NDArray[Any], dtype: str, scale: str) -> None:
    """Refuse, before the work, an output file that cannot hold what
    :func:`write_pixels` will write there for ``image``: its channels (alpha included,
    except in a JPEG) in the pixel type ``dtype`` and ``scale`` give."""
    from corr2d.io import check_writable

    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels in (2, 4) and path.suffix.lower() in (".jpg", ".jpeg"):
        channels -= 1  # the alpha channel is dropped, with a warning
    shape = image.shape[:2] if channels == 1 else (*image.shape[:2], channels)
    check_writable(path, shape, output_dtype(image, dtype, scale))


def write_pixels(
    outputs: Outputs,
    path: Path,
    response: NDArray[Any],
    image: NDArray[Any],
    scale: str,
    dtype: str,
    *,
    kernel: NDArray[Any] | None = None,
    alpha: NDArray[Any] | None = None,
) -> NDArray[Any]:
    """Turn a response into pixels and write the image (staged in ``outputs``).

    The response is in ``image``'s units; ``kernel`` guides ``--scale auto``; ``alpha``,
    the image's alpha plane aligned with the response, is moved to the output's depth
    and written as the last channel (JPEG, which has none, gets a warning instead).
    """
    from corr2d.io import to_image_dtype, write_image

    target = output_dtype(image, dtype, scale)
    check_finite_response(path, response, image)
    try:
        pixels = to_image_dtype(
            response,
            target,
            scale,  # type: ignore[arg-type]
            kernel=kernel,
            source=image.dtype,
        )
    except OverflowError as exc:
        fail(f"{path}: {exc}", EXIT_OVERFLOW)
    if alpha is not None:
        if path.suffix.lower() in (".jpg", ".jpeg"):
            warn(f"{path}: JPEG has no alpha channel; the input's transparency is dropped")
        else:
            plane = to_image_dtype(alpha, target, "clip", source=image.dtype)
            channels = pixels if pixels.ndim == 3 else pixels[..., np.newaxis]
            pixels = np.concatenate([channels, plane[..., np.newaxis]], axis=-1)
    write_image(outputs.stage(path), pixels)
    return pixels


#: What a response of inf or NaN from finite pixels and weights is reported as.
RESPONSE_OVERFLOW = (
    "the response is beyond float64's range (inf or NaN from finite pixels and weights); "
    "scale the kernel or the image down"
)


def check_finite_response(path: Path, response: NDArray[Any], image: NDArray[Any]) -> None:
    """Refuse a response that overflowed: inf or NaN from finite pixels and weights."""
    if np.isfinite(response).all():
        return
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        return  # NaN and inf pixels reach the outputs whose windows hold them
    fail(f"{path}: {RESPONSE_OVERFLOW}", EXIT_OVERFLOW)


def warn(message: str) -> None:
    """Print one ``corr2d: warning: ...`` line on stderr."""
    sys.stderr.write(f"corr2d: warning: {one_line(message)}\n")


def check_kernel_fits(source: Path, shape: Sequence[int], kernel: Sequence[int], mode: str) -> None:
    """Refuse a kernel larger than the image where it leaves no output: 'valid' mode.

    'same' and 'full' extend the image by its border rule as far as the kernel reaches
    (repeatedly, for a kernel larger than the image), as SciPy and OpenCV do, so a small
    image can still be blurred with a large Gaussian.
    """
    if mode == "valid" and (kernel[0] > shape[0] or kernel[1] > shape[1]):
        fail(
            f"{source}: the kernel ({kernel[0]}x{kernel[1]}) is larger than the image "
            f"({shape[0]}x{shape[1]}), so --mode valid leaves no pixel; use --mode same "
            "or full, or a kernel no larger than the image",
            EXIT_INPUT,
        )


def check_memory(needed: float, what: str) -> None:
    """Refuse a job whose estimated peak memory exceeds the memory available now."""
    available = available_memory()
    if available is not None and needed > available:
        fail(
            f"{what} needs about {_size(needed)} of memory at its peak (estimated), more "
            f"than the {_size(available)} available; use a smaller image or kernel",
            EXIT_TOO_LARGE,
        )


def _size(size: float) -> str:
    if size < 2**30:
        return f"{size / 2**20:.0f} MiB"
    return f"{size / 2**30:.1f} GiB"
