"""Atomic writes: no process-wide state touched, nothing left behind, nothing clobbered."""

from __future__ import annotations

import ast
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import corr2d
from corr2d.io import _atomic, read_image, read_kernel, write_image, write_kernel
from corr2d.io.errors import ImageWriteError

SOURCE = Path(corr2d.__file__).parent


def test_no_call_of_os_umask_anywhere_in_the_package() -> None:
    calls = []
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "umask":
                calls.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
            if isinstance(node, ast.Name) and node.id == "umask":
                calls.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    assert calls == []


def test_writers_never_read_or_change_the_umask(tmp_path, monkeypatch) -> None:
    def forbidden(mask: int) -> int:
        raise AssertionError("os.umask called: process-wide state changed to write a file")

    monkeypatch.setattr(os, "umask", forbidden)
    write_image(tmp_path / "a.png", np.zeros((4, 5), np.uint8))
    write_image(tmp_path / "a.tif", np.zeros((4, 5), np.float32))
    write_image(tmp_path / "a.png", np.ones((4, 5), np.uint8), overwrite=True)
    write_kernel(tmp_path / "k.npy", [[1.0, -1.0]])
    assert read_image(tmp_path / "a.png").max() == 1
    np.testing.assert_array_equal(read_kernel(tmp_path / "k.npy"), [[1.0, -1.0]])


def test_new_files_get_the_permissions_the_umask_gives(tmp_path) -> None:
    """In a child with its own umask, each writer's file has mode 0666 & ~umask."""
    masks = (0o022, 0o027, 0o077)
    script = textwrap.dedent(
        """
        import os, sys
        import numpy as np
        from corr2d.io import write_image, write_kernel
        from corr2d.plot import plot_loss
        for folder in sys.argv[1:]:
            os.umask(int(os.path.basename(folder), 8))
            write_image(os.path.join(folder, "x.png"), np.zeros((3, 3), np.uint8))
            write_image(os.path.join(folder, "x.png"), np.ones((3, 3), np.uint8), overwrite=True)
            write_kernel(os.path.join(folder, "k.csv"), [[1.0]])
            plot_loss([3.0, 2.0, 1.0], os.path.join(folder, "loss.png"))
        """
    )
    folders = [tmp_path / f"{mask:03o}" for mask in masks]
    for folder in folders:
        folder.mkdir()
    subprocess.run([sys.executable, "-c", script, *map(str, folders)], check=True, timeout=120)
    for mask, folder in zip(masks, folders, strict=True):
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
        assert modes == dict.fromkeys(["x.png", "k.csv", "loss.png"], 0o666 & ~mask)


def _kill_during_write(folder: Path, body: str) -> None:
    """Start a child that writes into ``folder``, SIGKILL it mid-write, wait for it."""
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        import numpy as np
        folder = Path(sys.argv[1])

        def stall(stream):
            stream.write(b"x" * 2**20)  # a partial file: a megabyte written
            stream.flush()
            print("writing", flush=True)
            time.sleep(60)
        """
    ) + textwrap.dedent(body)
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "writing"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL


def test_kill_9_while_writing_leaves_no_file(tmp_path) -> None:
    if not _atomic.anonymous_files_supported(tmp_path):
        pytest.skip("kill -9 leaves nothing only with anonymous files (Linux O_TMPFILE)")
    _kill_during_write(
        tmp_path,
        """
        from corr2d.io._atomic import atomic_write
        atomic_write(folder / "big.png", stall)
        """,
    )
    assert list(tmp_path.iterdir()) == []


def test_kill_9_between_a_commands_writes_leaves_no_file(tmp_path) -> None:
    """The command line writes every output, then names them all: a kill after the
    first write and before the naming leaves no staged file either."""
    if not _atomic.anonymous_files_supported(tmp_path):
        pytest.skip("kill -9 leaves nothing only with anonymous files (Linux O_TMPFILE)")
    _kill_during_write(
        tmp_path,
        """
        from corr2d.cli._shared import Output, Outputs
        from corr2d.io import write_image
        from corr2d.io._atomic import atomic_write
        outputs = Outputs([Output(folder / "out.png", "image"),
                           Output(folder / "plot.png", "figure")], force=False)
        with outputs:
            write_image(outputs.stage(folder / "out.png"), np.zeros((500, 500), np.uint8))
            atomic_write(outputs.stage(folder / "plot.png"), stall)
        """,
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("anonymous", [True, False], ids=["anonymous", "named-temporary"])
def test_a_failed_encoder_leaves_nothing(tmp_path, monkeypatch, anonymous) -> None:
    if not anonymous:
        monkeypatch.setattr(_atomic, "_O_TMPFILE", 0)

    def broken(stream):
        stream.write(b"partial")
        raise ValueError("encoder failed")

    with pytest.raises(ImageWriteError, match="encoder failed"):
        _atomic.atomic_write(tmp_path / "x.png", broken)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("anonymous", [True, False], ids=["anonymous", "named-temporary"])
def test_a_file_that_appears_while_encoding_is_never_replaced(
    tmp_path, monkeypatch, anonymous
) -> None:
    """Another process created the file meanwhile: it is kept, byte for byte."""
    if not anonymous:
        monkeypatch.setattr(_atomic, "_O_TMPFILE", 0)
    target = tmp_path / "x.png"

    def racing(stream):
        stream.write(b"ours")
        target.write_bytes(b"theirs")

    with pytest.raises(FileExistsError, match="already exists"):
        _atomic.atomic_write(target, racing)
    assert target.read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


@pytest.mark.parametrize("anonymous", [True, False], ids=["anonymous", "named-temporary"])
def test_overwrite_replaces_and_leaves_no_temporary(tmp_path, monkeypatch, anonymous) -> None:
    if not anonymous:
        monkeypatch.setattr(_atomic, "_O_TMPFILE", 0)
    target = tmp_path / "k.txt"
    target.write_text("old")
    write_kernel(target, [[2.0]], overwrite=True)
    np.testing.assert_array_equal(read_kernel(target), [[2.0]])
    assert [p.name for p in tmp_path.iterdir()] == ["k.txt"]


def test_without_proc_the_anonymous_file_is_copied_to_its_name(tmp_path, monkeypatch) -> None:
    """Where /proc cannot link an anonymous file, its content is copied instead."""
    real_link = os.link

    def no_proc(source, target, **kwargs):
        if str(source).startswith("/proc/"):
            raise PermissionError("no /proc here")
        return real_link(source, target, **kwargs)

    monkeypatch.setattr(os, "link", no_proc)
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_image(tmp_path / "x.png", image)
    write_image(tmp_path / "x.png", image[::-1], overwrite=True)
    np.testing.assert_array_equal(read_image(tmp_path / "x.png"), image[::-1])
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
