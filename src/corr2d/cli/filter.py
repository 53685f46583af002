"""``corr2d filter``: correlate image files with a kernel, channel by channel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from numpy.typing import NDArray

from corr2d.cli import _streaming
from corr2d.cli._options import (
    BOUNDARY_HELP,
    BOUNDARY_NAMES,
    Boundary,
    DtypeOption,
    ForceOption,
    KernelOption,
    MaxPixelsOption,
    MethodOption,
    Mode,
    OriginOption,
    ScaleOption,
)
from corr2d.cli._shared import (
    EXIT_HELP,
    EXIT_USAGE,
    Output,
    Outputs,
    check_floating_output,
    check_inputs,
    check_kernel_fits,
    check_memory,
    check_outputs,
    check_pixels_writable,
    fail,
    make_console,
    numpy_if_short,
    shape_text,
    write_pixels,
)
from corr2d.io.images import DEFAULT_MAX_PIXELS

__all__ = ["EPILOG", "filter_command"]


def tiff_name(path: Path) -> Path:
    return path if path.suffix.lower() in (".tif", ".tiff") else path.with_suffix(".tif")


EPILOG = (
    "[bold]Examples[/bold]\n\n"
    "  corr2d filter photo.png edges.png --kernel sobel-dx\n\n"
    "  corr2d filter photo.png blur.png --kernel gaussian:sigma=2 --boundary symm\n\n"
    '  corr2d filter scan.tif diff.tif --kernel "1,-1" --scale none\n\n'
    "  corr2d filter a.png b.jpg c.tif out/ --kernel my_kernel.npy\n\n" + EXIT_HELP
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
    boundary: Annotated[Boundary, typer.Option(help=BOUNDARY_HELP)] = "symm",
    fillvalue: Annotated[
        float, typer.Option(help="The value outside for 'fill' / 'constant'.")
    ] = 0.0,
    origin_option: OriginOption = None,
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
    chunks: _streaming.ChunksOption = None,
    scheduler: _streaming.SchedulerOption = None,
) -> None:
    """Filter images with a kernel: 2-D cross-correlation, channel by channel.

    Colour images are filtered per channel; an alpha channel is passed through.

    Images keep their pixel type unless [bold]--dtype[/bold] says otherwise, and then
    values move to the new depth: 8-bit white (255) becomes 16-bit white (65535).
    """
    if len(paths) < 2:
        fail("filter needs at least one INPUT and an OUTPUT", EXIT_USAGE)
    inputs, output = paths[:-1], paths[-1]
    origin = origin_option.pair if origin_option is not None else None
    anchor = _anchor(kernel.shape, mode, origin)
    job = _Job(
        kernel=kernel,
        mode=mode,
        boundary=BOUNDARY_NAMES[boundary],
        fillvalue=fillvalue,
        origin=origin,
        anchor=anchor,
        convolve=convolve,
        method=method,
        scale=scale,
        dtype=dtype,
        max_pixels=max_pixels,
    )
    if _streaming.wanted(inputs, output, chunks, scheduler):
        _streaming.load().filter_files(
            inputs, output, job, force=force, chunks=chunks, address=scheduler, plot=plot
        )
        return
    check_inputs(inputs)
    outputs, targets = _plan_outputs(inputs, output, plot, scale, dtype, force)
    console = make_console()
    if len(inputs) == 1:
        with outputs:
            line = job.run(outputs, inputs[0], targets[0], plot)
        console.print(line, markup=False)
        if plot is not None:
            console.print(f"figure: {plot}", markup=False)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    # A bar on a terminal's stderr only, cleared at the end; each file's line on stdout
    # once every output is in place (a failure writes none of them).
    bar_console = make_console(stderr=True)
    lines: list[str] = []
    with (
        outputs,
        Progress(
            TextColumn("filter"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=bar_console,
            transient=True,
            disable=not bar_console.is_terminal,
        ) as progress,
    ):
        outputs.folder(output)
        task = progress.add_task("", total=len(inputs))
        for source, target in zip(inputs, targets, strict=True):
            progress.update(task, description=source.name)
            lines.append(job.run(outputs, source, target, None))
            progress.advance(task)
    for line in lines:
        console.print(line, markup=False)


def _anchor(
    kernel_shape: tuple[int, ...], mode: str, origin: tuple[int, int] | None
) -> tuple[int, int]:
    """The kernel element over each output pixel; --origin checked against the kernel."""
    from corr2d.core.correlate import same_mode_anchor

    if origin is not None and mode != "same":
        fail(f"--origin places the kernel in --mode same, not --mode {mode}", EXIT_USAGE)
    try:
        return same_mode_anchor("--origin", kernel_shape, "same", origin)
    except ValueError as exc:
        fail(str(exc).replace("--origin: `origin` must", "--origin must"), EXIT_USAGE)


def _plan_outputs(
    inputs: list[Path],
    output: Path,
    plot: Path | None,
    scale: str,
    dtype: str,
    force: bool,
) -> tuple[Outputs, list[Path]]:
    """The output file of each input (in a folder for several), checked with --plot."""
    folder_mode = len(inputs) > 1 or output.is_dir() or str(output).endswith(("/", "\\"))
    if plot is not None and folder_mode:
        fail("--plot draws one input; give a single INPUT and an OUTPUT file", EXIT_USAGE)
    floating = scale == "none" or dtype in ("float32", "float64")
    if folder_mode:
        targets = [output / source.name for source in inputs]
        if floating:
            targets = [tiff_name(target) for target in targets]
        planned = [Output(output, "folder")]
        planned += [
            Output(target, "image", f"the output of {source}")
            for source, target in zip(inputs, targets, strict=True)
        ]
    else:
        targets = [output]
        check_floating_output(output, scale, dtype)
        planned = [Output(output, "image")]
    plot_output = Output(plot, "figure", "--plot") if plot is not None else None
    return check_outputs([*planned, plot_output], inputs, force), targets


@dataclass(frozen=True)
class _Job:
    """One kernel and its options, applied to image files one at a time."""

    kernel: NDArray[np.float64]
    mode: str
    boundary: str
    fillvalue: float
    origin: tuple[int, int] | None
    anchor: tuple[int, int]
    convolve: bool
    method: str
    scale: str
    dtype: str
    max_pixels: int

    def run(self, outputs: Outputs, source: Path, target: Path, plot: Path | None) -> str:
        """Read, check, filter and write one image (staged); the line to print."""
        from corr2d.filtering import filter_image, filter_pixels, filter_work
        from corr2d.io import read_image

        image = read_image(source, max_pixels=self.max_pixels)
        self.check_fits(source, image)
        check_pixels_writable(target, image, self.dtype, self.scale)
        # a short job runs on vectorised NumPy rather than wait for compiled loops
        work = filter_work(image.shape, self.kernel, self.mode)  # type: ignore[arg-type]
        options: dict[str, Any] = {
            "convolve": self.convolve,
            "origin": self.origin,
            "method": self.method,
        }
        colour: tuple[Any, ...] = (self.mode, self.boundary, self.fillvalue)
        divisor = None if plot is not None else self.pixels_divisor(image.dtype)
        if divisor is not None:
            # the pixels are the response / divisor rounded and clamped: one step
            with numpy_if_short(work):
                straight = filter_pixels(image, self.kernel / divisor, *colour, **options)
            pixels = write_pixels(
                outputs,
                target,
                straight,
                image,
                "clip",
                self.dtype,
                alpha=self.aligned_alpha(image),
            )
            return (
                f"{source} -> {target} ({shape_text(pixels.shape)}, {pixels.dtype}, "
                f"scale {self.scale})"
            )
        with numpy_if_short(work):
            response = filter_image(image, self.kernel, *colour, **options)
        pixels = write_pixels(
            outputs,
            target,
            response,
            image,
            self.scale,
            self.dtype,
            kernel=self.kernel,
            alpha=self.aligned_alpha(image),
        )
        if plot is not None:
            from corr2d.io.pixels import auto_rule
            from corr2d.plot import plot_filter

            # The written image, and for a zero-sum kernel the signed values behind it.
            signed = auto_rule(self.kernel)[0] == "signed"
            plot_filter(
                image,
                self.kernel,
                pixels,
                outputs.stage(plot),
                response=response if signed else None,
            )
        return (
            f"{source} -> {target} ({shape_text(pixels.shape)}, {pixels.dtype}, scale {self.scale})"
        )

    def pixels_divisor(self, image_dtype: np.dtype[Any]) -> float | None:
        """``s`` where the pixels written are the response divided by ``s``, rounded and
        clamped, which :func:`corr2d.filtering.filter_pixels` computes in one step with
        ``kernel / s``; None where they are not.

        That is 8/16-bit input written in its own type, with ``--scale clip`` (``s`` = 1)
        or ``auto`` for a kernel whose weights sum to ``s > 0`` (blurs, sharpening:
        :func:`corr2d.io.pixels.auto_rule`); a fill value must be a pixel value.  The
        streamed path (:mod:`corr2d.dask.cli`) asks the same, so both write the same
        pixels.
        """
        from corr2d.cli._shared import output_dtype
        from corr2d.io.pixels import auto_rule

        if image_dtype not in (np.uint8, np.uint16):
            return None
        if output_dtype(np.empty(0, image_dtype), self.dtype, self.scale) != image_dtype:
            return None
        top = np.iinfo(image_dtype).max
        if self.boundary == "fill" and not (
            float(self.fillvalue).is_integer() and 0 <= self.fillvalue <= top
        ):
            return None
        if self.scale == "clip":
            return 1.0
        rule, divisor = auto_rule(self.kernel)
        return divisor if self.scale == "auto" and rule == "clip" else None

    def check_fits(self, source: Path, image: NDArray[Any]) -> None:
        """Refuse a 'valid' filter that leaves no pixel, and a job larger than the memory."""
        height, width = image.shape[:2]
        check_kernel_fits(source, image.shape, self.kernel.shape, self.mode)
        check_memory(self.peak_bytes(image), f"filtering {source} ({height}x{width})")

    def peak_bytes(self, image: NDArray[Any]) -> float:
        """An upper estimate of the peak memory of :meth:`run` on ``image``.

        The image, one float64 plane extended by the kernel, and two float64 images of
        the output's size (the response, and room for the pixels and the working
        buffers of the filter; the response becomes pixels a few thousand values at a
        time).
        """
        height, width = image.shape[:2]
        kh, kw = self.kernel.shape
        channels = 1 if image.ndim == 2 else image.shape[2]
        out_h, out_w = {
            "same": (height, width),
            "valid": (height - kh + 1, width - kw + 1),
            "full": (height + kh - 1, width + kw - 1),
        }[self.mode]
        extended = (height + 2 * kh) * (width + 2 * kw) * 8.0
        return float(image.nbytes) + extended + 2.0 * channels * out_h * out_w * 8.0

    def aligned_alpha(self, image: NDArray[Any]) -> NDArray[Any] | None:
        """The image's alpha plane, placed like the response (cut or widened by mode)."""
        if image.ndim != 3 or image.shape[2] not in (2, 4):
            return None
        alpha = image[..., -1]
        if self.mode == "same":
            return alpha
        kh, kw = self.kernel.shape
        # The input pixel under output (0, 0) of 'valid' is (ar, ac); 'full' starts
        # k - 1 pixels earlier.  A convolution flips the kernel, and so the anchor.
        ar, ac = self.anchor
        if self.convolve:
            ar, ac = kh - 1 - ar, kw - 1 - ac
        if self.mode == "valid":
            height, width = alpha.shape
            return alpha[ar : ar + height - kh + 1, ac : ac + width - kw + 1]
        return np.pad(alpha, ((kh - 1 - ar, ar), (kw - 1 - ac, ac)))
