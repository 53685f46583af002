"""corr2d on Dask arrays: images larger than memory, chunk by chunk, on one machine or a
cluster.

Needs the ``dask`` extra (``pip install 'corr2d[dask]'``: Dask, distributed and Zarr).
``import corr2d`` never imports Dask; ``import corr2d.dask`` does.

* :func:`correlate2d`, :func:`convolve2d`, :func:`corr2d` (:mod:`corr2d.dask.correlate`)
  and :func:`conv2d` (:mod:`corr2d.dask.conv`): the in-memory faces' arguments, lazy
  results, every block computed by the in-memory core on a window with exact halos.
* :func:`estimate_kernel` (:mod:`corr2d.dask.estimate`): kernel estimation from pairs
  larger than memory, per-chunk accumulators merged in a tree.
* :func:`auto_chunks`: the chunk sizes these functions choose for NumPy data and files;
  :mod:`corr2d.dask.files`: tiled TIFF and Zarr read lazily and written band by band.

See ``docs/scale.md`` for when to use it, chunk sizes, clusters and limits.
"""

from __future__ import annotations

try:
    import dask.array  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise ImportError(
        "corr2d.dask needs Dask: install the extra with pip install 'corr2d[dask]'"
    ) from exc

from corr2d.dask._common import CHUNK_PIXELS, auto_chunks
from corr2d.dask.conv import conv2d
from corr2d.dask.correlate import convolve2d, corr2d, correlate2d
from corr2d.dask.estimate import estimate_kernel

__all__ = [
    "CHUNK_PIXELS",
    "auto_chunks",
    "conv2d",
    "convolve2d",
    "corr2d",
    "correlate2d",
    "estimate_kernel",
]
