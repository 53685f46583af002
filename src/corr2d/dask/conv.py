"""The PyTorch face on Dask arrays: ``conv2d`` chunked over the batch and over space.

:func:`conv2d` takes the arguments of :func:`corr2d.conv2d` and returns a lazy
``dask.array.Array``.  The input's channels are gathered into one chunk (a layer mixes
them); the batch and the two spatial axes stay chunked.  Each output block is the
in-memory ``conv2d`` of a window that holds the block's receptive field, padded at the
image's edges by ``padding_mode`` (:mod:`corr2d.dask._halo`), so stride, dilation,
groups, bias and every padding mode give the in-memory numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from corr2d._validation import as_array, as_pair, fail
from corr2d.core import conv as _memory
from corr2d.core._padding import PADDING_MODES
from corr2d.core.conv import PaddingArg
from corr2d.dask._common import as_dask, in_memory, window_dtype
from corr2d.dask._graph import map_windows
from corr2d.dask._halo import merge_thin_chunks, plan_axis

__all__ = ["conv2d"]


@dataclass(frozen=True)
class _Layer:
    """The in-memory ``conv2d`` of a window, with no padding (the window holds it)."""

    weight: NDArray[Any]
    bias: NDArray[Any] | None
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    method: str
    dtype: Any
    operation: str = "conv2d"

    def __call__(self, window: NDArray[Any]) -> NDArray[Any]:
        return _memory.conv2d(
            window,
            self.weight,
            self.bias,
            self.stride,
            0,
            self.dilation,
            self.groups,
            method=self.method,  # type: ignore[arg-type]
            dtype=self.dtype,
        )


def conv2d(
    input: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: int | tuple[int, int] = 1,
    padding: PaddingArg = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros",
    *,
    method: Literal["auto", "direct", "fft"] = "auto",
    dtype: DTypeLike | None = None,
) -> Any:
    """2-D cross-correlation over a batch of multi-channel images, lazily
    (:func:`corr2d.conv2d`).

    Parameters
    ----------
    input : dask.array.Array or array_like, shape (N, C_in, H, W) or (C_in, H, W)
        The images; chunked along N, H and W as the caller likes (the channels are
        gathered into one chunk).
    weight, bias, stride, padding, dilation, groups, padding_mode, method, dtype
        As for :func:`corr2d.conv2d`; in memory.

    Returns
    -------
    out : dask.array.Array, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        Lazy.  Its batch chunks are the input's; its spatial chunks follow the input's
        (a cut after input pixel ``b`` becomes a cut after output ``ceil(b / stride)``).

    Examples
    --------
    A 2x2 sum with stride 2 on a 4x4 image held in 1-pixel chunks:

    >>> import numpy as np, dask.array as da
    >>> from corr2d.dask import conv2d
    >>> x = da.from_array(np.arange(16.0).reshape(1, 1, 4, 4), chunks=(1, 1, 1, 1))
    >>> conv2d(x, np.ones((1, 1, 2, 2)), stride=2).compute()
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    func = "conv2d"
    x, _ = as_dask(func, "input", input, 3, (-2, -1))
    if x.ndim > 4:
        fail(func, "input", "3-D or 4-D", got=f"{x.ndim}-D array of shape {x.shape}")
    batched = x.ndim == 4
    if not batched:
        x = x[None]
    w = as_array(in_memory(weight), func, "weight", ndim=4)
    b = None if bias is None else as_array(in_memory(bias), func, "bias", ndim=1)
    s = as_pair(func, "stride", stride, 1)
    d = as_pair(func, "dilation", dilation, 1)
    extent = (d[0] * (w.shape[2] - 1) + 1, d[1] * (w.shape[3] - 1) + 1)
    # The in-memory face checks every argument but the padding on an input the size of
    # the dilated kernel, and says which dtype the result has.
    probe = _memory.conv2d(
        np.zeros((1, x.shape[1], *extent), x.dtype),
        w,
        b,
        s,
        0,
        d,
        groups,
        padding_mode,
        method=method,
        dtype=dtype,
    )
    pads = _memory.conv2d_pads(func, padding, s, d, w.shape[2:], x.shape[2:], padding_mode)
    np_mode = PADDING_MODES[padding_mode]
    kernels = (w,) if b is None else (w, b)
    work = window_dtype(func, x.dtype, kernels, 0, np_mode == "constant", dtype)
    merged = {axis: merge_thin_chunks(x.chunks[axis], extent[axis - 2] - 1) for axis in (2, 3)}
    x = x.rechunk({1: -1, **merged})
    plans = (
        plan_axis(x.chunks[2], pads[0], np_mode, extent[0], s[0]),
        plan_axis(x.chunks[3], pads[1], np_mode, extent[1], s[1]),
    )
    layer = _Layer(w, b, s, d, int(groups), method, dtype)
    out = map_windows(
        x,
        (2, 3),
        plans,
        layer,
        window_dtype=work,
        out_dtype=probe.dtype,
        other_chunks={1: (w.shape[0],)},
        name="conv2d",
    )
    return out if batched else out[0]
