"""Receptive-field arithmetic for a stack of correlation and pooling layers.

A feature of a layer is computed from a window of the layer below, which was computed
from a larger window below that, and so on down to the input.  Per axis, four numbers
follow each layer through the stack (input pixel ``t`` has its centre at coordinate ``t``):

=========  ====================================  ===============================================
symbol     meaning                               recurrence over a layer
=========  ====================================  ===============================================
``n``      output size (with an input shape)     ``(n + p_lo + p_hi - k_eff) // s + 1``
``j``      jump: input pixels between features   ``j_out = j_in * s``
``r``      receptive-field size, input pixels    ``r_out = r_in + (k_eff - 1) * j_in``
``start``  centre of feature 0's field           ``start_in + ((k_eff - 1) / 2 - p_lo) * j_in``
=========  ====================================  ===============================================

with ``k_eff = d * (k - 1) + 1`` for dilation ``d`` (a dilated kernel spans ``k_eff``
pixels).  Feature ``i`` is then centred on input coordinate ``start + i * j`` and reads
input pixels ``start + i * j - (r - 1) / 2`` to ``start + i * j + (r - 1) / 2``, a window
that may reach past the image into the padding.

The size is the *extent* of the field.  With dilation, or a stride larger than the kernel,
some pixels inside the extent are never read (:func:`empirical_receptive_field` shows
which).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from corr2d._validation import as_pair, check_int, check_memory, check_real, fail
from corr2d.core import conv2d_backward

__all__ = [
    "LayerSpec",
    "ReceptiveField",
    "ReceptiveFieldRow",
    "Window",
    "empirical_receptive_field",
    "parse_layer",
    "receptive_field",
]

Pair = tuple[int, int]
Pads = tuple[tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class LayerSpec:
    """One layer: kernel size, stride, padding and dilation, per axis (rows, columns).

    Attributes
    ----------
    kernel_size : (int, int)
    stride : (int, int)
    padding : ((int, int), (int, int))
        ((top, bottom), (left, right)).
    dilation : (int, int)
    kind : {'conv', 'pool'}
        Only for display; both are sliding windows as far as the arithmetic goes.
    """

    kernel_size: Pair
    stride: Pair = (1, 1)
    padding: Pads = ((0, 0), (0, 0))
    dilation: Pair = (1, 1)
    kind: Literal["conv", "pool"] = "conv"

    @property
    def effective_kernel(self) -> Pair:
        """``d * (k - 1) + 1`` per axis: the span of the dilated kernel."""
        return (
            self.dilation[0] * (self.kernel_size[0] - 1) + 1,
            self.dilation[1] * (self.kernel_size[1] - 1) + 1,
        )

    def __str__(self) -> str:
        text = f"{self.kind} {self.kernel_size[0]}x{self.kernel_size[1]}"
        if self.stride != (1, 1):
            text += f"/s{_pair_text(self.stride, 'x')}"
        (top, bottom), (left, right) = self.padding
        if (top, left) != (0, 0) or (bottom, right) != (0, 0):
            if top == bottom and left == right:
                text += f"/p{_pair_text((top, left), 'x')}"
            else:
                text += f"/p{top},{bottom}x{left},{right}"
        if self.dilation != (1, 1):
            text += f"/d{_pair_text(self.dilation, 'x')}"
        return text


class ReceptiveFieldRow(NamedTuple):
    """One row of the table: the state after a layer (or of the input), per axis."""

    layer: str
    output_shape: Pair | None
    jump: Pair
    size: Pair
    start: tuple[float, float]


class Window(NamedTuple):
    """The input window of one feature: its centre and its half-open row/column ranges.

    The ranges may extend past the image (into the padding) and include pixels that a
    dilated stack never reads.
    """

    center: tuple[float, float]
    rows: Pair
    cols: Pair


@dataclass(frozen=True)
class ReceptiveField:
    """The result of :func:`receptive_field`.

    Attributes
    ----------
    layers : tuple of LayerSpec
        The normalised layers.
    input_shape : (int, int) or None
    rows : tuple of ReceptiveFieldRow
        ``rows[0]`` is the input (jump 1, size 1, start 0); ``rows[i]`` is the state after
        layer ``i``.  Plain data, for rendering elsewhere.
    """

    layers: tuple[LayerSpec, ...]
    input_shape: Pair | None
    rows: tuple[ReceptiveFieldRow, ...]

    @property
    def size(self) -> Pair:
        """Receptive-field size (rows, columns) of a feature of the last layer."""
        return self.rows[-1].size

    @property
    def jump(self) -> Pair:
        """Effective stride: input pixels between neighbouring features of the last layer."""
        return self.rows[-1].jump

    @property
    def start(self) -> tuple[float, float]:
        """Input coordinate of the centre of feature (0, 0)'s field."""
        return self.rows[-1].start

    @property
    def output_shape(self) -> Pair | None:
        """Shape of the last layer's output, if an input shape was given."""
        return self.rows[-1].output_shape

    @property
    def effective_padding(self) -> Pair:
        """How far feature (0, 0)'s field reaches before the image: ``(r - 1)/2 - start``.

        This is the "effective padding" of Araujo et al. (Distill, 2019).
        """
        return (
            int((self.size[0] - 1) / 2 - self.start[0]),
            int((self.size[1] - 1) / 2 - self.start[1]),
        )

    def to_input(self, i: int, j: int) -> Window:
        """The input window of feature ``(i, j)`` of the last layer.

        Examples
        --------
        Two 3x3 layers, the first with stride 2: size 3 + 2*2 = 7, jump 2, and feature 0
        centred on pixel 3, so feature 1 is centred on 3 + 1*2 = 5.

        >>> from corr2d import receptive_field
        >>> rf = receptive_field(["3x3/s2", "3x3"])
        >>> rf.to_input(1, 0)
        Window(center=(5.0, 3.0), rows=(2, 9), cols=(0, 7))
        """
        func = "ReceptiveField.to_input"
        limit = (None, None) if self.output_shape is None else self.output_shape
        index = tuple(
            _check_index(func, name, value, limit[a])
            for a, (name, value) in enumerate((("i", i), ("j", j)))
        )
        centre = tuple(self.start[a] + index[a] * self.jump[a] for a in range(2))
        lo = [round(centre[a] - (self.size[a] - 1) / 2) for a in range(2)]
        return Window(
            center=(float(centre[0]), float(centre[1])),
            rows=(lo[0], lo[0] + self.size[0]),
            cols=(lo[1], lo[1] + self.size[1]),
        )

    def to_feature(self, y: float, x: float) -> tuple[float, float]:
        """The feature coordinates whose field is centred on input point ``(y, x)``.

        The inverse of the centre map of :meth:`to_input`: ``(y - start) / jump`` per
        axis.  The result is fractional for a point between two feature centres.

        Examples
        --------
        >>> from corr2d import receptive_field
        >>> receptive_field(["3x3/s2", "3x3"]).to_feature(5.0, 3.0)
        (1.0, 0.0)
        """
        func = "ReceptiveField.to_feature"
        point = (check_real(func, "y", y), check_real(func, "x", x))
        return (
            (point[0] - self.start[0]) / self.jump[0],
            (point[1] - self.start[1]) / self.jump[1],
        )

    def features_containing(self, y: int, x: int) -> tuple[Pair, Pair]:
        """Half-open ranges of the last layer's rows and columns whose window contains
        input pixel ``(y, x)`` (clipped to the output shape when it is known).

        Examples
        --------
        >>> from corr2d import receptive_field
        >>> receptive_field(["2x2", "2x2"], (3, 3)).features_containing(1, 2)
        ((0, 1), (0, 1))
        """
        func = "ReceptiveField.features_containing"
        point = (check_int(func, "y", y), check_int(func, "x", x))
        ranges = []
        for a in range(2):
            first = self.start[a] - (self.size[a] - 1) / 2
            lo = math.ceil((point[a] - first - self.size[a] + 1) / self.jump[a])
            hi = math.floor((point[a] - first) / self.jump[a]) + 1
            lo = max(lo, 0)
            if self.output_shape is not None:
                hi = min(hi, self.output_shape[a])
            ranges.append((lo, max(lo, hi)))
        return (ranges[0], ranges[1])

    def __str__(self) -> str:
        header = ("layer", "output", "jump", "size", "start")
        lines = [
            (
                row.layer,
                "-" if row.output_shape is None else _pair_text(row.output_shape, "x"),
                _pair_text(row.jump, "x"),
                _pair_text(row.size, "x"),
                _pair_text(row.start, ", "),
            )
            for row in self.rows
        ]
        widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)]
        return "\n".join(
            "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            for line in (header, *lines)
        )


