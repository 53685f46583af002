"""``corr2d explore``: serve the interactive page on 127.0.0.1 and open it in a browser."""

from __future__ import annotations

import sys
import threading
import warnings
import webbrowser
from typing import Annotated

import typer

from corr2d.cli._shared import EXIT_HELP, EXIT_USAGE, fail

__all__ = ["EPILOG", "explore_command"]

EPILOG = (
    "[bold]Examples[/bold]\n\n"
    "  corr2d explore\n\n"
    "  corr2d explore --port 8765 --no-browser\n\n"
    "The server listens on 127.0.0.1 only and answers only requests that carry the "
    "token of the URL it prints; Ctrl-C stops it.\n\n" + EXIT_HELP
)


def explore_command(
    port: Annotated[
        int,
        typer.Option(
            min=0, max=65535, help="Port on 127.0.0.1 (default: a free one).", show_default=False
        ),
    ] = 0,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the URL without opening a browser.")
    ] = False,
) -> None:
    """Explore the chapter in the browser: correlations, edges, learning, receptive fields."""
    from corr2d.explore import PortInUseError, create_server

    try:
        server = create_server(port)
    except PortInUseError:
        fail(
            f"port {port} on 127.0.0.1 is in use; choose another with --port, or leave it "
            "out for a free one",
            EXIT_USAGE,
        )
    # A diverging training run is reported on the page, not as a warning here.
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    print(f"corr2d explore: serving on {server.url}", flush=True)
    print("corr2d explore: press Ctrl-C to stop", flush=True)
    if not no_browser:
        threading.Timer(0.3, webbrowser.open, (server.url,)).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    sys.stdout.write("corr2d explore: stopped\n")
    sys.stdout.flush()
