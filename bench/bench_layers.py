"""Forward + backward of three Conv2D layer shapes: corr2d against PyTorch autograd (CPU).

Both run in float32 on 2 threads (``torch.set_num_threads(2)``; numba uses its own
setting, ``NUMBA_NUM_THREADS``, which defaults to the core count).  Prints a markdown
table of median times over repeats.

    python bench/bench_layers.py [--repeats 7]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from _timing import compare
from corr2d import Conv2D

# (label, N, C_in, C_out, size, kernel, stride, padding)
SHAPES = [
    ("N=8, 16->32, 64x64, 3x3, pad 1", 8, 16, 32, 64, 3, 1, 1),
    ("N=32, 64->64, 32x32, 3x3, pad 1", 32, 64, 64, 32, 3, 1, 1),
    ("N=1, 3->64, 224x224, 7x7, stride 2, pad 3", 1, 3, 64, 224, 7, 2, 3),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, "
        f"median of {args.repeats}"
    )
    print()
    print("| layer | corr2d fwd+bwd (ms) | torch fwd+bwd (ms) | corr2d / torch |")
    print("|---|---:|---:|---:|")
    for label, n, c_in, c_out, size, k, stride, padding in SHAPES:
        layer = Conv2D(k, c_in, c_out, stride=stride, padding=padding, rng=rng, dtype=np.float32)
        module = layer.to_torch()
        x = rng.standard_normal((n, c_in, size, size), dtype=np.float32)
        grad = rng.standard_normal(layer(x).shape, dtype=np.float32)
        x_torch, grad_torch = torch.from_numpy(x).requires_grad_(), torch.from_numpy(grad)

        def ours(layer: Conv2D = layer, x: np.ndarray = x, grad: np.ndarray = grad) -> None:
            layer.zero_grad()
            layer(x)
            layer.backward(grad)

        def theirs(
            module: torch.nn.Conv2d = module,
            x_torch: torch.Tensor = x_torch,
            grad_torch: torch.Tensor = grad_torch,
        ) -> None:
            module.zero_grad()
            x_torch.grad = None
            module(x_torch).backward(grad_torch)

        ours_s, theirs_s = compare([ours, theirs], args.repeats)
        print(f"| {label} | {ours_s * 1e3:.1f} | {theirs_s * 1e3:.1f} | {ours_s / theirs_s:.2f} |")


if __name__ == "__main__":
    main()
