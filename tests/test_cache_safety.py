"""The compile cache cannot be hijacked, and no disk cache is a supported mode.

Generated loops used to be imported from a predictable file name in a folder that was
never checked, so a module planted there by another user ran in the victim's process.
Each test plants such a module, with code that leaves a marker file if it ever runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from corr2d.core import _cache, _microkernels, _unrolled

NOBODY = 65534


def _planted_source(marker: Path) -> str:
    return textwrap.dedent(
        f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("planted code ran")


        def correlate(x, kernel, out):
            out[...] = 0
        """
    )


def _plant(folder: Path, marker: Path) -> None:
    """Modules under the names corr2d gives the 3x3 image and unrolled loops."""
    image_name = (
        "corr2d_image_3x3_"
        + hashlib.sha256(
            _unrolled.image_source(3, 3).encode() + Path(_microkernels.__file__).read_bytes()
        ).hexdigest()[:12]
    )
    unrolled_name = (
        "corr2d_unrolled_3x3_" + hashlib.sha256(_unrolled.source(3, 3).encode()).hexdigest()[:12]
    )
    for name in (image_name, unrolled_name):
        (folder / f"{name}.py").write_text(_planted_source(marker))


#: A victim computation that takes the generated image loop (300x300, 3x3, direct).
VICTIM = textwrap.dedent(
    """
    import numpy as np
    from scipy import signal
    import corr2d
    x = np.random.default_rng(1).standard_normal((300, 300))
    k = np.arange(9.0).reshape(3, 3)
    got = corr2d.corr2d(x, k, method="direct")
    assert np.allclose(got, signal.correlate2d(x, k, "valid")), "wrong result"
    print("ok")
    """
)


