"""The correlation core: one 'valid' correlation, by compiled loops or by FFT, and its faces.

* :mod:`corr2d.core.correlate` -- the chapter's ``corr2d`` and the SciPy face
  (``correlate2d``, ``convolve2d``, ``choose_method``);
* :mod:`corr2d.core.conv` -- the PyTorch face (``conv2d``) and its backward pass;
* ``_engine`` -- the dispatcher and cost model; ``_loops`` -- compiled loops;
  ``_fft`` -- tiled FFTs; ``_padding`` -- border rules; ``_reference`` -- the slow twin.
"""

from corr2d.core.conv import Conv2dGrads, conv2d, conv2d_backward, conv2d_output_shape
from corr2d.core.correlate import choose_method, convolve2d, corr2d, correlate2d

__all__ = [
    "Conv2dGrads",
    "choose_method",
    "conv2d",
    "conv2d_backward",
    "conv2d_output_shape",
    "convolve2d",
    "corr2d",
    "correlate2d",
]
