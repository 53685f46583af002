"""The command line's streamed work: ``corr2d filter`` (and ``estimate``) on files larger
than memory.

:mod:`corr2d.cli._streaming` decides when a command streams and calls in here.  The input
is opened lazily (:func:`corr2d.dask.files.open_image`), filtered by the lazy faces, turned
into pixels chunk by chunk (with the whole image's extremes from a first pass when the
scale rule needs them), and written band by band as a tiled TIFF or a Zarr array under a
temporary name, with a progress bar; the work runs on the local threads or on a
``dask.distributed`` scheduler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.cli._shared import (
    EXIT_FAILURE,
    EXIT_INPUT,
    EXIT_OUTPUT,
    EXIT_USAGE,
    RESPONSE_OVERFLOW,
    Output,
    check_inputs,
    check_kernel_fits,
    check_outputs,
    emit_warnings,
    fail,
    make_console,
    output_dtype,
    same_file,
    save_kernel,
    shape_text,
)
from corr2d.dask import files
from corr2d.dask.correlate import convolve2d, correlate2d

__all__ = ["estimate_files", "filter_files", "lazy_pixels", "scheduler"]

#: Seconds to wait for a scheduler to answer.
CONNECT_TIMEOUT = 10


@contextlib.contextmanager
def scheduler(address: str | None) -> Iterator[None]:
    """Run the work inside on the local threads (None, 'threads'), on this thread
    ('synchronous'), or on the ``dask.distributed`` scheduler at ``address``."""
    import dask

    if address in (None, "threads", "synchronous"):
        with dask.config.set(scheduler=address or "threads"):
            yield
        return
    from distributed import Client

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=True)
    except Exception as exc:  # OSError, TimeoutError, ValueError from the comm layer
        fail(f"cannot reach the Dask scheduler at {address} ({exc})", EXIT_FAILURE)
    with client:
        yield


@dataclass(frozen=True)
class _Pixels:
    """One chunk of a response as pixels, by :func:`corr2d.io.to_image_dtype`.

    Every scale rule depends on the values only elementwise and through their extremes,
    so converting a chunk together with the whole response's ``extremes`` (its minimum
    and maximum, and those of its finite values) gives exactly the pixels the whole
    response converts to.
    """

    dtype: np.dtype
    scale: str
    kernel: NDArray[np.float64] | None
    source: np.dtype
    extremes: tuple[float, ...] = ()

    def __call__(self, block: NDArray[Any]) -> NDArray[Any]:
        from corr2d.io import to_image_dtype

        if self.source.kind in "ui" and not np.isfinite(block).all():
            raise OverflowError(RESPONSE_OVERFLOW)
        values = np.concatenate([block.reshape(-1), np.asarray(self.extremes, np.float64)])
        pixels = to_image_dtype(
            values,
            self.dtype,
            self.scale,  # type: ignore[arg-type]
            kernel=self.kernel,
            source=self.source,
        )
        return pixels[: block.size].reshape(block.shape)


def _ignoring_nan(values: Any, extreme: np.ufunc) -> Any:
    """The smallest (``np.fmin``) or largest (``np.fmax``) of ``values`` leaving NaN
    out, NaN when all are: ``da.nanmin``/``nanmax``, without their warning for a chunk
    that holds only NaN (an overflowed response), which a worker thread would print."""
    import dask.array as da

    return da.reduction(values, extreme.reduce, extreme.reduce, dtype=values.dtype)


def lazy_pixels(
    response: Any,
    target: np.dtype,
    scale: str,
    *,
    kernel: NDArray[np.float64] | None = None,
    source: np.dtype | None = None,
) -> Any:
    """``response`` as pixels of ``target``, lazily, as :func:`corr2d.io.to_image_dtype`
    turns a whole response into pixels; a first pass over the response finds its
    extremes when the rule needs them (a signed or magnitude map)."""
    import dask
    import dask.array as da

    from corr2d.io.pixels import auto_rule

    rule = auto_rule(kernel)[0] if scale == "auto" and kernel is not None else scale
    extremes: tuple[float, ...] = ()
    if rule in ("signed", "abs") or (rule == "auto" and target.kind != "f"):
        finite = da.where(da.isfinite(response), response, np.nan)
        found = dask.compute(
            _ignoring_nan(response, np.fmin),
            _ignoring_nan(response, np.fmax),
            _ignoring_nan(finite, np.fmin),
            _ignoring_nan(finite, np.fmax),
        )
        extremes = tuple(float(v) for v in found if not np.isnan(v))
    source_dtype = np.dtype(source if source is not None else target)
    convert = _Pixels(np.dtype(target), scale, kernel, source_dtype, extremes)
    return response.map_blocks(convert, dtype=target)


def filter_files(
    inputs: list[Path],
    output: Path,
    job: Any,
    *,
    force: bool,
    chunks: tuple[int, int] | str | None,
    address: str | None,
    plot: Path | None = None,
) -> None:
    """``corr2d filter`` streamed: one input to one tiled TIFF or Zarr output.

    ``job`` is the command's :class:`corr2d.cli.filter._Job`: the kernel and options,
    and the rule placing the alpha plane beside the response.
    """
    if plot is not None:
        fail(
            "--plot draws images held in memory; it cannot be used with streamed files", EXIT_USAGE
        )
    if len(inputs) != 1:
        fail(
            "streamed files are filtered one INPUT at a time (--chunks, --scheduler or "
            "Zarr); run the command once per file",
            EXIT_USAGE,
        )
    source, target = inputs[0], output
    _check_stream_inputs(inputs)
    _check_stream_output(target, inputs, force)
    size = _chunk_size(chunks, job.max_pixels)
    with scheduler(address):
        image = files.open_image(source, chunks=size, max_pixels=job.max_pixels)
        check_kernel_fits(source, image.shape, job.kernel.shape, job.mode)
        pixels_dtype = output_dtype(np.empty(0, image.dtype), job.dtype, job.scale)
        divisor = job.pixels_divisor(image.dtype)
        if divisor is not None:
            # what the in-memory filter writes: filter_pixels, window by window
            response = pixels = _pixels_lazily(image, job, divisor)
        else:
            response = _filter_lazily(image, job)
            pixels = lazy_pixels(
                response, pixels_dtype, job.scale, kernel=job.kernel, source=image.dtype
            )
        alpha = job.aligned_alpha(image)
        if alpha is not None:
            plane = lazy_pixels(alpha, pixels_dtype, "clip", source=image.dtype)
            channels = pixels if pixels.ndim == 3 else pixels[..., None]
            pixels = _beside([channels, plane[..., None]])
        writer = files.write_zarr if target.suffix.lower() == ".zarr" else files.write_tiff
        with _progress(f"{source.name} -> {target.name}", pixels.shape[0]) as advance:
            writer(target, pixels, overwrite=force, progress=advance)
    blocks = response.npartitions
    make_console().print(
        f"{source} -> {target} ({shape_text(pixels.shape)}, {pixels_dtype}, scale "
        f"{job.scale}, streamed in {blocks} chunk{'s' if blocks != 1 else ''})",
        markup=False,
    )


def estimate_files(
    x_path: Path,
    y_path: Path,
    size: tuple[int, int],
    *,
    method: str,
    mode: str,
    bias: bool,
    alpha: float | None,
    convolve: bool,
    boundary: str = "fill",
    fillvalue: float = 0.0,
    origin: tuple[int, int] | None = None,
    save: Path | None,
    plot: Path | None,
    force: bool,
    max_pixels: int,
    chunks: tuple[int, int] | str | None,
    address: str | None,
) -> None:
    """``corr2d estimate`` streamed: the pair read chunk by chunk, the equations of every
    chunk merged (:func:`corr2d.dask.estimate_kernel`), the report printed."""
    import warnings

    from corr2d.cli._pairs import relation_from_options
    from corr2d.dask.estimate import estimate_kernel

    if plot is not None:
        fail(
            "--plot draws images held in memory; it cannot be used with streamed files", EXIT_USAGE
        )
    if method not in ("lstsq", "ridge"):
        fail(
            f"--method {method} needs the images in memory; streamed files are solved by "
            "lstsq or ridge",
            EXIT_USAGE,
        )
    _check_stream_inputs([x_path, y_path])
    outputs = check_outputs(
        [Output(save, "kernel", "--save") if save is not None else None], [x_path, y_path], force
    )
    size_at_once = _chunk_size(chunks, max_pixels)
    with scheduler(address):
        X, Y = (
            files.open_image(p, chunks=size_at_once, max_pixels=max_pixels)
            for p in (x_path, y_path)
        )
        channels = [1 if a.ndim == 2 else a.shape[2] for a in (X, Y)]
        if channels[0] != channels[1]:
            fail(
                f"{x_path} has {channels[0]} channel(s) but {y_path} has {channels[1]}; give "
                "two grey or two colour images",
                EXIT_INPUT,
            )
        relation = relation_from_options(
            X.shape, Y.shape, size, mode, boundary, fillvalue, origin, convolve
        )
        xs = [X] if X.ndim == 2 else [X[..., c] for c in range(X.shape[2])]
        ys = [Y] if Y.ndim == 2 else [Y[..., c] for c in range(Y.shape[2])]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = estimate_kernel(
                xs if len(xs) > 1 else xs[0],
                ys if len(ys) > 1 else ys[0],
                size,
                bias=bias,
                method=method,  # type: ignore[arg-type]
                alpha=alpha,
                **relation.keywords(),
            )
    emit_warnings(caught)
    console = make_console()
    console.print(str(result), markup=False)
    with outputs:
        save_kernel(outputs, save, result.kernel)
    if save is not None:
        console.print(f"kernel: {save}", markup=False)


@dataclass(frozen=True)
class _WindowPixels:
    """:func:`corr2d.filtering.filter_pixels` in 'valid' mode on one window, whose colour
    channels (if any) come first, as :func:`corr2d.dask._graph.map_windows` hands the
    other axes."""

    kernel: NDArray[np.float64]
    convolve: bool
    method: str
    operation: str = "filter_pixels"  # names the graph's tasks

    def __call__(self, window: NDArray[Any]) -> NDArray[Any]:
        from corr2d.filtering import filter_pixels

        options: dict[str, Any] = {"convolve": self.convolve, "method": self.method}
        if window.ndim == 2:
            return filter_pixels(window, self.kernel, "valid", **options)
        pixels = filter_pixels(np.moveaxis(window, 0, -1), self.kernel, "valid", **options)
        return np.moveaxis(pixels.reshape(*pixels.shape[:2], -1), -1, 0)


def _pixels_lazily(image: Any, job: Any, divisor: float) -> Any:
    """:func:`corr2d.filtering.filter_pixels` with ``job.kernel / divisor``, lazily:
    windows of the image in its own pixel type, the border rule and halos as the lazy
    faces build them."""
    from corr2d.core import correlate as memory
    from corr2d.core._padding import BOUNDARY_MODES
    from corr2d.dask.correlate import _sliding

    if image.ndim == 3:
        image = image[..., :3] if image.shape[2] >= 3 else image[..., 0]
    kernel = job.kernel / divisor
    pads = memory._pads(job.mode, kernel.shape, job.convolve, job.anchor)
    blocks = _WindowPixels(kernel, job.convolve, job.method)
    np_mode = BOUNDARY_MODES[job.boundary]
    fill = int(job.fillvalue)
    return _sliding(
        image, (0, 1), kernel.shape, pads, np_mode, blocks, image.dtype, image.dtype, fill
    )


def _beside(parts: list[Any]) -> Any:
    """Colour channels and the alpha plane side by side, chunks aligned."""
    import dask.array as da

    first = parts[0]
    aligned = [part.rechunk((*first.chunks[:2], part.shape[2])) for part in parts]
    return da.concatenate(aligned, axis=2)


def _chunk_size(chunks: tuple[int, int] | str | None, max_pixels: int) -> tuple[int, int] | None:
    """--chunks as rows and columns (None: the files' own policy), within --max-pixels."""
    if not isinstance(chunks, tuple):
        return None
    if chunks[0] * chunks[1] > max_pixels:
        fail(
            f"--chunks {chunks[0]}x{chunks[1]} reads {chunks[0] * chunks[1]} pixels at once, "
            f"more than --max-pixels {max_pixels}; give smaller chunks",
            EXIT_USAGE,
        )
    return chunks


def _filter_lazily(image: Any, job: Any) -> Any:
    """:func:`corr2d.filtering.filter_image`, lazily: each colour channel (alpha apart)."""
    operation = convolve2d if job.convolve else correlate2d
    if image.ndim == 3:
        image = image[..., :3] if image.shape[2] >= 3 else image[..., 0]
    return operation(
        image,
        job.kernel,
        job.mode,
        job.boundary,
        job.fillvalue,
        origin=job.origin,
        method=job.method,
        axes=(0, 1) if image.ndim == 3 else (-2, -1),
    )


def _check_stream_inputs(inputs: list[Path]) -> None:
    """Inputs exist; a folder is an input only if it holds a Zarr array."""
    check_inputs([path for path in inputs if not (path.is_dir() and files.is_zarr(path))])


def _check_stream_output(target: Path, inputs: list[Path], force: bool) -> None:
    suffix = target.suffix.lower()
    if suffix in (".tif", ".tiff"):
        check_outputs([Output(target, "image")], inputs, force)
        return
    if suffix != ".zarr":
        fail(
            f"{target}: streamed output is written as tiled TIFF or Zarr; give OUTPUT a "
            ".tif, .tiff or .zarr name",
            EXIT_OUTPUT,
        )
    for source in inputs:
        if same_file(target, source):
            fail(f"{target}: is an input; refusing to overwrite an input file", EXIT_OUTPUT)
    if target.exists() and not force:
        fail(f"{target}: already exists (use --force to replace it)", EXIT_OUTPUT)
    if not target.parent.absolute().is_dir():
        fail(f"{target}: the folder {str(target.parent)!r} does not exist", EXIT_OUTPUT)


@contextlib.contextmanager
def _progress(description: str, rows: int) -> Iterator[Any]:
    """A progress bar on stderr, in rows written of ``rows``; yields the writers'
    callback.  It is cleared when it ends: the summary line or the error replaces it."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = make_console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} rows"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=rows)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
