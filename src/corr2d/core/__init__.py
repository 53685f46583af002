"""The correlation core: one 'valid' correlation, by compiled loops or by FFT, and its faces.

* :mod:`corr2d.core.correlate` -- the chapter's ``corr2d`` and the SciPy face
  (``correlate2d``, ``convolve2d``, ``choose_method``);
* :mod:`corr2d.core.conv` -- the PyTorch face (``conv2d``) and its backward pass;
* ``_paths`` -- one image: the choice among 2-D direct sums, separable passes,
  running sums and FFTs, and running it; ``_separable`` -- splitting kernels into 1-D
  factors (and :class:`Separable`, a kernel given by them);
* ``_engine`` -- the dispatcher and cost model of the layers and the 2-D loops;
  ``_loops`` and ``_bands`` -- compiled loops (``_microkernels`` their register
  blocks), run on every core by ``_pool``; ``_vectorised`` -- the same in NumPy, for
  small jobs; ``_fft`` -- tiled FFTs; ``_padding`` -- border rules; ``_reference`` --
  the slow twin.
"""

from corr2d.core._separable import Separable
from corr2d.core.conv import Conv2dGrads, conv2d, conv2d_backward, conv2d_output_shape
from corr2d.core.correlate import choose_method, convolve2d, corr2d, correlate2d

__all__ = [
    "Conv2dGrads",
    "Separable",
    "choose_method",
    "conv2d",
    "conv2d_backward",
    "conv2d_output_shape",
    "convolve2d",
    "corr2d",
    "correlate2d",
]
