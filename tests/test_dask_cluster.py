"""corr2d on a dask.distributed cluster: two worker processes on loopback, started here.

The lazy faces and ``corr2d filter --scheduler`` computed on the cluster equal the
in-memory answers, and a worker killed in the middle of a job costs time, not
correctness: the scheduler recomputes what it held.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import cloudpickle
import dask.array as da
import numpy as np
import pytest
import tifffile
from distributed import Client, LocalCluster
from typer.testing import CliRunner

import corr2d
from corr2d import dask as cdask
from corr2d.cli import app

# The workers cannot import this test module: send its helpers by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as local:
        yield local


@pytest.fixture
def client(cluster):
    with Client(cluster) as connected:
        yield connected


def test_faces_computed_on_the_cluster_equal_in_memory(client):
    rng = np.random.default_rng(8)
    image = rng.standard_normal((300, 270))
    kernel = rng.standard_normal((7, 6))
    lazy = cdask.convolve2d(da.from_array(image, chunks=(64, 100)), kernel, "same", "wrap")
    np.testing.assert_allclose(
        client.compute(lazy).result(), corr2d.convolve2d(image, kernel, "same", "wrap"), atol=1e-12
    )
    batch = rng.standard_normal((3, 2, 40, 50))
    weight = rng.standard_normal((4, 2, 3, 3))
    lazy = cdask.conv2d(
        da.from_array(batch, chunks=(1, 2, 16, 20)),
        weight,
        stride=2,
        padding=1,
        padding_mode="reflect",
    )
    expected = corr2d.conv2d(batch, weight, stride=2, padding=1, padding_mode="reflect")
    np.testing.assert_allclose(client.compute(lazy).result(), expected, atol=1e-12)


def test_filter_command_on_the_cluster(cluster, tmp_path: Path):
    rng = np.random.default_rng(9)
    source = tmp_path / "in.tif"
    tifffile.imwrite(source, rng.random((400, 350)).astype(np.float32), tile=(64, 64))
    runner = CliRunner()
    common = ["filter", str(source), "-k", "gaussian:sigma=2", "--scale", "none"]
    result = runner.invoke(
        app,
        [
            *common[:2],
            str(tmp_path / "cluster.tif"),
            *common[2:],
            "--scheduler",
            cluster.scheduler_address,
            "--chunks",
            "128",
        ],
    )
    assert result.exit_code == 0, result.stderr
    result = runner.invoke(app, [*common[:2], str(tmp_path / "memory.tif"), *common[2:]])
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "cluster.tif"), tifffile.imread(tmp_path / "memory.tif")
    )


def test_estimate_kernel_on_the_cluster_equals_in_memory(client):
    """1e-10 relative on a well-conditioned pair; the same rank on a rank-deficient one."""
    import warnings

    rng = np.random.default_rng(11)
    X = rng.standard_normal((260, 240))
    K = rng.standard_normal((7, 7))
    Y = corr2d.correlate2d(X, K, "same", "symm") + 0.5
    options = {"mode": "same", "boundary": "symm", "bias": True}
    memory = corr2d.estimate_kernel(X, Y, (7, 7), **options)
    lazy = cdask.estimate_kernel(
        da.from_array(X, chunks=(64, 80)), da.from_array(Y, chunks=100), (7, 7), **options
    )
    assert lazy.rank == memory.rank == 50
    assert np.abs(lazy.kernel - memory.kernel).max() <= 1e-10 * np.abs(memory.kernel).max()
    assert lazy.bias == pytest.approx(memory.bias, rel=1e-10)
    flat = np.tile(rng.standard_normal(240), (260, 1))  # every row the same
    Y = corr2d.correlate2d(flat, K, "valid")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = corr2d.estimate_kernel(flat, Y, (7, 7))
        lazy = cdask.estimate_kernel(da.from_array(flat, chunks=70), Y, (7, 7))
    assert lazy.rank == memory.rank == 7 and not lazy.identifiable


def _slowly(block: np.ndarray) -> np.ndarray:
    time.sleep(0.15)
    return block


def test_a_worker_killed_mid_job_is_replaced_and_the_result_is_exact(client):
    rng = np.random.default_rng(10)
    image = rng.standard_normal((512, 512))
    kernel = rng.standard_normal((5, 5))
    lazy = cdask.correlate2d(da.from_array(image, chunks=64), kernel, "same", "symm")
    future = client.compute(lazy.map_blocks(_slowly, dtype=lazy.dtype))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        processing = client.processing()
        if sum(len(tasks) for tasks in processing.values()) and _done(client) >= 4:
            break
        time.sleep(0.05)
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    os.kill(pids[victim], signal.SIGKILL)
    result = future.result(timeout=180)
    np.testing.assert_allclose(
        result, corr2d.correlate2d(image, kernel, "same", "symm"), rtol=1e-12, atol=1e-12
    )
    # the nanny started a new worker process in place of the killed one
    client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in client.run(os.getpid).values()


def _done(client: Client) -> int:
    """Tasks the cluster has in memory."""
    return sum(len(keys) for keys in client.has_what().values())
