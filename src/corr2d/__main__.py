"""``python -m corr2d``: the command line, as the ``corr2d`` console script runs it."""

from corr2d.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
