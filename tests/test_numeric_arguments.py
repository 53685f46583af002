"""Every numeric argument of the public API: bad values get the house message, NumPy
scalars are accepted wherever Python numbers are.

Each case calls one function with one argument replaced.  A bad value (a string, None,
a bool, NaN, inf, a negative or an absurdly large number, a fraction for an int) must
raise ``TypeError``, ``ValueError`` or ``MemoryError`` whose message names the function
and the argument, states the rule and shows the value: never a NumPy or Python error
from deep inside, never silent acceptance of what cannot be meant.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import corr2d
from corr2d import filtering, kernels, nn
from corr2d.io import read_image, write_image

HOUSE = re.compile(r"^(?P<func>[\w.]+): `(?P<name>[^`]+)` must be .+, got .+$", re.S)

X2, K2 = np.ones((6, 6)), np.ones((2, 2))
X4, W4 = np.ones((1, 1, 6, 6)), np.ones((1, 1, 2, 2))


def _params() -> list[nn.Parameter]:
    return nn.Conv2D(2).parameters()


def _image(tmp: Path) -> Path:
    path = tmp / "image.png"
    if not path.exists():
        write_image(path, np.zeros((4, 4), np.uint8))
    return path


#: name, the function name in messages, the argument name, kind, a good NumPy value,
#: and the call with the value in place.
CASES: list[tuple[str, str, str, str, Any, Callable[[Any, Path], Any]]] = [
    ("SGD lr", "SGD", "lr", "real", np.float32(0.5), lambda v, t: nn.SGD(_params(), lr=v)),
    ("SGD momentum", "SGD", "momentum", "fraction", np.float32(0.5),
     lambda v, t: nn.SGD(_params(), lr=0.1, momentum=v)),
    ("Adam eps", "Adam", "eps", "real", np.float64(1e-8), lambda v, t: nn.Adam(_params(), eps=v)),
    ("Adam betas", "Adam", "betas", "fraction", np.float32(0.5),
     lambda v, t: nn.Adam(_params(), betas=(v, 0.9))),
    ("Conv2D kernel_size", "Conv2D", "kernel_size", "size", np.int64(3), lambda v, t: nn.Conv2D(v)),
    ("Conv2D in_channels", "Conv2D", "in_channels", "size", np.int32(3),
     lambda v, t: nn.Conv2D(2, in_channels=v)),
    ("Linear in_features", "Linear", "in_features", "size", np.int64(3),
     lambda v, t: nn.Linear(v, 2)),
    ("to_input", "ReceptiveField.to_input", "i", "index", np.int64(1),
     lambda v, t: corr2d.receptive_field(["3x3"], (5, 5)).to_input(v, 0)),
    ("to_feature", "ReceptiveField.to_feature", "y", "signed", np.float32(1.0),
     lambda v, t: corr2d.receptive_field(["3x3"]).to_feature(v, 0)),
    ("features_containing", "ReceptiveField.features_containing", "y", "int", np.int64(1),
     lambda v, t: corr2d.receptive_field(["3x3"]).features_containing(v, 0)),
    ("conv2d stride", "conv2d", "stride", "size", np.int64(1),
     lambda v, t: corr2d.conv2d(X4, W4, stride=v)),
    ("conv2d padding", "conv2d", "padding", "count", np.int64(1),
     lambda v, t: corr2d.conv2d(X4, W4, padding=v)),
    ("conv2d groups", "conv2d", "groups", "size", np.int64(1),
     lambda v, t: corr2d.conv2d(X4, W4, groups=v)),
    ("im2col stride", "im2col", "stride", "size", np.int64(1),
     lambda v, t: corr2d.im2col(X2, 2, stride=v)),
    ("fit steps", "fit", "steps", "count", np.int64(3),
     lambda v, t: nn.fit(nn.Conv2D(2), X2, np.ones((5, 5)), steps=v)),
    ("fit lr", "fit", "lr", "real", np.float32(0.01),
     lambda v, t: nn.fit(nn.Conv2D(2), X2, np.ones((5, 5)), steps=2, lr=v)),
    ("gradcheck eps", "gradcheck", "eps", "real", np.float32(1e-3),
     lambda v, t: nn.gradcheck(nn.Conv2D(2), X2, eps=v)),
    ("gradcheck atol", "gradcheck", "atol", "real", np.float32(1e-3),
     lambda v, t: nn.gradcheck(nn.Conv2D(2), X2, atol=v)),
    ("gradcheck seed", "gradcheck", "seed", "count", np.int64(3),
     lambda v, t: nn.gradcheck(nn.Conv2D(2), X2, seed=v)),
    ("read_image max_pixels", "read_image", "max_pixels", "limit", np.int64(100),
     lambda v, t: read_image(_image(t), max_pixels=v)),
    ("write_image quality", "write_image", "quality", "quality", np.int64(90),
     lambda v, t: write_image(t / "q.jpg", np.zeros((4, 4), np.uint8), quality=v,
                              overwrite=True)),
    ("box size", "kernels.box", "size", "size", np.int64(3), lambda v, t: kernels.box(v)),
    ("directional vx", "kernels.directional_derivative", "vx", "signed", np.float32(1.0),
     lambda v, t: kernels.directional_derivative(v, 1.0)),
    ("finite_difference order", "kernels.finite_difference", "order", "order", np.int64(3),
     lambda v, t: kernels.finite_difference(v)),
    ("gaussian sigma", "kernels.gaussian", "sigma", "real", np.float32(1.5),
     lambda v, t: kernels.gaussian(v)),
    ("gaussian truncate", "kernels.gaussian", "truncate", "real", np.float32(3.0),
     lambda v, t: kernels.gaussian(1.0, truncate=v)),
    ("integral length", "kernels.integral", "length", "size", np.int64(4),
     lambda v, t: kernels.integral(v)),
    ("get order", "kernels.finite_difference", "order", "order", np.int64(2),
     lambda v, t: kernels.get("finite-difference", order=v)),
    ("correlate2d fillvalue", "correlate2d", "fillvalue", "fill", np.float32(0.5),
     lambda v, t: corr2d.correlate2d(X2, K2, "same", fillvalue=v)),
    ("filter_image fillvalue", "filter_image", "fillvalue", "fill", np.float32(0.5),
     lambda v, t: filtering.filter_image(X2, K2, fillvalue=v)),
    ("filter_pixels fillvalue", "filter_pixels", "fillvalue", "fill", np.int64(3),
     lambda v, t: filtering.filter_pixels(X2.astype(np.uint8), K2, "same", "fill", v)),
]  # fmt: skip

#: Values no argument of a kind may take.
BAD: dict[str, list[Any]] = {
    "real": ["0.1", None, True, float("nan"), float("inf"), -1.0, 10**400, 1 + 2j],
    "signed": ["0.1", None, True, float("nan"), float("inf"), 10**400, 1 + 2j],
    "limit": ["3", None, True, 2.5, 0, -1, float("nan")],
    "fraction": ["0.1", None, True, float("nan"), -0.5, 1.5],
    "size": ["3", None, True, 2.5, 0, -1, 10**30, float("nan")],
    "count": ["3", None, True, 2.5, -1, 10**30],
    "index": ["1", None, True, 1.5, -1, 10, 10**30],
    "int": ["1", None, True, 1.5],
    "quality": ["90", None, True, 0, 96, 90.0],
    "order": ["3", None, True, 1.5, 0, 2000, 10**30],
    "fill": ["0.1", None, [1.0, 2.0], 1 + 2j],  # NaN and -1 are SciPy's fill values too
}


@pytest.mark.parametrize(
    ("label", "func", "name", "kind", "good", "call"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_numbers_get_the_house_message(tmp_path, label, func, name, kind, good, call) -> None:
    for value in BAD[kind]:
        with pytest.raises((TypeError, ValueError, MemoryError)) as info:
            call(value, tmp_path)
        message = str(info.value)
        match = HOUSE.match(message)
        assert match is not None, f"{label}={value!r}: {type(info.value).__name__}: {message}"
        assert match["func"] == func, message
        assert name in match["name"], message


@pytest.mark.parametrize(
    ("label", "func", "name", "kind", "good", "call"), CASES, ids=[c[0] for c in CASES]
)
def test_numpy_scalars_are_accepted_like_python_numbers(
    tmp_path, label, func, name, kind, good, call
) -> None:
    call(good, tmp_path)
    call(good.item(), tmp_path)
