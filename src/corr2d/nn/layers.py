"""Layers that learn: ``Conv2D``, ``Linear``, ``ReLU`` and ``Sequential``.

Every layer follows one contract (:class:`Module`):

* ``forward(x)`` (also ``layer(x)``) computes the output and caches what the backward
  pass needs;
* ``backward(grad_output)`` takes dL/d(output), **adds** dL/d(parameter) into each
  parameter's ``.grad`` and returns dL/d(input);
* ``zero_grad()`` resets the gradients, ``parameters()`` lists the :class:`Parameter`
  objects an optimiser updates.

Gradients accumulate, as in micrograd and PyTorch: two backward passes without a
``zero_grad`` in between add up.  Each backward sits right below its forward.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from corr2d._validation import (
    as_array,
    as_pair,
    check_choice,
    check_int,
    check_memory,
    fail,
)
from corr2d.core import conv2d, conv2d_backward

__all__ = ["INITS", "Conv2D", "Linear", "Module", "Parameter", "ReLU", "Sequential"]

#: The named initialisers of :class:`Conv2D` and :class:`Linear`.
INITS = ("kaiming_uniform", "uniform", "normal", "zeros")
_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

InitArg = Literal["kaiming_uniform", "uniform", "normal", "zeros"] | ArrayLike
RngArg = int | np.random.Generator | None


class Parameter:
    """A learnable array and the gradient accumulated for it.

    Parameters
    ----------
    data : array_like
        The initial value; it is copied.
    name : str, optional
        A label used in reports (``'weight'``, ``'bias'``).

    Attributes
    ----------
    data : ndarray
        The current value; optimisers update it in place.
    grad : ndarray, shape of ``data``
        dL/d(data), summed over every backward pass since the last ``zero_grad``.

    Examples
    --------
    >>> p = Parameter([1.0, 2.0], name="bias")
    >>> p.grad += 0.5
    >>> p
    Parameter(name='bias', shape=(2,), grad_norm=0.707)
    """

    __slots__ = ("data", "grad", "name")

    def __init__(self, data: ArrayLike, name: str = "") -> None:
        self.data: NDArray[Any] = np.array(data, dtype=np.result_type(np.asarray(data), 0.0))
        self.grad: NDArray[Any] = np.zeros_like(self.data)
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``data``."""
        return tuple(self.data.shape)

    def zero_grad(self) -> None:
        """Set ``grad`` to zero in place."""
        self.grad[...] = 0

    def __repr__(self) -> str:
        norm = float(np.linalg.norm(self.grad))
        return f"Parameter(name={self.name!r}, shape={self.shape}, grad_norm={norm:.3g})"


def _rng(func: str, rng: RngArg) -> np.random.Generator:
    if rng is None or isinstance(rng, np.random.Generator):
        return np.random.default_rng(rng)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        return np.random.default_rng(int(rng))
    fail(func, "rng", "None, an int seed or a numpy.random.Generator", rng, TypeError)
    raise AssertionError  # unreachable: fail raises


def _layer_dtype(func: str, dtype: DTypeLike) -> np.dtype:
    try:
        chosen = np.dtype(dtype)
    except TypeError:
        fail(func, "dtype", "float32 or float64", dtype, TypeError)
    if chosen not in (np.float32, np.float64):
        fail(func, "dtype", "float32 or float64", dtype)
    return chosen


def _check_weight_memory(
    func: str, factors: tuple[tuple[str, Any, int], ...], shape: tuple[int, ...], dtype: np.dtype
) -> None:
    """Refuse a weight that could not fit in memory (with its gradient and an optimiser's
    two moments: four copies), naming the argument that contributes the most
    (``factors``: argument name, value given, factor of the weight's size)."""
    nbytes = 4 * math.prod(shape) * dtype.itemsize
    name, value, _ = max(factors, key=lambda factor: factor[2])
    check_memory(func, name, value, nbytes, f"a {'x'.join(map(str, shape))} {dtype} weight")


