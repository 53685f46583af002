"""``corr2d filter``: correlate image files with a kernel, channel by channel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    check_inputs,
    check_outputs,
    fail,
    make_console,
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

    Colour images are filtered per channel (an alpha channel is dropped); 8-bit, 16-bit
    and floating-point images keep their type unless [bold]--dtype[/bold] says otherwise.
    """
    from corr2d.filtering import filter_image
    from corr2d.io import read_image

    if len(paths) < 2:
        fail("filter needs at least one INPUT and an OUTPUT", EXIT_USAGE)
    inputs, output = paths[:-1], paths[-1]
    origin = origin_option.pair if origin_option is not None else None
    if origin is not None:
        if mode != "same":
            fail(f"--origin places the kernel in --mode same, not --mode {mode}", EXIT_USAGE)
        from corr2d.core.correlate import same_mode_anchor

        try:
            same_mode_anchor("--origin", kernel.shape, mode, origin)
        except ValueError as exc:
            fail(str(exc).replace("--origin: `origin` must", "--origin must"), EXIT_USAGE)
    if _streaming.wanted(inputs, output, chunks, scheduler):
        _streaming.load().filter_files(
            inputs,
            output,
            kernel=kernel,
            mode=mode,
            boundary=BOUNDARY_NAMES[boundary],
            fillvalue=fillvalue,
            origin=origin,
            convolve=convolve,
            method=method,
            scale=scale,
            dtype=dtype,
            force=force,
            max_pixels=max_pixels,
            chunks=chunks,
            address=scheduler,
            plot=plot,
        )
        return
    check_inputs(inputs)
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
        if floating and output.suffix.lower() not in (".tif", ".tiff"):
            fail(
                f"{output}: floating-point output (--scale none or --dtype float) needs a "
                ".tif or .tiff file",
                EXIT_USAGE,
            )
        planned = [Output(output, "image")]
    plot_output = Output(plot, "figure", "--plot") if plot is not None else None
    outputs = check_outputs([*planned, plot_output], inputs, force)

    signed = bool((kernel < 0).any())
    console = make_console()

    def run_one(source: Path, target: Path) -> str:
        image = read_image(source, max_pixels=max_pixels)
        response = filter_image(
            image,
            kernel,
            mode,
            BOUNDARY_NAMES[boundary],  # type: ignore[arg-type]
            fillvalue,
            convolve=convolve,
            origin=origin,
            method=method,
        )
        written = write_pixels(outputs, target, response, image, scale, dtype, signed)
        if plot is not None:
            from corr2d.plot import plot_filter

            plot_filter(image, kernel, response, outputs.stage(plot))
        return f"{source} -> {target} ({shape_text(response.shape)}, {written}, scale {scale})"

    if len(inputs) == 1:
        with outputs:
            line = run_one(inputs[0], targets[0])
        console.print(line, markup=False)
        if plot is not None:
            console.print(f"figure: {plot}", markup=False)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with (
        outputs,
        Progress(
            TextColumn("filter"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=make_console(stderr=True),
        ) as progress,
    ):
        outputs.folder(output)
        task = progress.add_task("", total=len(inputs))
        for source, target in zip(inputs, targets, strict=True):
            progress.update(task, description=source.name)
            line = run_one(source, target)
            progress.console.print(line, markup=False)
            progress.advance(task)
