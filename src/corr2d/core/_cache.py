"""Where compiled loops are cached on disk, and the checks that make loading them safe.

Two kinds of files are cached: Python source that :mod:`corr2d.core._unrolled`
generates for a kernel shape, and numba's compiled machine code (an index and data
files, both pickles).  Loading either runs code, so a folder another user can write to
is a way into the process.  Before anything is loaded from it, the folder is checked:

* it is a real folder, not a symbolic link;
* it belongs to this user, and neither group nor others may write to it (a folder
  created here is created with mode 0700, as are missing parents);
* every folder above it belongs to this user or to root and is not writable by others
  (unless sticky, as ``/tmp`` is), so nobody else can swap it for another.

The folder is ``$CORR2D_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/corr2d``, else
``~/.cache/corr2d``; if that cannot be created (a read-only or missing home), a
per-user folder in the temporary directory.  A folder that fails a check is refused with
one warning per process, and the loops are compiled without a disk cache: everything
works, each process compiling what it uses (one to a few seconds per loop).
``CORR2D_DISK_CACHE=0`` (or ``off``, ``no``, ``false``) chooses that mode without a
warning.

Generated source is never imported from the file: the module is executed from the text
just generated, and the file (rewritten if it differs) only gives numba a source to key
its cache on and the reader something to look at.  numba's files for corr2d's loops go
to ``<folder>/numba``, never into the installed package or numba's user-wide folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
import tempfile
import types
import warnings
from pathlib import Path
from typing import Any

from corr2d._forksafe import fork_safe_lock

__all__ = [
    "SWITCH",
    "attach_disk_cache",
    "cache_folder",
    "configured_folder",
    "load_generated",
    "refusal",
]

#: The environment variable that turns the disk cache off.
SWITCH = "CORR2D_DISK_CACHE"
_OFF = ("0", "off", "no", "false")

_lock = fork_safe_lock(globals(), "_lock")
_warned: set[str] = set()
_caches: dict[tuple[str, str], Any] = {}


def configured_folder() -> Path:
    """The folder the environment asks for (it may not exist yet)."""
    configured = os.environ.get("CORR2D_CACHE_DIR")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path(os.path.expanduser("~")) / ".cache"
    return base / "corr2d"


def _user() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else -1


def refusal(folder: Path) -> str | None:
    """Why ``folder`` is unsafe to load code from, or None if it passes every check."""
    user = _user()
    if user < 0:  # no POSIX owners and modes to check
        return None if folder.is_dir() else "is not a folder"
    try:
        info = os.lstat(folder)
    except OSError as exc:
        return f"cannot be inspected ({exc.strerror or exc})"
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if info.st_uid != user:
        return f"belongs to uid {info.st_uid}, not to this user (uid {user})"
    if info.st_mode & 0o022:
        return f"can be written by other users (mode {stat.S_IMODE(info.st_mode):04o})"
    parent = Path(os.path.realpath(folder.parent))
    for above in (parent, *parent.parents):
        try:
            info = os.stat(above)
        except OSError as exc:
            return f"lies in {above}, which cannot be inspected ({exc.strerror or exc})"
        if info.st_uid not in (0, user):
            return f"lies in {above}, which belongs to uid {info.st_uid}"
        if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
            mode = stat.S_IMODE(info.st_mode)
            return f"lies in {above}, which other users can write to (mode {mode:04o})"
    return None


def _make_private(folder: Path) -> None:
    """Create ``folder`` and its missing parents with mode 0700."""
    missing = []
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate):
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(candidate, 0o700)


def _warn_once(message: str) -> None:
    with _lock:
        if message in _warned:
            return
        _warned.add(message)
    warnings.warn(message, RuntimeWarning, stacklevel=4)


def _disabled() -> bool:
    return os.environ.get(SWITCH, "").strip().lower() in _OFF


def cache_folder() -> Path | None:
    """The checked folder for generated loops and compiled code; None: no disk cache."""
    if _disabled():
        return None
    candidates = [configured_folder()]
    if not os.environ.get("CORR2D_CACHE_DIR"):
        candidates.append(Path(tempfile.gettempdir()) / f"corr2d-cache-{max(_user(), 0)}")
    problems = []
    for folder in candidates:
        try:
            _make_private(folder)
        except OSError as exc:
            problems.append(f"{folder} cannot be used ({exc.strerror or exc})")
            continue
        reason = refusal(folder)
        if reason is not None:
            problems.append(f"refusing {folder}: it {reason}")
            break  # an unsafe folder is reported, never silently worked around
        try:
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as exc:
            problems.append(f"{folder} cannot be written ({exc.strerror or exc})")
            continue
        return folder
    _warn_once(
        "corr2d: compiling without a disk cache (" + "; ".join(problems) + "); everything "
        "works, but each process compiles the loops it uses again. Set CORR2D_CACHE_DIR to "
        f"a private folder, or {SWITCH}=0 to choose this mode without this warning"
    )
    return None


def _library_key() -> str:
    """A digest of the core's sources: numba does not see changes in the intrinsics a
    loop calls, so a new version of any of them must not find an old cache."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _function_cache_class(folder: Path) -> Any:
    """A numba ``FunctionCache`` that keeps corr2d's compiled code in ``folder``/numba."""
    from numba.core import caching

    key = (str(folder), _library_key())
    with _lock:
        if key in _caches:
            return _caches[key]

    root = folder / "numba"
    package = str(Path(__file__).parent)

    class Locator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        def __init__(self, py_func: Any, py_file: str) -> None:
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            where = "core-" + key[1] if os.path.dirname(py_file) == package else "generated"
            self._cache_path = str(root / where)

        def get_cache_path(self) -> str:
            return self._cache_path

    class Impl(caching.CompileResultCacheImpl):
        _locator_classes: list[type[object]] = [Locator]  # noqa: RUF012 (numba's name and type)

    class SafeCache(caching.FunctionCache):
        """numba's cache, where a failure to read or write is a miss, not an error."""

        _impl_class = Impl

        def load_overload(self, sig: Any, target_context: Any) -> Any:
            if refusal(folder) is not None:
                return None
            try:
                return super().load_overload(sig, target_context)
            except Exception:  # a damaged entry: compile instead
                return None

        def save_overload(self, sig: Any, data: Any) -> None:
            try:
                super().save_overload(sig, data)
            except OSError as exc:
                _warn_once(f"corr2d: could not save compiled code in {folder} ({exc})")

    with _lock:
        _caches[key] = SafeCache
    return SafeCache


