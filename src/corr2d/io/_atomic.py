"""Atomic file writes: a temporary file in the destination folder, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from corr2d.io.errors import ImageWriteError

__all__ = ["atomic_write"]


def atomic_write(file: Path, encode: Callable[[Path], None], *, overwrite: bool = False) -> None:
    """Call ``encode(temporary_path)``, then move the result onto ``file`` atomically.

    The temporary file lives in ``file``'s folder (so the final rename never crosses a
    file system) and is removed if ``encode`` fails.  With ``overwrite`` False the move
    is ``os.link`` (which refuses an existing target) followed by removing the temporary
    name; where hard links are not supported it checks and uses ``os.replace``.
    """
    try:
        handle, name = tempfile.mkstemp(
            dir=file.parent, prefix=f".{file.stem}.", suffix=f"{file.suffix}.part"
        )
    except OSError as exc:
        raise ImageWriteError(
            f"{file}: cannot create a file there ({exc.strerror or exc})"
        ) from exc
    os.close(handle)
    temporary = Path(name)
    try:
        try:
            encode(temporary)
        except (OSError, ValueError, TypeError) as exc:
            raise ImageWriteError(f"{file}: could not be written ({exc})") from exc
        # mkstemp makes the file private (0600); give it the permissions a new file gets.
        os.chmod(temporary, 0o666 & ~_umask())
        if overwrite:
            os.replace(temporary, file)
            return
        try:
            os.link(temporary, file)
        except FileExistsError:
            raise FileExistsError(f"{file}: already exists (use --force to replace it)") from None
        except OSError:
            if file.exists():
                raise FileExistsError(
                    f"{file}: already exists (use --force to replace it)"
                ) from None
            os.replace(temporary, file)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
