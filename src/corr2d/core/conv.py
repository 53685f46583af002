"""The PyTorch-compatible layer face: batched, multi-channel ``conv2d`` and its gradients.

``conv2d`` takes the arguments of ``torch.nn.functional.conv2d`` (plus
``torch.nn.Conv2d``'s ``padding_mode``) and returns the same numbers.  Like every
deep-learning "convolution" it computes a cross-correlation.  ``conv2d_backward``
sits beside it: the gradients of a correlation are correlations too (see its Notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from corr2d._validation import (
    METHODS,
    as_array,
    as_pair,
    check_choice,
    check_finite_for_fft,
    check_int,
    check_memory,
    fail,
    result_dtype,
)
from corr2d.core import _engine
from corr2d.core._integers import integer_plan, to_int64
from corr2d.core._padding import NO_PADS, PADDING_MODES, Pads, pad2d, pad2d_adjoint

__all__ = ["Conv2dGrads", "conv2d", "conv2d_backward", "conv2d_output_shape"]

PaddingArg = int | tuple[int, int] | Literal["valid", "same"]


@dataclass(frozen=True)
class _Setup:
    """Normalised arguments of one conv2d call, shared by forward and backward."""

    x: NDArray[Any]  # (N, C_in, H, W), working dtype, contiguous
    weight: NDArray[Any]  # (C_out, C_in/groups, kH, kW), working dtype, contiguous
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    pads: Pads
    np_mode: str
    batched: bool
    method: Literal["auto", "direct", "fft"]
    exact: bool  # integer inputs, computed exactly (see ``_integers``): return int64


def conv2d_output_shape(
    input_size: tuple[int, int],
    kernel_size: tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> tuple[int, int]:
    """Output height and width of :func:`conv2d`.

    ``out = floor((n + 2*p - d*(k - 1) - 1) / s) + 1`` along each axis.

    Examples
    --------
    ResNet's first layer: 224 pixels, 7x7 kernel, stride 2, padding 3.

    >>> from corr2d import conv2d_output_shape
    >>> conv2d_output_shape((224, 224), (7, 7), stride=2, padding=3)
    (112, 112)
    """
    func = "conv2d_output_shape"
    s = as_pair(func, "stride", stride, 1)
    p = as_pair(func, "padding", padding, 0)
    d = as_pair(func, "dilation", dilation, 1)
    n = as_pair(func, "input_size", tuple(input_size), 1)
    k = as_pair(func, "kernel_size", tuple(kernel_size), 1)
    return (
        (n[0] + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1,
        (n[1] + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1,
    )


def _setup(
    func: str,
    input: ArrayLike,
    weight: ArrayLike,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
    padding_mode: str,
    method: str,
    dtype: DTypeLike | None,
    bias: NDArray[Any] | None = None,
    integer_rule: bool = False,
) -> _Setup:
    x = as_array(input, func, "input", ndim=(3, 4), empty_batch=True)
    w = as_array(weight, func, "weight", ndim=4)
    batched = x.ndim == 4
    if not batched:
        x = x[None]
    s = as_pair(func, "stride", stride, 1)
    d = as_pair(func, "dilation", dilation, 1)
    check_choice(func, "padding_mode", padding_mode, tuple(PADDING_MODES))
    check_choice(func, "method", method, METHODS)
    groups = check_int(func, "groups", groups, 1)
    c_in, c_out = x.shape[1], w.shape[0]
    if c_in % groups:
        fail(func, "groups", f"a divisor of the input channels ({c_in})", groups)
    if c_out % groups:
        fail(func, "groups", f"a divisor of the output channels, weight.shape[0] ({c_out})", groups)
    if w.shape[1] * groups != c_in:
        fail(
            func,
            "weight",
            f"of shape (C_out, C_in / groups, kH, kW) = (*, {c_in // groups}, *, *) for "
            f"{c_in} input channels and groups={groups}",
            got=f"shape {w.shape}",
        )
    pads = conv2d_pads(func, padding, s, d, w.shape[2:], x.shape[2:], padding_mode)
    _check_padded_memory(func, padding, x.shape, pads, (c_out, *w.shape[2:]), s, d)
    exact = None
    if integer_rule and dtype is None:
        # a batch of no images has no values to bound: plan as for one image of zeros
        planned = x if x.shape[0] else np.zeros((1, *x.shape[1:]), x.dtype)
        exact = integer_plan(func, ("input", planned), ("weight", w), bias=bias, per_channel=True)
    extra = () if bias is None else (bias,)
    work = exact or result_dtype(func, x, w, *extra, dtype=dtype)
    return _Setup(
        x=np.ascontiguousarray(x, dtype=work),
        weight=np.ascontiguousarray(w, dtype=work),
        stride=s,
        dilation=d,
        groups=groups,
        pads=pads,
        np_mode=PADDING_MODES[padding_mode],
        batched=batched,
        method=method,  # type: ignore[arg-type]
        exact=exact is not None,
    )


def _check_padded_memory(
    func: str,
    padding: Any,
    shape: tuple[int, ...],
    pads: Pads,
    kernel: tuple[int, ...],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> None:
    """Refuse a padding whose padded input or output could not fit in memory at all."""
    n_batch, c_in, height, width = shape
    c_out, kh, kw = kernel
    hp, wp = height + sum(pads[0]), width + sum(pads[1])
    oh = max(0, (hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1)
    ow = max(0, (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1)
    nbytes = 8 * n_batch * (c_in * hp * wp + c_out * oh * ow)
    check_memory(func, "padding", padding, nbytes, f"the {hp}x{wp} padded input and its output")


def conv2d_pads(
    func: str,
    padding: Any,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    kernel_size: tuple[int, ...],
    input_size: tuple[int, ...],
    padding_mode: str,
) -> Pads:
    """The pixels ``padding`` adds on each side, checked against the input's size.

    Shared by the in-memory and the lazy (:mod:`corr2d.dask`) faces, which know the
    input's size before they have its pixels.
    """
    kh, kw = kernel_size
    eff_h, eff_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if isinstance(padding, str):
        check_choice(func, "padding", padding, ("valid", "same"))
        if padding == "valid":
            pads: Pads = NO_PADS
        else:
            if stride != (1, 1):
                fail(
                    func,
                    "padding",
                    "an int or a pair when stride > 1 ('same' needs stride 1)",
                    padding,
                )
            # PyTorch's rule: the odd pixel of an even extent goes at the end.
            pads = (
                ((eff_h - 1) // 2, eff_h - 1 - (eff_h - 1) // 2),
                ((eff_w - 1) // 2, eff_w - 1 - (eff_w - 1) // 2),
            )
    else:
        p = as_pair(func, "padding", padding, 0)
        pads = ((p[0], p[0]), (p[1], p[1]))
    height, width = input_size
    if padding_mode == "reflect" and (max(pads[0]) >= height or max(pads[1]) >= width):
        fail(
            func,
            "padding",
            f"smaller than the input size {(height, width)} for padding_mode='reflect'",
            padding,
        )
    if padding_mode == "circular" and (max(pads[0]) > height or max(pads[1]) > width):
        fail(
            func,
            "padding",
            f"at most the input size {(height, width)} for "
            "padding_mode='circular' (it would wrap around more than once)",
            padding,
        )
    if height + sum(pads[0]) < eff_h or width + sum(pads[1]) < eff_w:
        fail(
            func,
            "input",
            f"at least as large, once padded, as the dilated kernel ({eff_h}, {eff_w})",
            got=f"padded size {(height + sum(pads[0]), width + sum(pads[1]))}",
        )
    return pads


def _output_size(setup: _Setup) -> tuple[int, int]:
    """(H_out, W_out) of the forward pass."""
    (top, bottom), (left, right) = setup.pads
    height, width = setup.x.shape[2] + top + bottom, setup.x.shape[3] + left + right
    kh, kw = setup.weight.shape[2:]
    (sh, sw), (dh, dw) = setup.stride, setup.dilation
    return (height - dh * (kh - 1) - 1) // sh + 1, (width - dw * (kw - 1) - 1) // sw + 1


def _padded(setup: _Setup) -> tuple[NDArray[Any], Pads]:
    """The input padded, or, for zero padding, the input and the zeros still to add
    (the engine's blocked kernels write them while rearranging the input)."""
    if setup.np_mode == "constant":
        return setup.x, setup.pads
    return np.ascontiguousarray(pad2d(setup.x, setup.pads, setup.np_mode)), NO_PADS


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
) -> NDArray[Any]:
    """2-D cross-correlation over a batch of multi-channel images (PyTorch's ``conv2d``).

    Parameters
    ----------
    input : array_like, shape (N, C_in, H, W) or (C_in, H, W)
        The images.  An unbatched input gives an unbatched output.
    weight : array_like, shape (C_out, C_in / groups, kH, kW)
        The kernels.
    bias : array_like, shape (C_out,), optional
        Added to every output pixel of its channel.
    stride : int or (int, int), optional
        Step between windows, >= 1.  Default 1.
    padding : int, (int, int), 'valid' or 'same', optional
        Pixels added on both sides of each axis.  'same' (stride 1 only) pads
        ``d*(k - 1)`` in total, the odd pixel at the bottom/right, as PyTorch does.
    dilation : int or (int, int), optional
        Spacing between kernel taps; 1 means none.  Default 1.
    groups : int, optional
        Input and output channels are split into this many groups, each correlated
        with its own kernels; it must divide both channel counts.  Default 1.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}, optional
        How the padding is filled (``torch.nn.Conv2d``'s argument):
        zeros ``0 0 | a b c d | 0 0``, reflect ``c b | a b c d | c b``,
        replicate ``a a | a b c d | d d``, circular ``c d | a b c d | a b``.
        'reflect' needs padding < the input size, 'circular' padding <= it.
    method : {'auto', 'direct', 'fft'}, optional
        'direct' uses compiled loops or tiled patch-matrix products, 'fft' whole-plane
        transforms, 'auto' picks by the cost model.
    dtype : dtype, optional
        Working and output dtype; see :func:`corr2d.correlate2d`.  Bool and integer
        ``input``, ``weight`` (and ``bias``) give an exact int64 result.

    Returns
    -------
    out : ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        ``H_out = floor((H + p_top + p_bottom - d_h*(kH - 1) - 1) / s_h) + 1``, and
        likewise for ``W_out``.

    Raises
    ------
    OverflowError
        For integer inputs whose result could exceed int64: the bound ``max|input| *
        sum|weight[o]|`` (the largest over output channels ``o``) plus ``max|bias|`` is
        over ``2**63 - 1``, or a uint64 value is.

    Examples
    --------
    One 2x2 kernel of ones on a 3x3 image: the top-left output is 0 + 1 + 3 + 4 = 8.

    >>> import numpy as np
    >>> from corr2d import conv2d
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> conv2d(x, np.ones((1, 1, 2, 2)), bias=[0.5])
    array([[[[ 8.5, 12.5],
             [20.5, 24.5]]]])
    """
    func = "conv2d"
    b = None if bias is None else as_array(bias, func, "bias", ndim=1)
    setup = _setup(
        func, input, weight, stride, padding, dilation, groups, padding_mode, method, dtype, b, True
    )
    if b is not None and b.shape[0] != setup.weight.shape[0]:
        fail(
            func,
            "bias",
            f"of shape ({setup.weight.shape[0]},), one per output channel",
            got=f"shape {b.shape}",
        )
    if setup.x.shape[0] == 0:  # no images: an empty batch of the output's shape
        out = np.zeros((0, setup.weight.shape[0], *_output_size(setup)), dtype=setup.x.dtype)
        return to_int64(out) if setup.exact else out
    xp, zero_pads = _padded(setup)
    chosen = "direct" if setup.exact else setup.method
    if chosen == "auto":
        (top, bottom), (left, right) = zero_pads
        chosen = _engine.pick_conv_method(
            (*xp.shape[:2], xp.shape[2] + top + bottom, xp.shape[3] + left + right),
            setup.weight.shape,
            setup.stride,
            setup.dilation,
            setup.groups,
        )
        if chosen == "fft" and not (np.isfinite(xp).all() and np.isfinite(setup.weight).all()):
            chosen = "direct"
    elif chosen == "fft":
        check_finite_for_fft(func, "input", xp)
        check_finite_for_fft(func, "weight", setup.weight)
    out = _engine.conv2d_valid(
        xp,
        setup.weight,
        setup.stride,
        setup.dilation,
        setup.groups,
        chosen,
        None if b is None else np.ascontiguousarray(b, dtype=setup.x.dtype),
        zero_pads,
    )
    if setup.exact:
        out = to_int64(out)
    return out if setup.batched else out[0]