def receptive_field(
    layers: Iterable[Any], input_shape: int | tuple[int, int] | None = None
) -> ReceptiveField:
    """Receptive field, jump and centre of every layer of a stack, per axis.

    Parameters
    ----------
    layers : iterable of layer specs
        Each one of:

        * a tuple ``(kernel, stride, padding, dilation)``, trailing items optional
          (defaults 1, 0, 1).  Items are ints or (rows, columns) pairs; ``padding`` may
          also be ((top, bottom), (left, right)), 'valid' or 'same' (PyTorch's rule: the
          odd pixel at the end).  The first item is always the kernel: ``(3, 2)`` means a
          3x3 kernel with stride 2; write ``((3, 2),)`` for a 3x2 kernel.
        * a string such as ``"3x3"``, ``"3x3/s2"``, ``"3x3/d2/p1"`` or ``"pool2x2/s2"``
          (see :func:`parse_layer`);
        * an object with ``kernel_size`` and optionally ``stride``, ``padding`` and
          ``dilation`` attributes, such as :class:`LayerSpec`, ``corr2d.Conv2D`` or a
          ``torch.nn.Conv2d``/``MaxPool2d`` (pooling is read with floor rounding).
    input_shape : int or (int, int), optional
        The input's (height, width); gives each layer's output shape.

    Returns
    -------
    ReceptiveField
        With the per-layer ``rows`` and the maps :meth:`~ReceptiveField.to_input` and
        :meth:`~ReceptiveField.to_feature`.

    Raises
    ------
    ValueError, TypeError
        For a malformed layer (the message names ``layers[i]``), or a layer whose output
        would be empty for ``input_shape``.

    Examples
    --------
    The chapter's example: a 2x2 layer on a 2x2 layer sees a 3x3 patch of the input.

    >>> from corr2d import receptive_field
    >>> rf = receptive_field([(2,), (2,)], input_shape=(3, 3))
    >>> rf.size, rf.jump, rf.output_shape
    ((3, 3), (1, 1), (1, 1))
    >>> print(rf)
    layer     output  jump  size  start
    input     3       1     1     0
    conv 2x2  2       1     2     0.5
    conv 2x2  1       1     3     1
    """
    func = "receptive_field"
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
        fail(func, "layers", "a list of layer specs", layers, TypeError)
    specs = tuple(_to_spec(func, f"layers[{i}]", layer) for i, layer in enumerate(layers))
    if not specs:
        fail(func, "layers", "non-empty", layers)
    shape: Pair | None = None
    if input_shape is not None:
        shape = as_pair(func, "input_shape", _shape_arg(input_shape), 1)

    size, jump, first = [1, 1], [1, 1], [0, 0]
    n: list[int] | None = list(shape) if shape is not None else None
    rows = [ReceptiveFieldRow("input", shape, (1, 1), (1, 1), (0.0, 0.0))]
    for index, spec in enumerate(specs):
        k_eff = spec.effective_kernel
        for a in range(2):
            pad_lo, pad_hi = spec.padding[a]
            size[a] += (k_eff[a] - 1) * jump[a]
            first[a] -= pad_lo * jump[a]
            jump[a] *= spec.stride[a]
            if n is not None:
                extent = n[a] + pad_lo + pad_hi
                if extent < k_eff[a]:
                    fail(
                        func,
                        f"layers[{index}]",
                        f"no wider, once dilated ({k_eff[a]}), than its padded input "
                        f"along axis {a} ({extent}) for input_shape={shape}",
                        str(spec),
                    )
                n[a] = (extent - k_eff[a]) // spec.stride[a] + 1
        rows.append(
            ReceptiveFieldRow(
                layer=str(spec),
                output_shape=None if n is None else (n[0], n[1]),
                jump=(jump[0], jump[1]),
                size=(size[0], size[1]),
                start=(first[0] + (size[0] - 1) / 2, first[1] + (size[1] - 1) / 2),
            )
        )
    return ReceptiveField(layers=specs, input_shape=shape, rows=tuple(rows))


