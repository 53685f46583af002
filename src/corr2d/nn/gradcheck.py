"""``gradcheck``: analytic gradients against central finite differences, in float64."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from corr2d._validation import as_array, check_int, check_real, fail
from corr2d.core import conv2d, conv2d_backward, corr2d
from corr2d.nn.layers import Module

__all__ = ["GradcheckEntry", "GradcheckReport", "gradcheck"]

Forward = Callable[..., Any]
Backward = Callable[..., Sequence[ArrayLike]]


@dataclass(frozen=True)
class GradcheckEntry:
    """The comparison for one tensor: its name, shape, largest errors and verdict."""

    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    ok: bool


@dataclass(frozen=True)
class GradcheckReport:
    """The result of :func:`gradcheck`; ``ok`` is True when every tensor passed.

    An element passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.  The
    relative error of a tensor is its largest absolute error divided by the largest
    ``|numeric|`` (or by 1 where the gradient is all zero).
    """

    entries: tuple[GradcheckEntry, ...]
    eps: float
    atol: float
    rtol: float

    @property
    def ok(self) -> bool:
        """Whether every tensor passed."""
        return all(entry.ok for entry in self.entries)

    def __str__(self) -> str:
        width = max(len("tensor"), *(len(e.name) for e in self.entries))
        lines = [
            f"gradcheck: {'PASS' if self.ok else 'FAIL'} (central differences, eps={self.eps:g}, "
            f"atol={self.atol:g}, rtol={self.rtol:g})",
            f"  {'tensor':<{width}}  {'shape':<16} {'max abs err':>11}  {'max rel err':>11}  ok",
        ]
        for e in self.entries:
            lines.append(
                f"  {e.name:<{width}}  {e.shape!s:<16} {e.max_abs_error:>11.3e}  "
                f"{e.max_rel_error:>11.3e}  {'yes' if e.ok else 'NO'}"
            )
        return "\n".join(lines)


def _corr2d_backward(
    grad_output: NDArray[Any], X: NDArray[Any], K: NDArray[Any], **options: Any
) -> tuple[NDArray[Any], NDArray[Any]]:
    grads = conv2d_backward(
        grad_output[None, None], np.asarray(X)[None, None], np.asarray(K)[None, None]
    )
    return grads.input[0, 0], grads.weight[0, 0]


def _conv2d_backward(
    grad_output: NDArray[Any],
    x: NDArray[Any],
    weight: NDArray[Any],
    bias: NDArray[Any] | None = None,
    **options: Any,
) -> tuple[NDArray[Any], ...]:
    grads = conv2d_backward(grad_output, x, weight, **options)
    if bias is None:
        return grads.input, grads.weight
    return grads.input, grads.weight, grads.bias


#: Public functions whose backward the library knows.
_KNOWN_BACKWARDS: dict[Any, Backward] = {corr2d: _corr2d_backward, conv2d: _conv2d_backward}


def _compare(
    name: str, analytic: NDArray[Any], numeric: NDArray[Any], atol: float, rtol: float
) -> GradcheckEntry:
    error = np.abs(analytic - numeric)
    scale = float(np.max(np.abs(numeric))) if numeric.size else 0.0
    max_abs = float(error.max()) if error.size else 0.0
    ok = bool(np.all(error <= atol + rtol * np.abs(numeric)))
    return GradcheckEntry(
        name, tuple(numeric.shape), max_abs, max_abs / scale if scale > 0 else max_abs, ok
    )


def _numeric_gradient(
    objective: Callable[[], float], array: NDArray[Any], eps: float
) -> NDArray[Any]:
    """d objective / d array by central differences, perturbing ``array`` in place."""
    grad = np.zeros(array.shape)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = objective()
        flat[i] = original - eps
        minus = objective()
        flat[i] = original
        flat_grad[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(
    layer_or_function: Module | Forward | tuple[Forward, Backward],
    inputs: ArrayLike | Sequence[ArrayLike],
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    *,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> GradcheckReport:
    """Compare analytic gradients with central finite differences, in float64.

    The scalar checked is ``L = sum(out * R)`` for a fixed random ``R`` (of the
    output's shape), so the analytic side is ``backward(R)``; every element of every
    checked tensor is perturbed by ``±eps`` and ``(L+ - L-) / (2 eps)`` compared.

    Parameters
    ----------
    layer_or_function : Module, function, or (function, backward)
        * a layer (float64): its input gradient (from ``backward``) and the ``.grad``
          of every parameter are checked;
        * :func:`corr2d.corr2d` or :func:`corr2d.conv2d`, whose backward the library
          knows (:func:`corr2d.conv2d_backward`);
        * a pair ``(function, backward)`` where ``backward(grad_output, *inputs,
          **options)`` returns one gradient per input.
    inputs : array_like or sequence of array_like
        The layer's input (an array, or a 1-tuple holding it), or a function's
        positional array arguments (a tuple or list).
    eps : float, optional
        Finite-difference step (default 1e-6).
    atol, rtol : float, optional
        Per-element tolerance ``atol + rtol * |numeric|``.
    options : mapping, optional
        Keyword arguments for the function and its backward (e.g. ``stride``).
    seed : int, optional
        Seed of the random projection ``R``.

    Returns
    -------
    GradcheckReport
        Per-tensor largest absolute and relative errors; ``.ok`` is the verdict.

    Examples
    --------
    >>> import numpy as np
    >>> from corr2d import Conv2D, gradcheck
    >>> rng = np.random.default_rng(0)
    >>> report = gradcheck(Conv2D(2, rng=rng), rng.normal(size=(4, 5)))
    >>> report.ok, [entry.name for entry in report.entries]
    (True, ['input', 'weight', 'bias'])
    """
    func = "gradcheck"
    eps = check_real(func, "eps", eps, 0, open_minimum=True)
    atol = check_real(func, "atol", atol, 0)
    rtol = check_real(func, "rtol", rtol, 0)
    rng = np.random.default_rng(check_int(func, "seed", seed, 0))
    kwargs = dict(options or {})

    if isinstance(layer_or_function, Module):
        layer = layer_or_function
        if kwargs:
            fail(func, "options", "empty for a layer", kwargs)
        x_in = inputs[0] if isinstance(inputs, tuple) and len(inputs) == 1 else inputs
        x = np.array(as_array(x_in, func, "inputs"), dtype=np.float64)
        for pname, p in layer.named_parameters():
            if p.data.dtype != np.float64:
                fail(
                    func,
                    "layer_or_function",
                    "a float64 layer (finite differences need "
                    f"float64; parameter {pname!r} is {p.data.dtype})",
                    layer,
                    TypeError,
                )
        projection = rng.standard_normal(np.shape(layer.forward(x)))
        layer.zero_grad()
        layer.forward(x)
        grad_x = np.asarray(layer.backward(projection), dtype=np.float64)
        named = layer.named_parameters()
        analytic = [("input", grad_x, x)] + [(n, p.grad.copy(), p.data) for n, p in named]
        layer.zero_grad()

        def objective() -> float:
            return float(np.sum(layer.forward(x) * projection))

        entries = [
            _compare(name, grad, _numeric_gradient(objective, array, eps), atol, rtol)
            for name, grad, array in analytic
        ]
        return GradcheckReport(tuple(entries), float(eps), float(atol), float(rtol))

    if isinstance(layer_or_function, tuple):
        if len(layer_or_function) != 2 or not all(callable(f) for f in layer_or_function):
            fail(
                func,
                "layer_or_function",
                "a Module, a known function, or a pair (function, backward) of callables",
                layer_or_function,
                TypeError,
            )
        function, backward = layer_or_function
    elif callable(layer_or_function) and layer_or_function in _KNOWN_BACKWARDS:
        function, backward = layer_or_function, _KNOWN_BACKWARDS[layer_or_function]
    else:
        known = ", ".join(f.__name__ for f in _KNOWN_BACKWARDS)
        fail(
            func,
            "layer_or_function",
            f"a Module, one of the functions with a known "
            f"backward ({known}), or a pair (function, backward)",
            getattr(layer_or_function, "__name__", layer_or_function),
            TypeError,
        )
    seq = inputs if isinstance(inputs, (list, tuple)) else (inputs,)
    arrays = [
        np.array(as_array(a, func, f"inputs[{i}]"), dtype=np.float64) for i, a in enumerate(seq)
    ]
    out = np.asarray(function(*arrays, **kwargs))
    projection = rng.standard_normal(out.shape)
    grads = list(backward(projection, *arrays, **kwargs))
    if len(grads) != len(arrays):
        fail(
            func,
            "layer_or_function",
            f"a backward returning one gradient per input ({len(arrays)})",
            f"{len(grads)} gradients",
        )

    def objective_fn() -> float:
        return float(np.sum(np.asarray(function(*arrays, **kwargs)) * projection))

    entries = []
    for i, (array, grad) in enumerate(zip(arrays, grads, strict=True)):
        grad = np.asarray(grad, dtype=np.float64)
        if grad.shape != array.shape:
            fail(
                func,
                "layer_or_function",
                f"a backward whose gradient {i} has the input's shape {array.shape}",
                f"shape {grad.shape}",
            )
        entries.append(
            _compare(f"inputs[{i}]", grad, _numeric_gradient(objective_fn, array, eps), atol, rtol)
        )
    return GradcheckReport(tuple(entries), float(eps), float(atol), float(rtol))
