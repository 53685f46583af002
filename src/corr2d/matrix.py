"""Correlation as a matrix product, both ways round.

A correlation is linear in the image and linear in the kernel, so either can be pulled
out as a matrix:

* :func:`correlation_matrix` fixes the kernel: a sparse matrix ``W`` (doubly
  block-Toeplitz for ``boundary='fill'``) with ``W @ X.ravel()`` equal to
  ``correlate2d(X, K, mode, boundary).ravel()``.  Its transpose maps an output gradient
  to the input gradient (what :func:`corr2d.conv2d_backward` computes).
* :func:`im2col` fixes the image: the patch matrix ``P`` with ``P @ K.ravel()`` equal to
  the 'valid' correlation.  Least squares on ``P`` learns a kernel in one step.

Both are built by index arithmetic on whole arrays; neither loops over pixels.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, NDArray

from corr2d._validation import as_array, as_pair, check_choice, fail, result_dtype

__all__ = ["MAX_BYTES", "correlation_matrix", "im2col"]

#: The largest array (in bytes) :func:`im2col` and :func:`correlation_matrix` will build.
MAX_BYTES = 1 << 30

_MODES = ("full", "valid", "same")
_BOUNDARIES = {"fill": "constant", "wrap": "wrap", "symm": "symmetric"}


def correlation_matrix(
    input_shape: int | tuple[int, int],
    kernel: ArrayLike,
    mode: Literal["full", "valid", "same"] = "valid",
    boundary: Literal["fill", "wrap", "symm"] = "fill",
) -> scipy.sparse.csr_matrix:
    """The sparse matrix of ``X -> correlate2d(X, kernel, mode, boundary)``.

    Row ``i * out_w + j`` of ``W`` holds the kernel weights at the columns of the input
    pixels that output ``(i, j)`` reads.  For ``boundary='fill'`` (with fill value 0)
    ``W`` is doubly block-Toeplitz: block ``(i, r)`` depends only on ``r - i`` and is itself
    Toeplitz.  'wrap' and 'symm' fold the taps that fall outside the image back onto the
    pixels they copy, so a pixel read twice gets the sum of its weights.

    Parameters
    ----------
    input_shape : int or (int, int)
        (M, N), the shape of the images ``W`` will multiply.
    kernel : array_like, shape (m, n)
        The kernel.  Complex kernels are conjugated, as ``correlate2d`` does.
    mode : {'valid', 'same', 'full'}, optional
        As for :func:`corr2d.correlate2d`: output shapes (M - m + 1, N - n + 1), (M, N)
        and (M + m - 1, N + n - 1).  Default 'valid'.  If the kernel is at least as large
        as the image in both dimensions, 'valid' swaps the two as SciPy does; the result
        is then ``W @ X.ravel()`` for real ``X`` (``W @ X.conj().ravel()`` for complex).
    boundary : {'fill', 'wrap', 'symm'}, optional
        How the image is extended (fill value 0).  Default 'fill'.

    Returns
    -------
    W : scipy.sparse.csr_matrix, shape (out_h * out_w, M * N)
        float64 for real integer/bool kernels, else the kernel's floating dtype.
        Kernel weights equal to zero are not stored.

    Raises
    ------
    ValueError
        For a bad shape, mode or boundary, a kernel that does not fit in 'valid' mode, or
        a matrix that would need more than ``MAX_BYTES`` (1 GiB) while being built.

    See Also
    --------
    im2col : the same correlation with the image held fixed.

    Examples
    --------
    The chapter's edge kernel on a 1x3 image: each row differences two neighbours.

    >>> import numpy as np
    >>> from corr2d import correlation_matrix
    >>> W = correlation_matrix((1, 3), [[1, -1]])
    >>> W.toarray()
    array([[ 1., -1.,  0.],
           [ 0.,  1., -1.]])
    >>> W @ np.array([5.0, 3.0, 3.0])
    array([2., 0.])
    """
    func = "correlation_matrix"
    shape = as_pair(func, "input_shape", _as_shape_arg(input_shape), 1)
    k = as_array(kernel, func, "kernel", ndim=2)
    check_choice(func, "mode", mode, _MODES)
    check_choice(func, "boundary", boundary, tuple(_BOUNDARIES))
    work = result_dtype(func, k)
    weights = np.conj(k).astype(work, copy=False)
    (big_h, big_w), (kh, kw) = shape, k.shape

    if mode == "valid" and (kh > big_h or kw > big_w):
        if kh >= big_h and kw >= big_w:
            return _swapped_valid(func, shape, weights)
        fail(
            func,
            "kernel",
            f"no larger than the input {shape} in every dimension, or at least as large "
            "in every dimension, for mode='valid'",
            f"shape {k.shape}",
        )

    pads = [_pads(mode, kh), _pads(mode, kw)]
    out_h = big_h + pads[0][0] + pads[0][1] - kh + 1
    out_w = big_w + pads[1][0] + pads[1][1] - kw + 1
    entries = out_h * out_w * kh * kw
    _check_bytes(
        func,
        "input_shape",
        "the matrix",
        entries * (2 * 8 + work.itemsize),
        f"{entries} stored weights for output {(out_h, out_w)}",
    )

    # source[e] = the original index an extended index e copies, or -1 for fill.
    np_mode = _BOUNDARIES[boundary]
    sources = []
    for size, pad in zip(shape, pads, strict=True):
        if np_mode == "constant":
            source = np.pad(np.arange(size), pad, mode="constant", constant_values=-1)
        else:
            source = np.pad(np.arange(size), pad, mode=np_mode)  # type: ignore[call-overload]
        sources.append(source)
    rows_src = sources[0][np.arange(out_h)[:, None] + np.arange(kh)[None, :]]  # (out_h, kh)
    cols_src = sources[1][np.arange(out_w)[:, None] + np.arange(kw)[None, :]]  # (out_w, kw)

    # Broadcast to (out_h, out_w, kh, kw): one entry per output and kernel tap.
    r = rows_src[:, None, :, None]
    c = cols_src[None, :, None, :]
    keep = (r >= 0) & (c >= 0) & (weights != 0)[None, None, :, :]
    out_index = np.arange(out_h * out_w).reshape(out_h, out_w, 1, 1)
    row_ids = np.broadcast_to(out_index, keep.shape)[keep]
    col_ids = r * big_w + c
    col_ids = np.broadcast_to(col_ids, keep.shape)[keep]
    values = np.broadcast_to(weights[None, None], keep.shape)[keep]
    matrix = scipy.sparse.coo_matrix(
        (values, (row_ids, col_ids)), shape=(out_h * out_w, big_h * big_w), dtype=work
    )
    csr = matrix.tocsr()  # sums the duplicates that 'wrap'/'symm' create
    csr.sum_duplicates()
    return csr


def _swapped_valid(
    func: str, shape: tuple[int, int], weights: NDArray[Any]
) -> scipy.sparse.csr_matrix:
    """'valid' with a kernel at least as large as the image: SciPy correlates the kernel
    with the image and reverses the result, so ``out[i, j] = sum_{a, b} X[a, b] *
    conj(conj(K))[P - 1 - i + a, Q - 1 - j + b]`` with (P, Q) the output shape."""
    (big_h, big_w), (kh, kw) = shape, weights.shape
    out_h, out_w = kh - big_h + 1, kw - big_w + 1
    entries = out_h * out_w * big_h * big_w
    _check_bytes(
        func,
        "input_shape",
        "the matrix",
        entries * (2 * 8 + weights.dtype.itemsize),
        f"{entries} stored weights for output {(out_h, out_w)}",
    )
    kernel = np.conj(weights)  # undo the conjugation: here the image is the one conjugated
    i = np.arange(out_h)[:, None, None, None]
    j = np.arange(out_w)[None, :, None, None]
    a = np.arange(big_h)[None, None, :, None]
    b = np.arange(big_w)[None, None, None, :]
    values = kernel[out_h - 1 - i + a, out_w - 1 - j + b]
    dense = values.reshape(out_h * out_w, big_h * big_w)
    return scipy.sparse.csr_matrix(dense)


def im2col(
    X: ArrayLike,
    kernel_shape: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
) -> NDArray[Any]:
    """The patch matrix of ``X``: one row per output position, one column per kernel tap.

    ``P[i * out_w + j, a * k_w + b] = X[i * s_h + a * d_h, j * s_w + b * d_w]``, so
    ``P @ K.ravel()`` is the 'valid' correlation of ``X`` with ``K`` at that stride and
    dilation (``conv2d`` with padding 0), reshaped to (out_h, out_w).

    Parameters
    ----------
    X : array_like, shape (H, W)
        The image (any numeric dtype; the result keeps it).
    kernel_shape : int or (int, int)
        (k_h, k_w).
    stride : int or (int, int), optional
        Step between windows, >= 1.  Default 1.
    dilation : int or (int, int), optional
        Spacing between taps, >= 1 (1 means none).  Default 1.

    Returns
    -------
    P : ndarray, shape (out_h * out_w, k_h * k_w)
        ``out_h = (H - d_h * (k_h - 1) - 1) // s_h + 1``, likewise ``out_w``.

    Raises
    ------
    ValueError
        If the dilated kernel does not fit in ``X``, or ``P`` would exceed ``MAX_BYTES``
        (1 GiB); the message gives the size.

    See Also
    --------
    correlation_matrix : the same correlation with the kernel held fixed.

    Examples
    --------
    The chapter's 3x3 example: the first row is the top-left 2x2 window.

    >>> import numpy as np
    >>> from corr2d import im2col
    >>> X = np.arange(9.0).reshape(3, 3)
    >>> im2col(X, (2, 2))
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    >>> im2col(X, (2, 2)) @ np.array([0.0, 1.0, 2.0, 3.0])
    array([19., 25., 37., 43.])
    """
    func = "im2col"
    image = as_array(X, func, "X", ndim=2)
    kh, kw = as_pair(func, "kernel_shape", _as_shape_arg(kernel_shape), 1)
    sh, sw = as_pair(func, "stride", stride, 1)
    dh, dw = as_pair(func, "dilation", dilation, 1)
    eff_h, eff_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    big_h, big_w = image.shape
    if eff_h > big_h or eff_w > big_w:
        fail(
            func,
            "kernel_shape",
            f"no larger, once dilated to {(eff_h, eff_w)}, than X (shape {image.shape})",
            (kh, kw),
        )
    out_h = (big_h - eff_h) // sh + 1
    out_w = (big_w - eff_w) // sw + 1
    nbytes = out_h * out_w * kh * kw * image.dtype.itemsize
    _check_bytes(
        func,
        "X",
        "the patch matrix",
        nbytes,
        f"shape ({out_h * out_w}, {kh * kw}) of {image.dtype}",
    )
    rows = np.arange(out_h)[:, None, None, None] * sh + np.arange(kh)[None, None, :, None] * dh
    cols = np.arange(out_w)[None, :, None, None] * sw + np.arange(kw)[None, None, None, :] * dw
    patches = image[rows, cols]  # (out_h, out_w, kh, kw)
    return np.ascontiguousarray(patches.reshape(out_h * out_w, kh * kw))


def _as_shape_arg(value: Any) -> Any:
    """Let a shape be given as a list, tuple or int (``as_pair`` checks the rest)."""
    return tuple(value) if isinstance(value, (list, np.ndarray)) else value


def _pads(mode: str, k: int) -> tuple[int, int]:
    """Border widths turning ``mode`` into a 'valid' correlation (as ``correlate2d``)."""
    if mode == "valid":
        return (0, 0)
    if mode == "full":
        return (k - 1, k - 1)
    return ((k - 1) // 2, k - 1 - (k - 1) // 2)


def _check_bytes(func: str, name: str, what: str, nbytes: int, detail: str) -> None:
    if nbytes > MAX_BYTES:
        fail(
            func,
            name,
            f"small enough that {what} fits in MAX_BYTES = {MAX_BYTES} bytes (1 GiB)",
            f"{nbytes} bytes needed ({detail})",
        )