def empirical_receptive_field(
    layers: Iterable[Any], input_shape: int | tuple[int, int], unit: tuple[int, int]
) -> NDArray[np.bool_]:
    """The input pixels whose gradient is non-zero for one output feature, measured.

    Back-propagates a one-hot gradient at ``unit`` of the last layer through the stack
    with :func:`corr2d.conv2d_backward`, every kernel (pools included) all ones.  Positive
    weights mean no cancellation, so a pixel gets a non-zero gradient exactly when some
    path of taps connects it to ``unit``.  Its bounding box is the arithmetic window of
    :meth:`ReceptiveField.to_input` clipped to the image; with dilation (or a stride larger
    than a kernel) pixels inside the box can stay unread.

    Parameters
    ----------
    layers : iterable of layer specs
        As for :func:`receptive_field`.
    input_shape : int or (int, int)
        The input's (height, width).
    unit : (int, int)
        The feature of the last layer, inside its output shape.

    Returns
    -------
    mask : ndarray of bool, shape ``input_shape``

    Examples
    --------
    >>> from corr2d import empirical_receptive_field
    >>> empirical_receptive_field(["3x3/d2"], (5, 5), (0, 0)).astype(int)
    array([[1, 0, 1, 0, 1],
           [0, 0, 0, 0, 0],
           [1, 0, 1, 0, 1],
           [0, 0, 0, 0, 0],
           [1, 0, 1, 0, 1]])
    """
    func = "empirical_receptive_field"
    layers = list(layers) if not isinstance(layers, (str, bytes)) else layers
    result = receptive_field(layers, input_shape)
    if not isinstance(unit, (tuple, list)) or len(unit) != 2:
        fail(func, "unit", "a pair (row, column)", unit, TypeError)
    out_shape = result.output_shape
    assert out_shape is not None  # an input shape was given
    cell = (check_int(func, "unit", unit[0], 0), check_int(func, "unit", unit[1], 0))
    if cell[0] >= out_shape[0] or cell[1] >= out_shape[1]:
        fail(func, "unit", f"inside the output shape {out_shape}", unit)
    _check_grid_memory(func, result, input_shape)
    grad = np.zeros(out_shape)
    grad[cell] = 1.0
    shapes = [row.output_shape for row in result.rows]
    for index in range(len(result.layers) - 1, -1, -1):
        spec = result.layers[index]
        in_shape = shapes[index]
        assert in_shape is not None
        (top, bottom), (left, right) = spec.padding
        padded = (in_shape[0] + top + bottom, in_shape[1] + left + right)
        grads = conv2d_backward(
            grad[None, None],
            np.ones((1, 1, *padded)),
            np.ones((1, 1, *spec.kernel_size)),
            stride=spec.stride,
            dilation=spec.dilation,
        )
        grad = grads.input[0, 0, top : top + in_shape[0], left : left + in_shape[1]]
    mask: NDArray[np.bool_] = grad > 0
    return mask