def _initial_values(
    func: str,
    init: Any,
    weight_shape: tuple[int, ...],
    bias_size: int,
    fan_in: int,
    rng: np.random.Generator,
    dtype: np.dtype,
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Initial weight and bias for ``init`` (a name from :data:`INITS` or an array)."""
    if isinstance(init, str):
        check_choice(func, "init", init, INITS)
        bound = 1.0 / math.sqrt(fan_in)
        bias = np.zeros(bias_size)
        if init == "kaiming_uniform":
            # PyTorch's default: kaiming_uniform_(a=sqrt(5)) gives
            # bound = sqrt(2 / (1 + 5)) * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
            weight = rng.uniform(-bound, bound, size=weight_shape)
            bias = rng.uniform(-bound, bound, size=bias_size)
        elif init == "uniform":
            weight = rng.random(weight_shape)
        elif init == "normal":
            weight = rng.normal(0.0, bound, size=weight_shape)
        else:
            weight = np.zeros(weight_shape)
        return weight.astype(dtype), bias.astype(dtype)
    given = as_array(init, func, "init")
    if given.dtype.kind == "c":
        fail(func, "init", "a real array", f"dtype {given.dtype}", TypeError)
    if given.size != math.prod(weight_shape) or (given.shape != weight_shape and given.ndim != 2):
        fail(
            func,
            "init",
            f"a name in {INITS} or an array of shape {weight_shape}",
            f"shape {given.shape}",
        )
    return given.reshape(weight_shape).astype(dtype), np.zeros(bias_size, dtype=dtype)


class Module(ABC):
    """The contract every layer keeps: forward caches, backward accumulates.

    Subclasses implement :meth:`forward` and :meth:`backward` and list their
    parameters in :meth:`named_parameters`.
    """

    @abstractmethod
    def forward(self, x: ArrayLike) -> NDArray[Any]:
        """Compute the output for ``x`` and cache what :meth:`backward` needs."""

    @abstractmethod
    def backward(self, grad_output: ArrayLike) -> NDArray[Any]:
        """Add dL/d(parameter) into each ``.grad`` and return dL/d(input)."""

    def __call__(self, x: ArrayLike) -> NDArray[Any]:
        return self.forward(x)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs; names are dotted paths in containers."""
        return []

    def parameters(self) -> list[Parameter]:
        """The learnable parameters, in a fixed order."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Reset every parameter's ``.grad`` to zero."""
        for p in self.parameters():
            p.zero_grad()

    def num_parameters(self) -> int:
        """The number of learnable scalars."""
        return sum(p.data.size for p in self.parameters())

    def _check_grad_output(
        self, func: str, grad_output: ArrayLike, expected: tuple[int, ...] | None
    ) -> NDArray[Any]:
        if expected is None:
            fail(
                func,
                "forward",
                "called before backward (backward needs the cached input)",
                "no cached forward pass",
            )
        g = as_array(grad_output, func, "grad_output")
        if g.shape != expected:
            fail(func, "grad_output", f"of the last output's shape {expected}", f"shape {g.shape}")
        _check_real(func, "grad_output", g)
        return g


def _check_real(func: str, name: str, array: NDArray[Any]) -> None:
    """Layers compute in real numbers: a complex array would lose its imaginary part."""
    if array.dtype.kind == "c":
        fail(
            func,
            name,
            "real (the layer's parameters are real, so an imaginary part would be dropped)",
            kind=TypeError,
            got=f"dtype {array.dtype}",
        )


def _own_copy(
    array: NDArray[Any],
    original: NDArray[Any],
    dtype: np.dtype,
    kept: NDArray[Any] | None = None,
) -> NDArray[Any]:
    """``array`` in ``dtype``, contiguous, in memory of its own: the caller may change
    ``original`` after forward, and backward must still see what forward saw.

    ``kept`` is the previous forward's copy, which nothing outside the layer holds: an
    input of the same shape is copied into it, which spares a fresh allocation (and
    the page faults of fresh memory) on every training step."""
    if (
        kept is not None
        and kept.shape == array.shape
        and kept.dtype == dtype
        and not np.may_share_memory(kept, original)
    ):
        np.copyto(kept, array, casting="unsafe")
        return kept
    owned = np.ascontiguousarray(array, dtype=dtype)
    return owned.copy() if np.may_share_memory(owned, original) else owned


class _WeightAndBias(Module):
    """A layer whose parameters are a ``weight`` and an optional ``bias``."""

    weight: Parameter
    bias: Parameter | None

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``[('weight', ...), ('bias', ...)]`` (no bias entry when ``bias=False``)."""
        pairs = [("weight", self.weight)]
        if self.bias is not None:
            pairs.append(("bias", self.bias))
        return pairs


class Conv2D(_WeightAndBias):
    """A 2-D convolutional layer: cross-correlation with a learned kernel, plus a bias.

    With the defaults (one channel in and out) it is the chapter's layer: a 2-D image
    in, ``corr2d(x, kernel) + bias`` out.  With channels it is ``torch.nn.Conv2d``.

    Parameters
    ----------
    kernel_size : int or (int, int)
        ``(k_h, k_w)``.
    in_channels, out_channels : int, optional
        Channel counts; both 1 by default.
    stride, padding, dilation, groups, padding_mode
        As in :func:`corr2d.conv2d`; ``padding`` may also be ``'valid'`` or ``'same'``.
    bias : bool, optional
        Learn one additive bias per output channel (default True).
    init : {'kaiming_uniform', 'uniform', 'normal', 'zeros'} or array_like, optional
        How the kernel starts.  ``'kaiming_uniform'`` (default) is PyTorch's
        ``nn.Conv2d`` initialisation: kernel and bias uniform on
        ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` with ``fan_in = in_channels / groups *
        k_h * k_w``.  ``'uniform'`` draws the kernel from [0, 1) and the bias is zero
        (the chapter's own layer); ``'normal'`` draws it from N(0, 1/fan_in) with a zero
        bias; ``'zeros'`` starts from zero.  An array gives the kernel (of the weight
        shape, or 2-D ``(k_h, k_w)`` for a single-channel layer); the bias is zero.
    rng : None, int or numpy.random.Generator, optional
        The source of the random initial values.
    dtype : {float64, float32}, optional
        Parameter and computation dtype (default float64).

    Attributes
    ----------
    weight : Parameter, shape (out_channels, in_channels / groups, k_h, k_w)
    bias : Parameter, shape (out_channels,), or None

    Notes
    -----
    Shapes: a 2-D input ``(H, W)`` (single-channel layers only) gives a 2-D output;
    ``(C_in, H, W)`` gives ``(C_out, H_out, W_out)`` and ``(N, C_in, H, W)`` gives
    ``(N, C_out, H_out, W_out)`` with ``H_out = floor((H + 2p - d(k_h - 1) - 1)/s) + 1``.

    Examples
    --------
    The chapter's edge detector as a layer: the kernel [[1, -1]] marks where a row
    changes from 1 to 0 (+1) and back (-1).

    >>> import numpy as np
    >>> layer = Conv2D((1, 2), bias=False, init=[[1.0, -1.0]])
    >>> layer(np.array([[1.0, 1.0, 0.0, 0.0, 1.0]]))
    array([[ 0.,  1.,  0., -1.]])
    >>> layer.backward(np.ones((1, 4)))  # inner pixels: +1 (own window) - 1 (left window)
    array([[ 1.,  0.,  0.,  0., -1.]])
    >>> layer.weight.grad  # sum of x under each tap: 1+1+0+0 and 1+0+0+1
    array([[[[2., 2.]]]])
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        in_channels: int = 1,
        out_channels: int = 1,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | Literal["valid", "same"] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros",
        init: InitArg = "kaiming_uniform",
        rng: RngArg = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        func = "Conv2D"
        self.kernel_size = as_pair(func, "kernel_size", kernel_size, 1)
        in_channels = check_int(func, "in_channels", in_channels, 1)
        out_channels = check_int(func, "out_channels", out_channels, 1)
        groups = check_int(func, "groups", groups, 1)
        if in_channels % groups:
            fail(func, "groups", f"a divisor of in_channels ({in_channels})", groups)
        if out_channels % groups:
            fail(func, "groups", f"a divisor of out_channels ({out_channels})", groups)
        self.in_channels, self.out_channels, self.groups = (
            int(in_channels),
            int(out_channels),
            int(groups),
        )
        self.stride = as_pair(func, "stride", stride, 1)
        self.dilation = as_pair(func, "dilation", dilation, 1)
        self.padding: tuple[int, int] | Literal["valid", "same"]
        if isinstance(padding, str):
            check_choice(func, "padding", padding, ("valid", "same"))
            self.padding = padding
            if padding == "same" and self.stride != (1, 1):
                fail(func, "padding", "an int or a pair when stride > 1", padding)
        else:
            self.padding = as_pair(func, "padding", padding, 0)
        check_choice(func, "padding_mode", padding_mode, _PADDING_MODES)
        self.padding_mode = padding_mode
        if not isinstance(bias, (bool, np.bool_)):
            fail(func, "bias", "a bool", bias, TypeError)
        self.dtype = _layer_dtype(func, dtype)
        weight_shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        factors = (
            ("out_channels", out_channels, out_channels),
            ("in_channels", in_channels, in_channels // groups),
            ("kernel_size", kernel_size, math.prod(self.kernel_size)),
        )
        _check_weight_memory(func, factors, weight_shape, self.dtype)
        fan_in = math.prod(weight_shape[1:])
        weight, bias_values = _initial_values(
            func, init, weight_shape, self.out_channels, fan_in, _rng(func, rng), self.dtype
        )
        self.weight = Parameter(weight, name="weight")
        self.bias: Parameter | None = Parameter(bias_values, name="bias") if bias else None
        self._input: NDArray[Any] | None = None
        self._input_ndim = 4
        self._out_shape: tuple[int, ...] | None = None

    def _as_batch(self, func: str, x: ArrayLike) -> NDArray[Any]:
        array = as_array(x, func, "x", ndim=(2, 3, 4))
        if array.ndim == 2 and (self.in_channels, self.out_channels) != (1, 1):
            fail(
                func,
                "x",
                "(C, H, W) or (N, C, H, W) for a layer with channels "
                f"({self.in_channels} in, {self.out_channels} out); 2-D inputs need one "
                "channel in and out",
                f"2-D array of shape {array.shape}",
            )
        if array.ndim > 2 and array.shape[-3] != self.in_channels:
            fail(func, "x", f"of {self.in_channels} channels (axis -3)", f"shape {array.shape}")
        self._input_ndim = array.ndim
        return array.reshape((-1, *array.shape[-3:]) if array.ndim > 2 else (1, 1, *array.shape))

    def _check_fits(self, func: str, batch: NDArray[Any], shape: tuple[int, ...]) -> None:
        """The padded input must hold the dilated kernel at least once."""
        if self.padding == "same":
            return
        pads = (0, 0) if self.padding == "valid" else self.padding
        extent = [d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel_size, strict=True)]
        height, width = batch.shape[2] + 2 * pads[0], batch.shape[3] + 2 * pads[1]
        if height < extent[0] or width < extent[1]:
            fail(
                func,
                "x",
                f"at least as large, once padded by {pads}, as the layer's dilated kernel "
                f"{tuple(extent)}",
                got=f"shape {shape}",
            )

    def _geometry(self) -> tuple[Any, ...]:
        """conv2d's stride, padding, dilation, groups and padding_mode, in its order."""
        return self.stride, self.padding, self.dilation, self.groups, self.padding_mode

    def _unbatch(self, y: NDArray[Any], ndim: int) -> NDArray[Any]:
        if ndim == 4:
            return y
        if ndim == 3:
            return y[0]
        return y[0, 0]

    def forward(self, x: ArrayLike) -> NDArray[Any]:
        """The output for ``x``; see the class Notes for the shapes.

        The input is kept (as a copy, if ``x`` is already of the layer's dtype) for
        :meth:`backward`, so changing ``x`` afterwards does not change the gradients.
        """
        func = "Conv2D.forward"
        given = np.asarray(x)
        batch = self._as_batch(func, given)
        _check_real(func, "x", batch)
        self._check_fits(func, batch, given.shape)
        batch = _own_copy(batch, given, self.dtype, self._input)
        self._input = batch
        bias = None if self.bias is None else self.bias.data
        y = conv2d(batch, self.weight.data, bias, *self._geometry(), dtype=self.dtype)
        out = self._unbatch(y, self._input_ndim)
        self._out_shape = out.shape
        return out

    def backward(self, grad_output: ArrayLike) -> NDArray[Any]:
        """Accumulate dL/d(kernel), dL/d(bias); return dL/dx (the input's shape).

        The layer is linear in the kernel and in the input, so both gradients are
        correlations again: dL/d(kernel) is the input correlated with the output
        gradient, dL/dx the output gradient fully correlated with the flipped kernel
        (a transposed convolution).  :func:`corr2d.conv2d_backward` computes both.
        """
        func = "Conv2D.backward"
        g = self._check_grad_output(func, grad_output, self._out_shape)
        assert self._input is not None
        g4 = g.reshape((1,) * (4 - g.ndim) + g.shape)
        grads = conv2d_backward(
            g4, self._input, self.weight.data, *self._geometry(), dtype=self.dtype
        )
        self.weight.grad += grads.weight
        if self.bias is not None:
            self.bias.grad += grads.bias
        return self._unbatch(grads.input, self._input_ndim)

    def __repr__(self) -> str:
        extras = ""
        if self.stride != (1, 1):
            extras += f", stride={self.stride}"
        if self.padding not in ((0, 0), "valid"):
            extras += f", padding={self.padding}"
        if self.dilation != (1, 1):
            extras += f", dilation={self.dilation}"
        if self.groups != 1:
            extras += f", groups={self.groups}"
        if self.bias is None:
            extras += ", bias=False"
        if self.padding_mode != "zeros":
            extras += f", padding_mode={self.padding_mode!r}"
        return (
            f"Conv2D({self.kernel_size}, in_channels={self.in_channels}, "
            f"out_channels={self.out_channels}{extras})"
        )

    def to_torch(self) -> Any:
        """A ``torch.nn.Conv2d`` with the same configuration and a copy of the numbers.

        Needs the optional dependency ``torch``.
        """
        torch = _import_torch("Conv2D.to_torch")
        torch_dtype = torch.float64 if self.dtype == np.float64 else torch.float32
        module = torch.nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            bias=self.bias is not None,
            padding_mode=self.padding_mode,
            dtype=torch_dtype,
        )
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(self.weight.data))
            if self.bias is not None:
                module.bias.copy_(torch.from_numpy(self.bias.data))
        return module

    @classmethod
    def from_torch(cls, module: Any) -> Conv2D:
        """A :class:`Conv2D` equal to the ``torch.nn.Conv2d`` ``module`` (numbers copied).

        The dtype follows the module's (float32 or float64).
        """
        torch = _import_torch("Conv2D.from_torch")
        if not isinstance(module, torch.nn.Conv2d):
            fail(
                "Conv2D.from_torch", "module", "a torch.nn.Conv2d", type(module).__name__, TypeError
            )
        weight = module.weight.detach().cpu().numpy()
        dtype = np.float64 if weight.dtype == np.float64 else np.float32
        layer = cls(
            tuple(module.kernel_size),
            module.in_channels,
            module.out_channels,
            stride=tuple(module.stride),
            padding=_torch_padding(module.padding),
            dilation=tuple(module.dilation),
            groups=module.groups,
            bias=module.bias is not None,
            padding_mode=module.padding_mode,
            init=weight,
            dtype=dtype,
        )
        if layer.bias is not None:
            layer.bias.data[...] = module.bias.detach().cpu().numpy()
        return layer


def _torch_padding(padding: Any) -> Any:
    return padding if isinstance(padding, str) else tuple(int(p) for p in padding)


def _import_torch(func: str) -> Any:
    try:
        import torch
    except ImportError as error:  # pragma: no cover - torch is installed in the test env
        raise ImportError(
            f"{func}: needs the optional dependency torch (pip install 'corr2d[torch]')"
        ) from error
    return torch


class Linear(_WeightAndBias):
    """A fully connected layer: ``y = x @ weight.T + bias``.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the last axis of the input and of the output.
    bias : bool, optional
        Learn a bias per output (default True).
    init : {'kaiming_uniform', 'uniform', 'normal', 'zeros'} or array_like, optional
        As for :class:`Conv2D` with ``fan_in = in_features`` (PyTorch's default).
    rng : None, int or numpy.random.Generator, optional
    dtype : {float64, float32}, optional

    Attributes
    ----------
    weight : Parameter, shape (out_features, in_features)
    bias : Parameter, shape (out_features,), or None

    Notes
    -----
    Input ``(..., in_features)``, output ``(..., out_features)``.  Learning the
    chapter's edge detector with a fully connected layer from a flattened 6x8 image to
    a flattened 6x7 output takes ``48 * 42 + 42 = 2058`` parameters; the kernel takes 2.

    Examples
    --------
    >>> layer = Linear(3, 1, init=[[1.0, 2.0, 3.0]])
    >>> layer([1.0, 1.0, 1.0])  # 1 + 2 + 3 plus a zero bias
    array([6.])
    >>> layer.backward([1.0])  # dL/dx is the weight row
    array([1., 2., 3.])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: InitArg = "kaiming_uniform",
        rng: RngArg = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        func = "Linear"
        in_features = check_int(func, "in_features", in_features, 1)
        out_features = check_int(func, "out_features", out_features, 1)
        if not isinstance(bias, (bool, np.bool_)):
            fail(func, "bias", "a bool", bias, TypeError)
        self.in_features, self.out_features = in_features, out_features
        self.dtype = _layer_dtype(func, dtype)
        factors = (
            ("out_features", out_features, out_features),
            ("in_features", in_features, in_features),
        )
        _check_weight_memory(func, factors, (out_features, in_features), self.dtype)
        weight, bias_values = _initial_values(
            func,
            init,
            (self.out_features, self.in_features),
            self.out_features,
            self.in_features,
            _rng(func, rng),
            self.dtype,
        )
        self.weight = Parameter(weight, name="weight")
        self.bias: Parameter | None = Parameter(bias_values, name="bias") if bias else None
        self._input: NDArray[Any] | None = None
        self._out_shape: tuple[int, ...] | None = None

    def forward(self, x: ArrayLike) -> NDArray[Any]:
        """``x @ weight.T + bias`` for ``x`` of shape ``(..., in_features)``."""
        func = "Linear.forward"
        array = as_array(x, func, "x")
        if array.shape[-1] != self.in_features:
            fail(func, "x", f"of shape (..., {self.in_features})", f"shape {array.shape}")
        _check_real(func, "x", array)
        self._input = _own_copy(array, array, self.dtype, self._input)
        y = self._input @ self.weight.data.T
        if self.bias is not None:
            y = y + self.bias.data
        self._out_shape = y.shape
        return y

    def backward(self, grad_output: ArrayLike) -> NDArray[Any]:
        """Accumulate dL/d(weight), dL/d(bias); return dL/dx.

        A fully connected layer is a correlation whose kernel is as large as its input
        (one 'valid' output per unit), so its gradients are the same two products as
        :func:`corr2d.conv2d_backward`'s: dL/dW = G^T X (the input correlated with the
        output gradient) and dL/dx = G W (the gradient correlated with the transposed
        kernel); dL/db sums G over the leading axes.
        """
        func = "Linear.backward"
        g = self._check_grad_output(func, grad_output, self._out_shape)
        assert self._input is not None
        g2 = g.reshape(-1, self.out_features).astype(self.dtype, copy=False)
        x2 = self._input.reshape(-1, self.in_features)
        self.weight.grad += g2.T @ x2
        if self.bias is not None:
            self.bias.grad += g2.sum(axis=0)
        return (g2 @ self.weight.data).reshape(self._input.shape)

    def __repr__(self) -> str:
        bias = "" if self.bias is not None else ", bias=False"
        return f"Linear({self.in_features}, {self.out_features}{bias})"


class ReLU(Module):
    """``max(x, 0)`` elementwise.

    Examples
    --------
    >>> relu = ReLU()
    >>> relu([-1.0, 0.5])
    array([0. , 0.5])
    >>> relu.backward([3.0, 3.0])
    array([0., 3.])
    """

    def __init__(self) -> None:
        self._mask: NDArray[Any] | None = None

    def forward(self, x: ArrayLike) -> NDArray[Any]:
        """``x`` where positive, else 0."""
        array = as_array(x, "ReLU.forward", "x")
        self._mask = array > 0
        return np.where(self._mask, array, 0).astype(np.result_type(array, 0.0))

    def backward(self, grad_output: ArrayLike) -> NDArray[Any]:
        """The gradient where the input was positive, else 0.

        This is pointwise: a 1x1 correlation whose kernel (the mask) changes per pixel,
        so no neighbour enters and no parameter learns.
        """
        shape = None if self._mask is None else self._mask.shape
        g = self._check_grad_output("ReLU.backward", grad_output, shape)
        assert self._mask is not None
        return np.where(self._mask, g, 0).astype(np.result_type(g, 0.0))

    def __repr__(self) -> str:
        return "ReLU()"


class Sequential(Module):
    """Layers applied one after another; backward runs them in reverse.

    Examples
    --------
    >>> import numpy as np
    >>> model = Sequential(Conv2D(2, init="zeros"), ReLU())
    >>> model(np.ones((3, 3))).shape
    (2, 2)
    >>> [name for name, _ in model.named_parameters()]
    ['0.weight', '0.bias']
    """

    def __init__(self, *layers: Module) -> None:
        for index, layer in enumerate(layers):
            if not isinstance(layer, Module):
                fail(
                    "Sequential",
                    f"layers[{index}]",
                    "a corr2d.nn Module",
                    type(layer).__name__,
                    TypeError,
                )
        self.layers = list(layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """Each layer's parameters, named ``'<index>.<name>'``."""
        return [
            (f"{i}.{name}", p)
            for i, layer in enumerate(self.layers)
            for name, p in layer.named_parameters()
        ]

    def forward(self, x: ArrayLike) -> NDArray[Any]:
        """Feed ``x`` through every layer."""
        out = np.asarray(x)
        for layer in self.layers:
            out = layer.forward(out)
        return out

    def backward(self, grad_output: ArrayLike) -> NDArray[Any]:
        """The chain rule: each layer's backward, last layer first."""
        grad = np.asarray(grad_output)
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential({inner})"
