"""Long compiled calls in pieces (Ctrl-C is honoured between them), a forked child that
does not inherit a held lock, and NUMBA_DISABLE_JIT on every path.

The pieces must not change a single number: with the piece length made tiny, every
path is compared with SciPy, PyTorch and the unsplit call.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from scipy import signal as scipy_signal

import corr2d
from corr2d.core import _engine


@pytest.fixture
def tiny_pieces(monkeypatch):
    """Every call long enough for several pieces."""
    monkeypatch.setattr(_engine, "PIECE_NS", 2e4)


@pytest.mark.parametrize(
    ("dtype", "shape", "kernel_shape"),
    [
        (np.float32, (300, 260), (5, 7)),  # register-blocked image loop
        (np.complex128, (200, 180), (3, 4)),  # loop unrolled for the shape
        (np.float64, (150, 170), (9, 40)),  # generic loop
        (np.float64, (40, 50), (3, 3)),  # small: generic, serial
    ],
)
def test_pieces_of_a_single_image_give_the_same_numbers(tiny_pieces, dtype, shape, kernel_shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    k = rng.standard_normal(kernel_shape).astype(dtype)
    got = corr2d.corr2d(x, k, method="direct")
    expected = scipy_signal.correlate2d(x, np.conj(k), "valid")
    np.testing.assert_allclose(
        got, expected, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-3
    )
    assert len(_engine.row_pieces(got.shape[0], 1e9, 6)) > 1


@pytest.mark.parametrize("stride", [(1, 1), (2, 3)])
@pytest.mark.parametrize("dilation", [(1, 1), (2, 1)])
def test_pieces_of_strided_dilated_single_images(tiny_pieces, stride, dilation) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 1, 90, 70))
    w = rng.standard_normal((1, 1, 4, 5))
    got = corr2d.conv2d(x, w, stride=stride, dilation=dilation, padding=(3, 1))
    expected = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), stride=stride, dilation=dilation, padding=(3, 1)
    ).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-10)


@pytest.mark.parametrize(
    ("channels", "groups", "stride", "padding", "padding_mode"),
    [
        ((8, 16), 1, (1, 1), (2, 1), "zeros"),  # blocked kernels, zero padding written in
        ((8, 16), 2, (2, 1), (1, 3), "zeros"),  # blocked, strided, grouped
        ((3, 2), 1, (1, 1), (2, 2), "reflect"),  # patch matrices / direct loops
        ((4, 4), 4, (1, 2), (1, 1), "circular"),  # depthwise
    ],
)
def test_pieces_of_a_layer_match_pytorch(
    tiny_pieces, channels, groups, stride, padding, padding_mode
):
    rng = np.random.default_rng(5)
    c_in, c_out = channels
    x = rng.standard_normal((3, c_in, 23, 19)).astype(np.float32)
    w = rng.standard_normal((c_out, c_in // groups, 3, 4)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    module = torch.nn.Conv2d(
        c_in, c_out, (3, 4), stride, padding, groups=groups, padding_mode=padding_mode
    )
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(w))
        module.bias.copy_(torch.from_numpy(b))
    xt = torch.tensor(x, requires_grad=True)
    yt = module(xt)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    kwargs = {"stride": stride, "padding": padding, "groups": groups, "padding_mode": padding_mode}
    y = corr2d.conv2d(x, w, b, **kwargs)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-4, atol=1e-4)
    grads = corr2d.conv2d_backward(g, x, w, **kwargs)
    assert xt.grad is not None and module.weight.grad is not None
    np.testing.assert_allclose(grads.input, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads.weight, module.weight.grad.numpy(), rtol=1e-4, atol=1e-3)


def test_piece_boundaries_cover_every_row_once() -> None:
    for rows in (1, 5, 6, 7, 100, 1001):
        for minimum in (1, 6):
            pieces = _engine.row_pieces(rows, 37 * _engine.PIECE_NS, minimum)
            covered = [r for r0, r1 in pieces for r in range(r0, r1)]
            assert covered == list(range(rows))
            assert all(r1 - r0 >= min(minimum, rows) for r0, r1 in pieces)
    pieces = _engine.layer_pieces(10, 50, 3 * _engine.PIECE_NS)
    assert [(n0, n1) for n0, n1, _, _ in pieces] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    pieces = _engine.layer_pieces(2, 50, 8 * _engine.PIECE_NS)
    assert {(n0, n1) for n0, n1, _, _ in pieces} == {(0, 1), (1, 2)} and len(pieces) == 8


SIGINT_JOB = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import corr2d
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5000, 5000))
    k = rng.standard_normal((41, 41))  # no separable shortcut
    corr2d.corr2d(x[:200, :200], k, method="direct")  # compile before the clock starts
    print("start", flush=True)
    start = time.perf_counter()
    try:
        corr2d.corr2d(x, k, method="direct")
    except KeyboardInterrupt:
        print(f"interrupted {time.perf_counter() - start:.3f}", flush=True)
        sys.exit(0)
    print(f"finished {time.perf_counter() - start:.3f}", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_sigint_ends_a_long_job_long_before_it_would_finish() -> None:
    """5000x5000 float64 with a 41x41 kernel, direct: one call of compiled loops that
    takes over 2 s on a fast machine with AVX-512 (longer elsewhere).  Ctrl-C used to
    wait for all of it (1.8 s after the signal here); now it is honoured between pieces
    of about 50 ms (the latency is measured in bench/bench_robustness.py; the bound here
    is generous)."""
    child = subprocess.Popen([sys.executable, "-c", SIGINT_JOB], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "start"
        time.sleep(0.3)
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        line = child.stdout.readline().split()
        latency = time.perf_counter() - sent
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert line and line[0] == "interrupted", line
    assert latency < 1.0, f"Ctrl-C took {latency:.2f} s"


FORK_JOB = textwrap.dedent(
    """
    import os, threading, time
    import numpy as np
    import corr2d
    rng = np.random.default_rng(0)
    image = rng.standard_normal((1500, 1500)).astype(np.float32)
    kernel = rng.standard_normal((21, 21)).astype(np.float32)
    batch = rng.standard_normal((4, 16, 64, 64)).astype(np.float32)
    weight = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)

    def compute(scale=1):
        corr2d.corr2d(image[: 1500 // scale, : 1500 // scale], kernel, method="direct")
        corr2d.conv2d(batch[: 4 // scale], weight, padding=1)
        corr2d.conv2d(batch[:1, :1], weight[:1, :1], stride=2)  # the 2-D loops, strided

    compute()  # compile
    stop = False

    def busy():
        while not stop:
            compute()

    worker = threading.Thread(target=busy)
    worker.start()
    time.sleep(0.3)
    children = []
    for _ in range(6):  # forks land inside the other thread's parallel calls
        pid = os.fork()
        if pid == 0:
            compute(scale=2)
            os._exit(0)
        children.append(pid)
        time.sleep(0.05)
    deadline = time.time() + 20
    statuses = {}
    while children and time.time() < deadline:
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                statuses[pid] = os.waitstatus_to_exitcode(status)
                children.remove(pid)
        time.sleep(0.05)
    for pid in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    stop = True
    worker.join()
    print(f"deadlocked {len(children)} exits {sorted(statuses.values())}")
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_a_child_forked_while_another_thread_computes_does_not_deadlock() -> None:
    result = subprocess.run(
        [sys.executable, "-c", FORK_JOB], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "deadlocked 0 exits [0, 0, 0, 0, 0, 0]"


DISABLED_JIT_JOB = textwrap.dedent(
    """
    import numpy as np, torch
    from scipy import signal
    import corr2d
    rng = np.random.default_rng(6)
    # an image large enough for the generated loops (the image loop, when compiled)
    x = rng.standard_normal((131, 132)).astype(np.float32)
    k = rng.standard_normal((3, 3)).astype(np.float32)
    got = corr2d.corr2d(x, k)
    assert np.allclose(got, signal.correlate2d(x, k, "valid"), atol=1e-4)
    got = corr2d.correlate2d(x[:40, :50].astype(np.float64), k, "same", "symm", method="fft")
    assert np.allclose(got, signal.correlate2d(x[:40, :50], k, "same", "symm"), atol=1e-5)
    # a layer wide enough for the blocked kernels, strided, with its backward
    xb = rng.standard_normal((2, 4, 12, 11))
    w = rng.standard_normal((8, 4, 3, 3))
    xt = torch.tensor(xb, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, stride=2, padding=1)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.from_numpy(g))
    assert np.allclose(corr2d.conv2d(xb, w, stride=2, padding=1), yt.detach().numpy())
    grads = corr2d.conv2d_backward(g, xb, w, stride=2, padding=1)
    assert np.allclose(grads.input, xt.grad.numpy()) and np.allclose(grads.weight, wt.grad.numpy())
    print("ok")
    """
)


def test_numba_disable_jit_works_on_every_path() -> None:
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    result = subprocess.run(
        [sys.executable, "-c", DISABLED_JIT_JOB],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"