_LAYER_RE = re.compile(
    r"^(?P<kind>conv|pool|maxpool|avgpool)?\s*(?P<kernel>\d+(?:x\d+)?)"
    r"(?P<options>(?:/[a-z]+[0-9x,]*)*)$"
)
_OPTION_RE = re.compile(r"^(?P<key>[sdp])(?P<value>\d+(?:x\d+)?|same|valid)$")


def parse_layer(text: str) -> LayerSpec:
    """Parse a layer written as ``[conv|pool]KxK[/sS][/pP][/dD]``.

    ``K``, ``S``, ``P`` and ``D`` are an int or ``HxW``; ``/psame`` and ``/pvalid`` are
    allowed.  A convolution's stride defaults to 1, a pool's to its kernel size
    (PyTorch's default).  Case and spaces around the text are ignored.

    Parameters
    ----------
    text : str
        For example ``"3x3"``, ``"5"``, ``"3x3/s2"``, ``"3x3/d2/p1"``, ``"pool2x2"``,
        ``"maxpool3/s2"``, ``"1x7/p0x3"``.

    Returns
    -------
    LayerSpec

    Raises
    ------
    ValueError
        If ``text`` does not follow the grammar; the message shows the grammar.

    Examples
    --------
    >>> from corr2d import parse_layer
    >>> spec = parse_layer("pool2x2")
    >>> spec.kernel_size, spec.stride, spec.padding, spec.kind
    ((2, 2), (2, 2), ((0, 0), (0, 0)), 'pool')
    >>> str(parse_layer("3x3/d2/p2"))
    'conv 3x3/p2/d2'
    """
    func = "parse_layer"
    return _parse(func, "text", text)


