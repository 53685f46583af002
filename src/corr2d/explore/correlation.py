"""The Correlation panel: one view of a correlation, computed by the library, and its code.

A view is an input, a kernel and the settings of the two faces of corr2d: the operation
(correlation or convolution), the padding (``valid``, ``same``, ``full`` or a number of
pixels), the boundary rule, the stride and the dilation.  With stride 1, dilation 1, a
SciPy mode and a SciPy boundary the view is :func:`corr2d.correlate2d` (or
:func:`corr2d.convolve2d`, or the chapter's :func:`corr2d.corr2d`); otherwise it is
:func:`corr2d.conv2d`, PyTorch's face.  The answer carries the padded input the library
slid the kernel over, so the page can write out the arithmetic of any output cell, and the
Python code (corr2d's call and ``torch.nn.functional.conv2d``'s) that reproduces the view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.core import conv2d, convolve2d, corr2d, correlate2d
from corr2d.core._padding import Pads, pad2d
from corr2d.core.correlate import _pads as scipy_pads
from corr2d.explore._requests import (
    RequestError,
    choice,
    encode_array,
    integer,
    matrix,
    number,
    object_field,
)
from corr2d.explore.images import SAMPLES, ImageStore, Upload, sample_code, sample_image

__all__ = [
    "BOUNDARIES",
    "MAX_GRID",
    "MAX_KERNEL",
    "OPERATIONS",
    "PADDINGS",
    "Source",
    "View",
    "compute_view",
    "matrix_literal",
    "read_source",
    "read_view",
]

#: The largest kernel the page edits.
MAX_KERNEL = (15, 15)
#: The largest grid of editable input cells.
MAX_GRID = (32, 32)
OPERATIONS = ("correlation", "convolution")
#: Named paddings; a number of pixels on every side is allowed too.
PADDINGS = ("valid", "same", "full")
#: SciPy's boundaries, then PyTorch's two others.
BOUNDARIES = ("fill", "wrap", "symm", "reflect", "replicate")
#: The boundaries the SciPy face's correlate2d takes under these names.
_SCIPY_BOUNDARIES = ("fill", "wrap", "symm")
_TORCH_MODES = {"fill": "zeros", "wrap": "circular", "reflect": "reflect", "replicate": "replicate"}
_NUMPY_MODES = {
    "fill": "constant",
    "wrap": "wrap",
    "symm": "symmetric",
    "reflect": "reflect",
    "replicate": "edge",
}


@dataclass(frozen=True)
class Source:
    """Where the input comes from, its values, and the Python lines that rebuild it."""

    values: NDArray[np.float64]
    code: str
    label: str


@dataclass(frozen=True)
class View:
    """A parsed Correlation-panel request."""

    source: Source
    kernel: NDArray[np.float64]
    operation: str
    padding: str | int
    boundary: str
    fill: float
    stride: int
    dilation: int


def read_source(
    body: Mapping[str, Any],
    images: ImageStore,
    name: str = "input",
    grid: tuple[int, int] = MAX_GRID,
) -> Source:
    """The input of a request: ``{"kind": "grid", "cells": [...]}``, a sample or an upload."""
    spec = object_field(body, name)
    kind = choice(spec, "kind", ("grid", "sample", "upload"), "grid")
    if kind == "grid":
        values = matrix(spec, "cells", name, grid, field=name)
        return Source(values, f"X = {matrix_literal(values)}", f"{_shape(values)} grid")
    if kind == "sample":
        sample = choice(spec, "name", tuple(SAMPLES), "grace-hopper")
        size = integer(spec, "size", SAMPLES[sample].sizes[-1], 1, 4096)
        return Source(
            sample_image(sample, size), sample_code(sample, size), f"{sample} {size}x{size}"
        )
    upload = images.get(spec.get("id"))
    return Source(upload.values, _upload_code(upload), upload.name)


def _upload_code(upload: Upload) -> str:
    lines = ["from corr2d.io import read_image", f"X = read_image({upload.name!r}).astype(float)"]
    if upload.channels >= 3:
        lines.append("X = X[..., :3] @ [0.299, 0.587, 0.114]  # grey (luma)")
    elif upload.channels == 2:
        lines.append("X = X[..., 0]  # grey, alpha dropped")
    return "\n".join(lines)


def read_view(body: Mapping[str, Any], images: ImageStore) -> View:
    """Parse a Correlation-panel request (see :func:`compute_view`)."""
    source = read_source(body, images)
    kernel = matrix(body, "kernel", "kernel", MAX_KERNEL)
    padding_value = body.get("padding", "valid")
    padding: str | int
    if padding_value in PADDINGS:
        padding = str(padding_value)
    else:
        try:
            padding = integer(body, "padding", 0, 0, 64)
        except RequestError:
            raise RequestError(
                f"`padding` must be 'valid', 'same', 'full' or a number of pixels 0..64, "
                f"got {padding_value!r}",
                field="padding",
            ) from None
    return View(
        source=source,
        kernel=kernel,
        operation=choice(body, "operation", OPERATIONS, "correlation"),
        padding=padding,
        boundary=choice(body, "boundary", BOUNDARIES, "fill"),
        fill=number(body, "fill", 0.0, low=-1e12, high=1e12),
        stride=integer(body, "stride", 1, 1, 16),
        dilation=integer(body, "dilation", 1, 1, 16),
    )


def _scipy_face(view: View) -> bool:
    return (
        view.stride == 1
        and view.dilation == 1
        and view.padding in PADDINGS
        and view.boundary in _SCIPY_BOUNDARIES
    )


def compute_view(view: View) -> dict[str, Any]:
    """Compute a view with the library: the output, the padded input, and the code.

    Returns
    -------
    dict
        ``call`` (the library function used), ``padded`` (the input as extended by the
        boundary rule, the array the kernel slides over), ``pads``
        (((top, bottom), (left, right)) around the input), ``kernel``, ``applied`` (the
        kernel as slid: flipped for a convolution), ``output``, ``stride``,
        ``dilation`` and ``code`` (``corr2d`` and ``torch`` snippets).

    Raises
    ------
    RequestError
        For a view the library refuses; the reason is the library's own message.
    """
    X, K = view.source.values, view.kernel
    flip = view.operation == "convolution"
    applied = K[::-1, ::-1] if flip else K
    try:
        if _scipy_face(view):
            call, output, pads = _scipy_call(view)
        else:
            call, output, pads = _torch_face_call(view, applied)
    except (ValueError, TypeError) as exc:
        raise RequestError(str(exc)) from None
    np_mode = _NUMPY_MODES[view.boundary]
    padded = pad2d(X, pads, np_mode, view.fill)
    return {
        "call": call,
        "source": view.source.label,
        "padded": encode_array(padded),
        "pads": [list(pads[0]), list(pads[1])],
        "kernel": encode_array(K),
        "applied": encode_array(applied),
        "output": encode_array(output),
        "stride": view.stride,
        "dilation": view.dilation,
        "code": {
            "corr2d": corr2d_code(view, call),
            "torch": torch_code(view, pads, np_mode),
        },
    }


def _scipy_call(view: View) -> tuple[str, NDArray[Any], Pads]:
    X, K = view.source.values, view.kernel
    mode = str(view.padding)
    if mode == "valid" and (K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]):
        raise RequestError(
            f"the kernel ({_shape(K)}) is larger than the input ({_shape(X)}): 'valid' "
            "leaves no output; choose padding 'same' or 'full'",
            field="kernel",
        )
    convolution = view.operation == "convolution"
    pads = scipy_pads(mode, K.shape, convolution)
    if mode == "valid" and not convolution:
        return "corr2d", corr2d(X, K), pads
    face = convolve2d if convolution else correlate2d
    output = face(X, K, mode=mode, boundary=view.boundary, fillvalue=view.fill)  # type: ignore[arg-type]
    return face.__name__, output, pads


def _torch_face_call(view: View, applied: NDArray[Any]) -> tuple[str, NDArray[Any], Pads]:
    if view.boundary not in _TORCH_MODES:
        raise RequestError(
            "boundary 'symm' is SciPy's (correlate2d): it needs stride 1, dilation 1 and "
            "padding valid, same or full; conv2d pads with fill 0, wrap, reflect or replicate",
            field="boundary",
        )
    if view.boundary == "fill" and view.fill != 0:
        raise RequestError(
            "a fill value other than 0 is SciPy's (correlate2d): it needs stride 1, dilation "
            "1 and padding valid, same or full; conv2d's zero padding fills with 0",
            field="fill",
        )
    padding = _torch_padding(view)
    X = view.source.values
    output = conv2d(
        X[None, None],
        applied[None, None],
        stride=view.stride,
        padding=padding,  # type: ignore[arg-type]
        dilation=view.dilation,
        padding_mode=_TORCH_MODES[view.boundary],  # type: ignore[arg-type]
    )[0, 0]
    return "conv2d", output, _torch_pads(view, padding)


def _effective(view: View) -> tuple[int, int]:
    kh, kw = view.kernel.shape
    return (view.dilation * (kh - 1) + 1, view.dilation * (kw - 1) + 1)


def _torch_padding(view: View) -> str | int | tuple[int, int]:
    if view.padding == "valid":
        return 0
    if view.padding == "same":
        return "same"
    if view.padding == "full":
        eff = _effective(view)
        return (eff[0] - 1, eff[1] - 1)
    return int(view.padding)


def _torch_pads(view: View, padding: str | int | tuple[int, int]) -> Pads:
    if padding == "same":  # PyTorch's rule: the odd pixel at the end
        eff = _effective(view)
        return (
            ((eff[0] - 1) // 2, eff[0] - 1 - (eff[0] - 1) // 2),
            ((eff[1] - 1) // 2, eff[1] - 1 - (eff[1] - 1) // 2),
        )
    rows, cols = padding if isinstance(padding, tuple) else (int(padding), int(padding))
    return ((rows, rows), (cols, cols))


# --- the code box --------------------------------------------------------------------------


def corr2d_code(view: View, call: str) -> str:
    """The corr2d call that reproduces the view, with the input and kernel it needs."""
    lines = ["import numpy as np", "import corr2d", "", view.source.code]
    lines.append(f"K = {matrix_literal(view.kernel)}")
    if call == "corr2d":
        lines.append("Y = corr2d.corr2d(X, K)")
    elif call in ("correlate2d", "convolve2d"):
        arguments = [f"mode={view.padding!r}"]
        if view.boundary != "fill":
            arguments.append(f"boundary={view.boundary!r}")
        elif view.fill != 0:
            arguments.append(f"fillvalue={_number(view.fill)}")
        lines.append(f"Y = corr2d.{call}(X, K, {', '.join(arguments)})")
    else:
        weight = "K[::-1, ::-1][None, None]" if view.operation == "convolution" else "K[None, None]"
        arguments = ["X[None, None]", weight]
        if view.stride != 1:
            arguments.append(f"stride={view.stride}")
        padding = _torch_padding(view)
        if padding != 0:
            arguments.append(f"padding={padding!r}")
        if view.dilation != 1:
            arguments.append(f"dilation={view.dilation}")
        if view.boundary != "fill":
            arguments.append(f"padding_mode={_TORCH_MODES[view.boundary]!r}")
        lines.append(f"Y = corr2d.conv2d({', '.join(arguments)})[0, 0]")
        if view.operation == "convolution":
            lines[-1] += "  # convolution = correlation with the flipped kernel"
    return "\n".join(lines)


def torch_code(view: View, pads: Pads, np_mode: str) -> str:
    """The ``torch.nn.functional.conv2d`` call that gives the same numbers as the view."""
    (top, bottom), (left, right) = pads
    height, width = view.source.values.shape
    lines = [
        "import torch",
        "import torch.nn.functional as F",
        "",
        "# X and K as above (NumPy arrays); torch wants (N, C, H, W) and (C_out, C_in, kH, kW)",
    ]
    conv_padding = None
    if pads == ((0, 0), (0, 0)):
        lines.append("x = torch.tensor(X)[None, None]")
    elif np_mode == "constant" and view.fill == 0 and top == bottom and left == right:
        lines.append("x = torch.tensor(X)[None, None]")
        conv_padding = (top, left)
    elif np_mode == "constant":
        lines.append("x = torch.tensor(X)[None, None]")
        value = f", value={_number(view.fill)}" if view.fill != 0 else ""
        lines.append(f"x = F.pad(x, ({left}, {right}, {top}, {bottom}){value})")
    elif _torch_pads_ok(np_mode, pads, height, width):
        torch_mode = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}[np_mode]
        lines.append("x = torch.tensor(X)[None, None]")
        lines.append(f"x = F.pad(x, ({left}, {right}, {top}, {bottom}), mode={torch_mode!r})")
    else:
        why = {
            "symmetric": "torch has no symmetric padding",
            "wrap": "torch's circular padding wraps at most once",
            "reflect": "torch's reflect padding must be smaller than the input",
        }[np_mode]
        lines.append(f"# {why}: pad with NumPy first")
        lines.append(
            f"x = torch.tensor(np.pad(X, (({top}, {bottom}), ({left}, {right})), "
            f"mode={np_mode!r}))[None, None]"
        )
    if view.operation == "convolution":
        lines.append("w = torch.tensor(K).flip(0, 1)[None, None]  # conv2d correlates: flip K")
    else:
        lines.append("w = torch.tensor(K)[None, None]")
    arguments = ["x", "w"]
    if view.stride != 1:
        arguments.append(f"stride={view.stride}")
    if conv_padding is not None:
        arguments.append(f"padding={conv_padding}")
    if view.dilation != 1:
        arguments.append(f"dilation={view.dilation}")
    lines.append(f"y = F.conv2d({', '.join(arguments)})[0, 0]  # equals Y")
    return "\n".join(lines)


def _torch_pads_ok(np_mode: str, pads: Pads, height: int, width: int) -> bool:
    widest = (max(pads[0]), max(pads[1]))
    if np_mode == "edge":
        return True
    if np_mode == "reflect":
        return widest[0] < height and widest[1] < width
    if np_mode == "wrap":
        return widest[0] <= height and widest[1] <= width
    return False


def matrix_literal(values: NDArray[Any]) -> str:
    """``np.array([[...], ...], dtype=float)`` with every value exact.

    Examples
    --------
    >>> import numpy as np
    >>> matrix_literal(np.array([[0.0, 1.5], [2.0, -3.0]]))
    'np.array([[0, 1.5], [2, -3]], dtype=float)'
    """
    rows = ", ".join("[" + ", ".join(_number(v) for v in row) + "]" for row in values)
    return f"np.array([{rows}], dtype=float)"


def _number(value: float) -> str:
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _shape(values: NDArray[Any]) -> str:
    return f"{values.shape[0]}x{values.shape[1]}"
