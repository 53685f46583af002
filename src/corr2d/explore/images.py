"""Images for the page: the bundled samples and the files people upload.

The page works on grey values: a colour image becomes its luma
``0.299 R + 0.587 G + 0.114 B`` (alpha dropped), integer pixels keep their values
(0-255 or 0-65535, not rescaled).  Samples come from matplotlib's sample data and are
shrunk by block means, which a reader can redo in two lines of NumPy (the code box shows
them).  Uploads are read by :func:`corr2d.io.read_image` and kept in memory, a few at a
time, under an id the page sends back.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d.explore._requests import RequestError
from corr2d.io import ImageReadError, ImageTooLargeError, read_image

__all__ = ["LUMA", "SAMPLES", "ImageStore", "Sample", "grey", "sample_image"]

#: ITU-R BT.601 luma weights for R, G, B.
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class Sample:
    """A bundled sample: where it comes from and the sizes it is offered at."""

    name: str
    title: str
    full_size: int
    sizes: tuple[int, ...]


SAMPLES = {
    "grace-hopper": Sample(
        "grace-hopper",
        "Grace Hopper (matplotlib sample, 8-bit colour)",
        512,
        (32, 64, 128, 256, 512),
    ),
    "mri": Sample("mri", "MRI slice (matplotlib sample, 16-bit)", 256, (32, 64, 128, 256)),
}


def grey(image: NDArray[Any]) -> NDArray[np.float64]:
    """Grey float64 values: luma for colour, the first channel of grey + alpha.

    Examples
    --------
    >>> import numpy as np
    >>> grey(np.array([[[255, 0, 0]]], dtype=np.uint8))
    array([[76.245]])
    """
    values = np.asarray(image, dtype=np.float64)
    if values.ndim == 3:
        values = values[..., 0] if values.shape[2] <= 2 else values[..., :3] @ np.array(LUMA)
    return values


def _sample_folder() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data"


def _full_sample(name: str) -> NDArray[np.float64]:
    if name == "grace-hopper":
        rgb = read_image(_sample_folder() / "grace_hopper.jpg")
        return grey(rgb[44:556])  # the centre 512x512 of the 600x512 photograph
    with gzip.open(_sample_folder() / "s1045.ima.gz", "rb") as handle:
        return np.frombuffer(handle.read(), dtype="<u2").reshape(256, 256).astype(np.float64)


def sample_code(name: str, size: int) -> str:
    """Python lines that rebuild ``sample_image(name, size)`` as ``X``."""
    if name == "grace-hopper":
        lines = [
            "import os, matplotlib",
            "from corr2d.io import read_image",
            "rgb = read_image(os.path.join(matplotlib.get_data_path(), 'sample_data', "
            "'grace_hopper.jpg'))",
            "X = rgb[44:556, :, :3] @ [0.299, 0.587, 0.114]  # grey, 512x512",
        ]
    else:
        lines = [
            "import gzip, os, matplotlib",
            "path = os.path.join(matplotlib.get_data_path(), 'sample_data', 's1045.ima.gz')",
            "X = np.frombuffer(gzip.open(path).read(), '<u2').reshape(256, 256).astype(float)",
        ]
    factor = SAMPLES[name].full_size // size
    if factor > 1:
        lines.append(
            f"X = X.reshape({size}, {factor}, {size}, {factor}).mean(axis=(1, 3))"
            f"  # {size}x{size} block means"
        )
    return "\n".join(lines)


_SAMPLE_CACHE: dict[tuple[str, int], NDArray[np.float64]] = {}
_SAMPLE_LOCK = threading.Lock()


def sample_image(name: str, size: int) -> NDArray[np.float64]:
    """The sample ``name`` at ``size`` x ``size`` (block means of the full image).

    Raises
    ------
    RequestError
        For an unknown sample or size.
    """
    if name not in SAMPLES:
        raise RequestError(
            f"unknown sample {name!r}; the samples are {', '.join(SAMPLES)}", field="input"
        )
    sample = SAMPLES[name]
    if size not in sample.sizes:
        raise RequestError(
            f"sample {name!r} comes in sizes {', '.join(map(str, sample.sizes))}, got {size}",
            field="input",
        )
    with _SAMPLE_LOCK:
        if (name, size) not in _SAMPLE_CACHE:
            full = _full_sample(name)
            factor = sample.full_size // size
            image = full.reshape(size, factor, size, factor).mean(axis=(1, 3))
            image.setflags(write=False)
            _SAMPLE_CACHE[(name, size)] = image
        return _SAMPLE_CACHE[(name, size)]


@dataclass(frozen=True)
class Upload:
    """An uploaded image: grey values and what the page shows about it."""

    id: str
    name: str
    values: NDArray[np.float64]
    dtype: str
    channels: int

    def describe(self) -> dict[str, Any]:
        """What the page needs to show the image (not its values)."""
        return {
            "id": self.id,
            "name": self.name,
            "shape": list(self.values.shape),
            "dtype": self.dtype,
            "channels": self.channels,
        }


class ImageStore:
    """Uploaded images, the most recent ``capacity`` kept in memory.

    Parameters
    ----------
    max_pixels : int
        The largest image accepted (width times height).
    capacity : int, optional
        How many uploads are kept; older ones are forgotten (the page then asks for
        the file again).
    """

    def __init__(self, max_pixels: int, capacity: int = 8) -> None:
        self.max_pixels = max_pixels
        self.capacity = capacity
        self._images: OrderedDict[str, Upload] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, data: bytes, name: str) -> Upload:
        """Decode an uploaded file with :func:`corr2d.io.read_image` and keep it.

        Raises
        ------
        RequestError
            If the bytes are not an image corr2d reads, or the image is too large.
        """
        digest = hashlib.sha256(data).hexdigest()[:20]
        with self._lock:
            if digest in self._images:
                self._images.move_to_end(digest)
                return self._images[digest]
        image = self._decode(data)
        upload = Upload(
            id=digest,
            name=_safe_name(name),
            values=grey(image),
            dtype=str(image.dtype),
            channels=1 if image.ndim == 2 else int(image.shape[2]),
        )
        upload.values.setflags(write=False)
        with self._lock:
            self._images[digest] = upload
            while len(self._images) > self.capacity:
                self._images.popitem(last=False)
        return upload

    def get(self, upload_id: Any) -> Upload:
        """The upload with this id."""
        with self._lock:
            upload = self._images.get(upload_id) if isinstance(upload_id, str) else None
        if upload is None:
            raise RequestError(
                "that uploaded image is no longer on the server (it keeps the last "
                f"{self.capacity}); upload it again",
                status=404,
                field="input",
            )
        return upload

    def _decode(self, data: bytes) -> NDArray[Any]:
        handle, path = tempfile.mkstemp(prefix="corr2d-explore-", suffix=".img")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            try:
                image = read_image(path, max_pixels=self.max_pixels)
            except ImageTooLargeError as exc:
                raise RequestError(
                    f"the image is too large for the page (it takes up to "
                    f"{self.max_pixels:,} pixels, e.g. "
                    f"{int(self.max_pixels**0.5)}x{int(self.max_pixels**0.5)}): "
                    f"{_after_path(str(exc), path)}",
                    status=413,
                    field="input",
                ) from None
            except ImageReadError as exc:
                raise RequestError(
                    f"not an image corr2d can read (PNG, JPEG or TIFF): "
                    f"{_after_path(str(exc), path)}",
                    status=415,
                    field="input",
                ) from None
        finally:
            Path(path).unlink(missing_ok=True)
        if image.dtype.kind == "c" or image.dtype.kind not in "biuf":
            raise RequestError(f"images of dtype {image.dtype} are not supported", status=415)
        if not np.isfinite(np.asarray(image, dtype=np.float64)).all():
            raise RequestError("the image holds NaN or inf values", status=415, field="input")
        return image


def _after_path(message: str, path: str) -> str:
    """The reader's message without the temporary file's name."""
    return message.replace(f"{path}: ", "").replace(path, "the file")


def _safe_name(name: str) -> str:
    base = os.path.basename(str(name).replace("\\", "/"))[:80]
    return "".join(ch for ch in base if ch.isprintable()) or "upload"
