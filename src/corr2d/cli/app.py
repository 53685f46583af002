"""The ``corr2d`` command line: a thin typer layer over the library.

Each command lives in a module of its own (:mod:`corr2d.cli.filter`,
:mod:`corr2d.cli.estimate`, ...) over the shared checks of :mod:`corr2d.cli._shared`;
this module makes the group, registers the commands and turns every failure the user can
cause into one line on stderr, ``corr2d: error: ...``, and an exit code from
:data:`EXIT_CODES`.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from corr2d.cli import bench, demo, edges, estimate, explore, learn, rf
from corr2d.cli import filter as filter_
from corr2d.cli import kernels as kernels_
from corr2d.cli._shared import (
    EXIT_CODES,
    EXIT_FAILURE,
    EXIT_HELP,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CLIError,
    classify,
    report,
    warn,
)

__all__ = ["EXIT_CODES", "CLIError", "app", "main"]


class _Corr2dGroup(TyperGroup):
    """The command group, with one-line errors and documented exit codes."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; Ctrl-C becomes the one-line 'interrupted' and exit 130 (typer
        would exit 130 silently)."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise CLIError("interrupted", EXIT_INTERRUPTED) from None

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
            with warnings.catch_warnings(), _library_logs_as_warnings():
                warnings.showwarning = _one_line_warning
                result = super().main(
                    args=args,
                    prog_name=prog_name or "corr2d",
                    complete_var=complete_var,
                    standalone_mode=False,
                    windows_expand_args=windows_expand_args,
                    **extra,
                )
        except KeyboardInterrupt:
            report("interrupted")
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if type(exc).__name__ == "Abort":
                report("aborted")
                sys.exit(EXIT_FAILURE)
            verdict = classify(exc)
            if verdict is None:
                if os.environ.get("CORR2D_TRACEBACK"):
                    raise
                verdict = (
                    EXIT_FAILURE,
                    f"internal error: {type(exc).__name__}: {exc} "
                    "(set CORR2D_TRACEBACK=1 to see where)",
                )
            report(verdict[1])
            sys.exit(verdict[0])
        code = result if isinstance(result, int) else EXIT_OK
        if not standalone_mode:
            return code
        sys.exit(code)


class _OneLineHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        warn(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def _library_logs_as_warnings() -> Iterator[None]:
    """What tifffile logs (outside ``read_image``, which folds it into its own error or
    warning) is printed as one ``corr2d: warning:`` line per record."""
    logger = logging.getLogger("tifffile")
    handler, propagate = _OneLineHandler(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Warnings from the library are one ``corr2d: warning: ...`` line each."""
    warn(str(message))


app = typer.Typer(
    name="corr2d",
    cls=_Corr2dGroup,
    help="2-D cross-correlation on real images: filter, find edges, estimate and learn "
    "kernels, receptive fields, and the chapter 'Convolutions for Images' as a demo.",
    epilog=EXIT_HELP,
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


#: The commands, in the order ``corr2d --help`` lists them: name, function, epilog.
COMMANDS: tuple[tuple[str, Callable[..., None], str], ...] = (
    ("filter", filter_.filter_command, filter_.EPILOG),
    ("edges", edges.edges_command, edges.EPILOG),
    ("estimate", estimate.estimate_command, estimate.EPILOG),
    ("learn", learn.learn_command, learn.EPILOG),
    ("rf", rf.rf_command, rf.EPILOG),
    ("kernels", kernels_.kernels_command, kernels_.EPILOG),
    ("demo", demo.demo_command, demo.EPILOG),
    ("explore", explore.explore_command, explore.EPILOG),
    ("bench", bench.bench_command, bench.EPILOG),
)


def _flowing_help(function: Callable[..., None]) -> str:
    """The command's docstring with each paragraph on one line, for rich to wrap.

    typer keeps the single line breaks of a docstring's later paragraphs, so lines
    broken for the source file were broken again by the terminal's own wrapping.
    """
    paragraphs = (inspect.getdoc(function) or "").split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


for _name, _function, _epilog in COMMANDS:
    app.command(_name, help=_flowing_help(_function), epilog=_epilog)(_function)
