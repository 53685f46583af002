"""``corr2d explore``: the chapter as a page in the browser, computed by corr2d.

A small local server (:mod:`corr2d.explore.server`, standard library only) serves a
hand-written page shipped in this package (no CDN; it works offline) and a JSON API
(:mod:`corr2d.explore.api`) through which every number on the page is computed by the
library: correlations and their arithmetic (:mod:`corr2d.explore.correlation`), live
training of a :class:`corr2d.Conv2D` beside :func:`corr2d.estimate_kernel`'s exact answer
(:mod:`corr2d.explore.training`), and receptive fields with their measured (gradient)
counterpart.

Examples
--------
>>> from corr2d.explore import create_server
>>> server = create_server()          # 127.0.0.1, a free port, a fresh token
>>> server.url.startswith("http://127.0.0.1:")
True
>>> server.close()
"""

from corr2d.explore.api import Limits
from corr2d.explore.server import ExploreServer, PortInUseError, create_server

__all__ = ["ExploreServer", "Limits", "PortInUseError", "create_server"]
