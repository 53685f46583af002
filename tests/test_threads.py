"""The public faces called from several Python threads at once (a thread pool filtering
a folder of photos, a web server's workers) give each caller its own right answer.

The core keeps state between calls (the last call's prepared task, per-thread scratch
rows, one pool of helper threads); these tests mix repeated same-shape calls, whose
prepared task is reused, with calls of other shapes and kernels, and check every result
against SciPy or PyTorch computed one at a time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy import signal

import corr2d
from corr2d.filtering import filter_image

THREADS = 6


def _jobs(count: int, images: int, kernels: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(7)
    return [(int(rng.integers(images)), int(rng.integers(kernels))) for _ in range(count)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_filtering_from_many_threads_gives_every_caller_its_own_image(dtype) -> None:
    rng = np.random.default_rng(0)
    # half the images share a shape, so consecutive calls reuse the prepared task
    shapes = [(64, 64)] * 4 + [(17, 90), (120, 33), (200, 150), (5, 7)]
    images = [rng.random(shape).astype(dtype) for shape in shapes]
    kernels = [
        rng.standard_normal(shape).astype(dtype) for shape in [(3, 3), (3, 3), (5, 7), (1, 9)]
    ]
    expected = {
        (i, k): signal.correlate2d(
            images[i].astype(np.float64), kernels[k].astype(np.float64), "same", "symm"
        )
        for i in range(len(images))
        for k in range(len(kernels))
    }
    jobs = _jobs(600, len(images), len(kernels))

    def work(job: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        image, kernel = images[job[0]], kernels[job[1]]
        return (
            filter_image(image, kernel, boundary="symm"),
            corr2d.correlate2d(image, kernel, "same", "symm"),
        )

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(work, jobs))
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    for job, outputs in zip(jobs, results, strict=True):
        for output in outputs:
            assert output.dtype == dtype
            np.testing.assert_allclose(output, expected[job], rtol=0, atol=tolerance)


def test_layers_from_many_threads_match_torch() -> None:
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(1)
    cases = [  # (input shape, weight shape, stride, padding, groups)
        ((2, 4, 20, 20), (8, 4, 3, 3), 1, 1, 1),
        ((2, 4, 20, 20), (8, 4, 3, 3), 1, 1, 1),
        ((1, 3, 33, 33), (6, 3, 7, 7), 2, 3, 1),
        ((3, 8, 14, 14), (8, 1, 3, 3), 1, 1, 8),
        ((2, 16, 9, 9), (4, 16, 1, 1), 1, 0, 1),
    ]
    data = [
        (rng.standard_normal(x), rng.standard_normal(w), stride, padding, groups)
        for x, w, stride, padding, groups in cases
    ]
    expected = []
    for x, w, stride, padding, groups in data:
        tx = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(w, requires_grad=True)
        ty = functional.conv2d(tx, tw, stride=stride, padding=padding, groups=groups)
        ty.backward(torch.ones_like(ty))
        expected.append((ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()))
    jobs = [case for case, _ in _jobs(300, len(cases), 1)]

    def work(case: int) -> tuple[np.ndarray, ...]:
        x, w, stride, padding, groups = data[case]
        y = corr2d.conv2d(x, w, stride=stride, padding=padding, groups=groups)
        grads = corr2d.conv2d_backward(
            np.ones_like(y), x, w, stride=stride, padding=padding, groups=groups
        )
        return y, grads.input, grads.weight

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(work, jobs))
    for case, outputs in zip(jobs, results, strict=True):
        for output, reference in zip(outputs, expected[case], strict=True):
            np.testing.assert_allclose(output, reference, rtol=1e-10, atol=1e-10)