def attach_disk_cache(dispatcher: Any, folder: Path | None) -> None:
    """Give a numba dispatcher a disk cache in ``folder`` (None: leave it without)."""
    if folder is None or not hasattr(dispatcher, "_cache"):  # NUMBA_DISABLE_JIT: a function
        return
    try:
        dispatcher._cache = _function_cache_class(folder)(dispatcher.py_func)
    except (OSError, RuntimeError, AttributeError) as exc:
        _warn_once(f"corr2d: compiling without a disk cache ({folder}: {exc})")


def _write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text() == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    # atomically: concurrent processes may generate the same file
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def load_generated(name: str, text: str) -> tuple[types.ModuleType, Path | None]:
    """A module executed from ``text``, and the checked cache folder it is saved in.

    The file ``<folder>/<name>.py`` is written (if missing or different) so that numba
    can key its cache on it; the code that runs is always ``text`` itself.  Without a
    usable folder the module lives in memory only and the folder returned is None.
    """
    folder = cache_folder()
    filename = f"<corr2d generated {name}>"
    if folder is not None:
        path = folder / f"{name}.py"
        try:
            _write_if_changed(path, text)
            filename = str(path)
        except OSError as exc:
            _warn_once(f"corr2d: compiling without a disk cache ({path}: {exc})")
            folder = None
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module  # numba's cache finds functions' modules by name
    exec(compile(text, filename, "exec"), module.__dict__)
    return module, folder
