"""Atomic file writes: the content goes to a file with no name, which is then given one.

On Linux the content is written to an anonymous file (``O_TMPFILE``) in the destination
folder and linked to its name only when complete, so no exit of the process, ``kill -9``
included, leaves a partial or temporary file behind.  Elsewhere (or on file systems
without ``O_TMPFILE``) a hidden temporary file ``.NAME.XXXXXXXX.SUFFIX.part`` beside the
destination takes its place and is removed on every exit Python controls.

The file is created with mode 0666 and the process's umask applied by the system, as
any new file; the umask is never read or changed (changing it is process-wide, and a
file another thread created meanwhile would get the wrong permissions).  No file this
module did not create is ever removed.

A caller that must write several files and give them their names together (the command
line, which writes nothing unless every output succeeds) can :func:`hold` a path: the
write to it stays anonymous until :func:`release` names it, or :func:`drop` forgets it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO

from corr2d._forksafe import fork_safe_lock
from corr2d.io.errors import ImageWriteError

__all__ = ["anonymous_files_supported", "atomic_write", "drop", "hold", "release"]

_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: errno values with which a file system says it has no anonymous files.
_NO_ANONYMOUS = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT}

_held: dict[Path, _Pending | None] = {}
_held_lock = fork_safe_lock(globals(), "_held_lock")


def anonymous_files_supported(folder: Path) -> bool:
    """Whether writes into ``folder`` use anonymous files (no name until complete)."""
    pending = _Pending.create(folder, Path("probe"))
    anonymous = pending.fd is not None and pending.temporary is None
    pending.discard()
    return anonymous


class _Pending:
    """A file being written in a folder: anonymous (``fd`` only) or a temporary name."""

    def __init__(self, handle: int, temporary: Path | None) -> None:
        self.fd: int | None = handle
        self.temporary = temporary

    @classmethod
    def create(cls, folder: Path, file: Path, anonymous: bool = True) -> _Pending:
        if _O_TMPFILE and anonymous:
            try:
                return cls(os.open(folder, _O_TMPFILE | os.O_RDWR | _CLOEXEC, 0o666), None)
            except OSError as exc:
                if exc.errno not in _NO_ANONYMOUS:
                    raise
        while True:
            name = _temporary_name(folder, file)
            try:
                flags = os.O_CREAT | os.O_EXCL | os.O_RDWR | _CLOEXEC
                return cls(os.open(name, flags, 0o666), name)
            except FileExistsError:
                continue

    def stream(self, name: Path | None = None) -> IO[bytes]:
        """The file, open for binary writing; closing it does not end the pending file.

        ``name`` is what the stream calls itself (encoders read it for their messages).
        """
        assert self.fd is not None
        stream = os.fdopen(os.dup(self.fd), "w+b")
        stream.raw.name = str(name or self.temporary or "")  # type: ignore[attr-defined]
        return stream

    def link(self, file: Path, overwrite: bool) -> None:
        """Give the content the name ``file``: atomically, and without ``overwrite`` never
        over an existing file.  The pending file is finished afterwards."""
        try:
            if self.temporary is None:
                self._link_anonymous(file, overwrite)
            else:
                _place(self.temporary, file, overwrite)
        finally:
            self.discard()

    def _link_anonymous(self, file: Path, overwrite: bool) -> None:
        """Link straight to ``file`` (no overwrite), or to a temporary name then move it
        there (overwrite, or no ``/proc`` to link through: then the content is copied)."""
        source = f"/proc/self/fd/{self.fd}"
        if not overwrite:
            try:
                os.link(source, file, follow_symlinks=True)
                return
            except FileExistsError:
                raise _exists(file) from None
            except OSError:
                pass
        named = None
        while named is None:
            name = _temporary_name(file.parent, file)
            try:
                os.link(source, name, follow_symlinks=True)
                named = _Pending(os.open(name, os.O_RDONLY | _CLOEXEC), name)
            except FileExistsError:
                continue
            except OSError:
                named = _Pending.create(file.parent, file, anonymous=False)
                with self.stream() as content, named.stream() as copy:
                    content.seek(0)
                    shutil.copyfileobj(content, copy)
        try:
            assert named.temporary is not None
            _place(named.temporary, file, overwrite)
        finally:
            named.discard()

    def discard(self) -> None:
        """Close the file; a temporary name is removed (it is ours: created exclusively)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.temporary is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temporary)
            self.temporary = None


def _temporary_name(folder: Path, file: Path) -> Path:
    return folder / f".{file.stem}.{secrets.token_hex(4)}{file.suffix}.part"


def _exists(file: Path) -> FileExistsError:
    return FileExistsError(f"{file}: already exists (use --force to replace it)")


def _place(temporary: Path, file: Path, overwrite: bool) -> None:
    """Move a complete temporary file to ``file`` (a hard link when not overwriting)."""
    if overwrite:
        os.replace(temporary, file)
        return
    try:
        os.link(temporary, file)
    except FileExistsError:
        raise _exists(file) from None
    except OSError:  # no hard links on this file system
        if os.path.lexists(file):
            raise _exists(file) from None
        os.replace(temporary, file)


def atomic_write(
    file: Path, encode: Callable[[IO[bytes]], None], *, overwrite: bool = False
) -> None:
    """Call ``encode(stream)`` on a new file in ``file``'s folder, then name it ``file``.

    ``stream`` is a seekable binary file.  If ``encode`` raises, nothing is left behind.
    With ``overwrite`` False an existing ``file`` is never replaced (``FileExistsError``,
    even if it appeared while encoding).  If ``file`` was :func:`hold`-en, the complete
    file stays unnamed until :func:`release`.
    """
    try:
        pending = _Pending.create(file.parent, file)
    except OSError as exc:
        raise ImageWriteError(
            f"{file}: cannot create a file there ({exc.strerror or exc})"
        ) from exc
    held = False
    try:
        try:
            with pending.stream(file) as stream:
                encode(stream)
        except (OSError, ValueError, TypeError) as exc:
            raise ImageWriteError(f"{file}: could not be written ({exc})") from exc
        stale = None
        with _held_lock:
            held = file in _held
            if held:
                stale, _held[file] = _held[file], pending
        if held:
            if stale is not None:
                stale.discard()
            return
        pending.link(file, overwrite)
    finally:
        if not held:
            pending.discard()


def hold(file: Path) -> None:
    """Keep the next :func:`atomic_write` to ``file`` unnamed until :func:`release`."""
    with _held_lock:
        _held.setdefault(file, None)


def release(file: Path, target: Path, overwrite: bool) -> bool:
    """Name the held write to ``file`` as ``target`` (see :func:`atomic_write`'s rules).

    Returns False if nothing was written to ``file``.
    """
    with _held_lock:
        pending = _held.pop(file, None)
    if pending is None:
        return False
    pending.link(target, overwrite)
    return True


def drop(file: Path) -> None:
    """Forget a held path; what was written to it vanishes."""
    with _held_lock:
        pending = _held.pop(file, None)
    if pending is not None:
        pending.discard()