class Conv2dGrads(NamedTuple):
    """Gradients of a scalar loss with respect to the arguments of :func:`conv2d`."""

    input: NDArray[Any]
    weight: NDArray[Any]
    bias: NDArray[Any]


def conv2d_backward(
    grad_output: ArrayLike,
    input: ArrayLike,
    weight: ArrayLike,
    stride: int | tuple[int, int] = 1,
    padding: PaddingArg = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros",
    *,
    dtype: DTypeLike | None = None,
) -> Conv2dGrads:
    """Gradients of :func:`conv2d` given the gradient of the loss at its output.

    Parameters
    ----------
    grad_output : array_like, shape of ``conv2d``'s output
        dL/d(out); real unless ``input``, ``weight`` or ``dtype`` is complex.
    input, weight, stride, padding, dilation, groups, padding_mode, dtype
        The arguments the forward pass was called with.

    Returns
    -------
    Conv2dGrads
        ``input`` (shape of ``input``), ``weight`` (shape of ``weight``) and ``bias``
        (shape (C_out,)): dL/d(input), dL/d(weight), dL/d(bias).

    Raises
    ------
    TypeError
        If ``grad_output`` is complex while the computation is real (its imaginary part
        would be dropped).

    Notes
    -----
    Why the backward pass is a correlation too.  The forward pass is linear in the
    input and in the weight:

        out[n, o, i, j] = sum_{c, u, v} x_pad[n, c, s*i + d*u, s*j + d*v] * w[o, c, u, v]

    * **dL/dw** is the coefficient of ``w[o, c, u, v]`` summed against dL/dout:
      ``sum_{n, i, j} g[n, o, i, j] * x_pad[n, c, s*i + d*u, s*j + d*v]`` -- the input
      correlated with the output gradient, which acts as a kernel dilated by the stride
      (the forward stride and dilation swap roles).
    * **dL/dx_pad** collects, for each input pixel, every output that read it:
      ``sum_{o, u, v} g[n, o, i, j] * w[o, c, u, v]`` over ``s*i + d*u = row`` -- the
      output gradient, spread out by the stride, correlated with the kernel flipped in
      both axes and transposed in its channels (a "full" correlation, i.e. a
      transposed convolution).
    * **dL/db** is the output gradient summed over the batch and the pixels.
    * **dL/dx** folds dL/dx_pad back through the padding: each padded pixel's gradient
      goes to the pixel it copied (``_padding.pad2d_adjoint``).

    With real floats and enough channels both run on the forward pass's register-blocked
    kernels: dL/dx_pad as the forward correlation of the zero-padded output gradient with
    the flipped, transposed kernel (stride 1), dL/dw as blocks of dot products over
    output positions.  Otherwise both sums use the forward pass's patch matrices,
    ``dL/dw = G @ cols.T`` and ``dL/dx_pad = col2im(W.T @ G)`` (``col2im`` is the
    adjoint of ``im2col``), tiled so that no patch buffer exceeds the workspace.

    Examples
    --------
    For a 1x1 kernel, dL/dx = w * g and dL/dw = sum(x * g).

    >>> import numpy as np
    >>> from corr2d import conv2d_backward
    >>> x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    >>> grads = conv2d_backward(np.ones((1, 1, 2, 2)), x, np.full((1, 1, 1, 1), 3.0))
    >>> grads.input[0, 0]
    array([[3., 3.],
           [3., 3.]])
    >>> grads.weight.ravel(), grads.bias
    (array([10.]), array([4.]))
    """
    func = "conv2d_backward"
    setup = _setup(
        func, input, weight, stride, padding, dilation, groups, padding_mode, "direct", dtype
    )
    g = as_array(grad_output, func, "grad_output", ndim=(3, 4), empty_batch=True)
    if g.dtype.kind == "c" and setup.x.dtype.kind != "c":
        fail(
            func,
            "grad_output",
            "real for real input and weight (the imaginary part would be dropped; pass "
            "dtype=np.complex128 to differentiate in complex numbers)",
            kind=TypeError,
            got=f"dtype {g.dtype}",
        )
    g = g if g.ndim == 4 else g[None]
    xp, zero_pads = _padded(setup)
    n_batch = xp.shape[0]
    hp = xp.shape[2] + sum(zero_pads[0])
    wp = xp.shape[3] + sum(zero_pads[1])
    c_out, _, kh, kw = setup.weight.shape
    (sh, sw), (dh, dw) = setup.stride, setup.dilation
    oh = (hp - dh * (kh - 1) - 1) // sh + 1
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    expected = (n_batch, c_out, oh, ow) if setup.batched else (c_out, oh, ow)
    if np.shape(grad_output) != expected:
        fail(
            func,
            "grad_output",
            f"of the forward output's shape {expected}",
            got=f"shape {np.shape(grad_output)}",
        )
    g = np.ascontiguousarray(g, dtype=setup.x.dtype)
    # zero padding: the engine gives the input's own gradient (the zeros' is dropped)
    inner = setup.np_mode == "constant"
    grad_bias = None
    if n_batch == 0:  # no images: nothing flows back
        grad_xp = np.zeros((0, xp.shape[1], hp, wp), dtype=xp.dtype)
        grad_weight = np.zeros_like(setup.weight)
        inner = False
    else:
        grad_xp, grad_weight, grad_bias = _engine.conv2d_valid_backward(
            xp, setup.weight, g, setup.stride, setup.dilation, setup.groups, zero_pads, inner
        )
    if grad_bias is None:
        grad_bias = g.reshape(n_batch, c_out, oh * ow).sum(axis=2).sum(axis=0)
    if not inner:
        grad_xp = pad2d_adjoint(grad_xp, setup.pads, setup.np_mode, setup.x.shape[2:])
    grad_input = np.ascontiguousarray(grad_xp)
    if not setup.batched:
        grad_input = grad_input[0]
    return Conv2dGrads(
        input=grad_input,
        weight=grad_weight,
        bias=grad_bias,
    )