def _parse(func: str, name: str, text: Any) -> LayerSpec:
    grammar = "'[conv|pool]KxK[/sS][/pP][/dD]' such as '3x3/s2' or 'pool2x2'"
    if not isinstance(text, str):
        fail(func, name, f"a string {grammar}", text, TypeError)
    match = _LAYER_RE.match(text.strip().lower().replace(" ", ""))
    if match is None:
        fail(func, name, f"of the form {grammar}", text)
    assert match is not None
    kind: Literal["conv", "pool"] = "pool" if match["kind"] and "pool" in match["kind"] else "conv"
    kernel = _pair_from_text(match["kernel"])
    values: dict[str, Any] = {}
    for option in filter(None, match["options"].split("/")):
        found = _OPTION_RE.match(option)
        if found is None or found["key"] in values:
            fail(func, name, f"of the form {grammar} with each option at most once", text)
        assert found is not None
        raw = found["value"]
        values[found["key"]] = raw if raw in ("same", "valid") else _pair_from_text(raw)
        if raw in ("same", "valid") and found["key"] != "p":
            fail(func, name, f"of the form {grammar}", text)
    stride = values.get("s", kernel if kind == "pool" else (1, 1))
    return _spec_from_parts(
        func, name, kernel, stride, values.get("p", 0), values.get("d", 1), kind
    )


def _pair_from_text(text: str) -> Pair:
    parts = [int(p) for p in text.split("x")]
    return (parts[0], parts[-1])