def _environment(**changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("CORR2D_CACHE_DIR", "XDG_CACHE_HOME", "NUMBA_CACHE_DIR", _cache.SWITCH):
        env.pop(name, None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _run(env: dict[str, str], script: str = VICTIM) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )


def _unwritable(tmp_path: Path) -> Path:
    """A path below a regular file: nobody, root included, can create anything there."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    return blocker / "home"


def _warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "RuntimeWarning" in line]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or not hasattr(os, "fork"),
    reason="planting as a second user needs root (the folder and symlink tests run anyway)",
)
def test_module_planted_by_another_user_never_runs(tmp_path) -> None:
    """The reported attack: an unwritable HOME sends the cache to the temporary folder,
    where another user (uid 65534) created corr2d's folder first."""
    shared_tmp = Path(tempfile.mkdtemp(prefix="corr2d-shared-"))  # reachable by the attacker
    try:
        os.chmod(shared_tmp, 0o1777)  # like /tmp
        _attack_through_shared_tmp(tmp_path, shared_tmp)
    finally:
        shutil.rmtree(shared_tmp)


def _attack_through_shared_tmp(tmp_path: Path, shared_tmp: Path) -> None:
    marker = shared_tmp / "pwned"
    planted_folder = shared_tmp / f"corr2d-cache-{os.geteuid()}"
    pid = os.fork()
    if pid == 0:  # the attacker
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            planted_folder.mkdir(mode=0o777)
            os.chmod(planted_folder, 0o777)
            _plant(planted_folder, marker)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert planted_folder.stat().st_uid == NOBODY
    assert len(list(planted_folder.glob("*.py"))) == 2

    env = _environment(
        HOME=str(_unwritable(tmp_path)),
        TMPDIR=str(shared_tmp),
        NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"),
    )
    result = _run(env)
    assert not marker.exists(), "the planted module ran in the victim's process"
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    warnings = _warning_lines(result.stderr)
    assert len(warnings) == 1
    assert "refusing" in warnings[0] and f"uid {NOBODY}" in warnings[0]


@pytest.fixture
def fresh_loops(monkeypatch):
    """Generated loops compiled anew in this process, warnings shown again."""
    monkeypatch.setattr(_unrolled, "_image_loaded", {})
    monkeypatch.setattr(_cache, "_warned", set())
    for name in ("XDG_CACHE_HOME", _cache.SWITCH):
        monkeypatch.delenv(name, raising=False)


def _compute_with_image_loop() -> None:
    x = np.random.default_rng(2).standard_normal((200, 200))
    k = np.arange(9.0).reshape(3, 3)
    out = np.empty((198, 198))
    _unrolled.image_loop(3, 3).serial(x, k, out)
    np.testing.assert_allclose(out, signal.correlate2d(x, k, "valid"), atol=1e-12)


@pytest.mark.parametrize("attack", ["group-writable folder", "symbolic link"])
def test_unsafe_folder_is_refused_with_one_warning(tmp_path, monkeypatch, fresh_loops, attack):
    marker = tmp_path / "pwned"
    planted = tmp_path / "planted"
    planted.mkdir()
    _plant(planted, marker)
    if attack == "symbolic link":
        folder = tmp_path / "cache"
        folder.symlink_to(planted)
        reason = "symbolic link"
    else:
        os.chmod(planted, 0o777)
        folder = planted
        reason = "can be written by other users (mode 0777)"
    monkeypatch.setenv("CORR2D_CACHE_DIR", str(folder))
    with pytest.warns(RuntimeWarning, match="without a disk cache") as caught:
        _compute_with_image_loop()
        _compute_with_image_loop()  # warned once only
    assert not marker.exists()
    assert len(caught) == 1 and reason in str(caught[0].message)
    assert str(folder) in str(caught[0].message)


def test_folder_below_a_world_writable_parent_is_refused(tmp_path) -> None:
    parent = tmp_path / "open"
    parent.mkdir()
    os.chmod(parent, 0o777)  # anyone could rename our folder away and put theirs there
    folder = parent / "cache"
    folder.mkdir(mode=0o700)
    reason = _cache.refusal(folder)
    assert reason is not None and "other users can write to (mode 0777)" in reason
    os.chmod(parent, 0o1777)  # sticky, as /tmp: only the owner may rename
    assert _cache.refusal(folder) is None


def test_new_folders_are_private_and_hold_what_runs(tmp_path, monkeypatch, fresh_loops) -> None:
    folder = tmp_path / "a" / "b" / "cache"
    monkeypatch.setenv("CORR2D_CACHE_DIR", str(folder))
    _compute_with_image_loop()
    for created in (tmp_path / "a", tmp_path / "a" / "b", folder):
        assert stat.S_IMODE(created.stat().st_mode) == 0o700
    # the file is what ran: a later edit of it is overwritten, never executed
    (saved,) = folder.glob("corr2d_image_3x3_*.py")
    text = saved.read_text()
    marker = tmp_path / "pwned"
    saved.write_text(_planted_source(marker))
    monkeypatch.setattr(_unrolled, "_image_loaded", {})
    _compute_with_image_loop()
    assert not marker.exists() and saved.read_text() == text


def test_unwritable_home_runs_without_disk_cache(tmp_path) -> None:
    """A service account or read-only container: no cache variable, HOME unwritable and
    no folder to be had in the temporary directory either (a file holds its name).
    Every path computes; one warning says why it is slow."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    (temporary / f"corr2d-cache-{os.geteuid()}").write_text("")
    env = _environment(HOME=str(_unwritable(tmp_path)), TMPDIR=str(temporary))
    script = VICTIM + textwrap.dedent(
        """
        x = np.random.default_rng(3).standard_normal((2, 8, 20, 20))
        w = np.random.default_rng(4).standard_normal((8, 8, 3, 3))
        y = corr2d.conv2d(x, w, padding=1)
        g = corr2d.conv2d_backward(np.ones_like(y), x, w, padding=1)
        assert g.weight.shape == w.shape
        image = np.random.default_rng(5).standard_normal((400, 400)).astype(np.float32)
        corr2d.correlate2d(image, np.ones((31, 31), np.float32), "same", method="fft")
        print("ok")
        """
    )
    result = _run(env, script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "ok"]
    warnings = _warning_lines(result.stderr)
    assert len(warnings) == 1 and "compiling without a disk cache" in warnings[0]


def test_switch_turns_the_disk_cache_off_silently(tmp_path) -> None:
    folder = tmp_path / "cache"
    env = _environment(CORR2D_CACHE_DIR=str(folder), **{_cache.SWITCH: "0"})
    result = _run(env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok" and "Warning" not in result.stderr
    assert not folder.exists()