def _to_spec(func: str, name: str, layer: Any) -> LayerSpec:
    if isinstance(layer, LayerSpec):
        return layer
    if isinstance(layer, str):
        return _parse(func, name, layer)
    if isinstance(layer, (tuple, list)):
        if not 1 <= len(layer) <= 4:
            fail(
                func,
                name,
                "a tuple (kernel, stride, padding, dilation), trailing items optional",
                layer,
            )
        items: list[Any] = [*layer, *(1, 0, 1)[len(layer) - 1 :]]
        return _spec_from_parts(func, name, items[0], items[1], items[2], items[3], "conv")
    if hasattr(layer, "kernel_size"):
        kind: Literal["conv", "pool"] = "pool" if "pool" in type(layer).__name__.lower() else "conv"
        layer_stride = getattr(layer, "stride", None)
        kernel = layer.kernel_size
        return _spec_from_parts(
            func,
            name,
            kernel,
            kernel if layer_stride is None else layer_stride,
            getattr(layer, "padding", 0),
            getattr(layer, "dilation", 1),
            kind,
        )
    fail(
        func,
        name,
        "a tuple, a string such as '3x3/s2', or an object with a `kernel_size` attribute",
        layer,
        TypeError,
    )
    raise AssertionError("unreachable")


def _spec_from_parts(
    func: str,
    name: str,
    kernel: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    kind: Literal["conv", "pool"],
) -> LayerSpec:
    k = as_pair(func, f"{name} kernel", _shape_arg(kernel), 1)
    s = as_pair(func, f"{name} stride", _shape_arg(stride), 1)
    d = as_pair(func, f"{name} dilation", _shape_arg(dilation), 1)
    k_eff = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    pads: Pads
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            fail(func, f"{name} padding", "an int, a pair, 'valid' or 'same'", padding)
        if padding == "valid":
            pads = ((0, 0), (0, 0))
        else:
            pads = (
                ((k_eff[0] - 1) // 2, k_eff[0] - 1 - (k_eff[0] - 1) // 2),
                ((k_eff[1] - 1) // 2, k_eff[1] - 1 - (k_eff[1] - 1) // 2),
            )
    elif (
        isinstance(padding, (tuple, list))
        and len(padding) == 2
        and all(isinstance(p, (tuple, list)) for p in padding)
    ):
        top, bottom = as_pair(func, f"{name} padding", tuple(padding[0]), 0)
        left, right = as_pair(func, f"{name} padding", tuple(padding[1]), 0)
        pads = ((top, bottom), (left, right))
    else:
        p = as_pair(func, f"{name} padding", _shape_arg(padding), 0)
        pads = ((p[0], p[0]), (p[1], p[1]))
    return LayerSpec(kernel_size=k, stride=s, padding=pads, dilation=d, kind=kind)


def _shape_arg(value: Any) -> Any:
    if isinstance(value, (list, np.ndarray)):
        return tuple(int(v) if isinstance(v, np.integer) else v for v in value)
    return value


def _pair_text(pair: Sequence[float], sep: str) -> str:
    def show(v: float) -> str:
        return str(int(v)) if float(v).is_integer() else f"{v:g}"

    return show(pair[0]) if pair[0] == pair[1] else f"{show(pair[0])}{sep}{show(pair[1])}"


def _check_index(func: str, name: str, value: Any, size: int | None) -> int:
    """An index >= 0, and below ``size`` when the extent is known."""
    if size is None:
        return check_int(func, name, value, 0)
    return check_int(func, name, value, 0, size - 1)


def _check_grid_memory(func: str, result: ReceptiveField, input_shape: Any) -> None:
    """Refuse grids (an input or a layer's padded input) too large for this machine,
    naming the input shape or the layer whose padding makes them so."""
    name, value, largest = "input_shape", input_shape, 0
    shapes = [row.output_shape for row in result.rows[:-1]]  # rows[0] is the input
    for index, (spec, shape) in enumerate(zip(result.layers, shapes, strict=True)):
        assert shape is not None
        (top, bottom), (left, right) = spec.padding
        cells = (shape[0] + top + bottom) * (shape[1] + left + right)
        if cells > largest:
            largest = cells
            padding_dominates = cells > 4 * shape[0] * shape[1]
            name, value = (
                (f"layers[{index}]", str(spec))
                if padding_dominates
                else ("input_shape", input_shape)
            )
    check_memory(func, name, value, 32 * largest, "the padded grid of pixels")
