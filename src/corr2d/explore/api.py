"""The JSON API behind the page: every number the page shows is computed here, by corr2d.

=======  ========================  ===========================================================
method   path                      what
=======  ========================  ===========================================================
GET      /api/info                 kernel names, samples, limits, version, the chapter's data
POST     /api/kernel               a kernel from a specification (``gaussian:sigma=1``)
POST     /api/correlate            a Correlation-panel view (:mod:`.correlation`)
POST     /api/image                an uploaded PNG/JPEG/TIFF (raw bytes) -> an id
POST     /api/kernel-file          a kernel as a ``.txt``, ``.csv`` or ``.npy`` file
POST     /api/rf                   a layer stack's receptive fields, and one unit's field
POST     /api/train                start a training run (:mod:`.training`)
GET      /api/train/ID?since=N     a run's state, losses from step N, kernel, distance
POST     /api/train/ID/resume      train ``steps`` more steps
POST     /api/train/ID/stop        pause
POST     /api/train/ID/end         end and forget the run
=======  ========================  ===========================================================

Handlers take the parsed JSON body and return a JSON-able dict (or a :class:`FileAnswer`);
a request the library or the limits refuse raises :class:`RequestError`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from corr2d import __version__, kernels
from corr2d._receptive_field import empirical_receptive_field, parse_layer, receptive_field
from corr2d.core import corr2d
from corr2d.explore._requests import (
    RequestError,
    choice,
    encode_array,
    integer,
    matrix,
    number,
    object_field,
)
from corr2d.explore.correlation import MAX_KERNEL, compute_view, read_source, read_view
from corr2d.explore.images import SAMPLES, ImageStore, sample_image
from corr2d.explore.training import (
    INITS,
    OPTIMIZERS,
    TrainingRun,
    TrainingRuns,
    TrainingSettings,
)
from corr2d.io import write_kernel
from corr2d.kernel_spec import load_kernel

__all__ = ["API", "FileAnswer", "Limits", "chapter_edge_image"]


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server.

    Attributes
    ----------
    max_json_bytes : int
        The largest JSON body.
    max_upload_bytes : int
        The largest uploaded image file.
    max_pixels : int
        The largest image (width times height) for the Correlation panel.
    max_training_pixels : int
        The largest training image.
    max_steps : int
        The most training steps one request may ask for.
    max_runs : int
        Training runs live at once.
    max_rf_input : int
        The largest side of the receptive-field input grid.
    max_layers : int
        The most layers in a receptive-field stack.
    """

    max_json_bytes: int = 1 << 20
    max_upload_bytes: int = 32 << 20
    max_pixels: int = 1 << 20
    max_training_pixels: int = 1 << 16
    max_steps: int = 100_000
    max_runs: int = 4
    max_rf_input: int = 64
    max_layers: int = 12


@dataclass(frozen=True)
class FileAnswer:
    """A file to send as a download."""

    data: bytes
    filename: str
    content_type: str


def chapter_edge_image() -> NDArray[np.float64]:
    """The chapter's 6x8 image: ones, with columns 2 to 5 black (zero)."""
    image = np.ones((6, 8))
    image[:, 2:6] = 0
    return image


class API:
    """The handlers, with the server's uploads, training runs and limits.

    Parameters
    ----------
    limits : Limits
    abandon_after : float
        Seconds without a poll after which a training run is ended.
    """

    def __init__(self, limits: Limits, abandon_after: float = 30.0) -> None:
        self.limits = limits
        self.images = ImageStore(limits.max_pixels)
        self.runs = TrainingRuns(limits.max_runs, abandon_after)

    def close(self) -> None:
        """End every training run."""
        self.runs.close()

    # --- reading ----------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """What the page needs before its first request."""
        return {
            "version": __version__,
            "kernels": [
                {"name": name, "description": kernels.describe(name)} for name in kernels.names()
            ],
            "samples": [
                {"name": s.name, "title": s.title, "sizes": list(s.sizes)} for s in SAMPLES.values()
            ],
            "limits": asdict(self.limits) | {"max_kernel": list(MAX_KERNEL)},
            "optimizers": list(OPTIMIZERS),
            "inits": list(INITS),
        }

    def kernel(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A kernel from a specification, as ``corr2d filter --kernel`` reads it."""
        spec = body.get("spec")
        if not isinstance(spec, str) or not spec.strip() or len(spec) > 200:
            raise RequestError(
                "`spec` must be a kernel name such as 'sobel-dx' or 'gaussian:sigma=1'",
                field="spec",
            )
        if Path(spec.strip()).suffix.lower() in (".npy", ".txt", ".csv"):
            raise RequestError("the page does not read kernel files by name", field="spec")
        try:
            values = load_kernel(spec)
        except (ValueError, TypeError) as exc:
            raise RequestError(str(exc), field="spec") from None
        _check_kernel_size(values, "spec")
        return {"spec": spec.strip(), "kernel": encode_array(values)}

    def correlate(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A Correlation-panel view (see :func:`corr2d.explore.correlation.compute_view`)."""
        view = read_view(body, self.images)
        self._check_pixels(view.source.values, self.limits.max_pixels, "input")
        return compute_view(view)

    def upload(self, data: bytes, name: str) -> dict[str, Any]:
        """Keep an uploaded image; its id and shape."""
        if not data:
            raise RequestError("the upload is empty", field="input")
        return self.images.add(data, name).describe()

    def kernel_file(self, body: Mapping[str, Any]) -> FileAnswer:
        """The kernel as a file ``corr2d filter --kernel`` reads (written by corr2d.io)."""
        values = matrix(body, "kernel", "kernel", MAX_KERNEL)
        suffix = choice(body, "format", ("txt", "csv", "npy"), "txt")
        stem = str(body.get("name", "kernel"))
        stem = "".join(ch for ch in stem if ch.isalnum() or ch in "-_")[:40] or "kernel"
        with tempfile.TemporaryDirectory(prefix="corr2d-explore-") as folder:
            path = Path(folder) / f"{stem}.{suffix}"
            write_kernel(path, values)
            data = path.read_bytes()
        content_type = "application/octet-stream" if suffix == "npy" else "text/plain"
        return FileAnswer(data, path.name, content_type)

    def receptive_fields(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Every layer's size, jump, start and output shape; one unit's field if asked."""
        layers = body.get("layers")
        if not isinstance(layers, list) or not layers:
            raise RequestError("`layers` must be a non-empty list", field="layers")
        if len(layers) > self.limits.max_layers:
            raise RequestError(
                f"the stack has {len(layers)} layers; the page takes up to "
                f"{self.limits.max_layers}",
                field="layers",
            )
        texts = [_layer_text(i, layer) for i, layer in enumerate(layers)]
        side = self.limits.max_rf_input
        size = object_field(body, "input")
        shape = (integer(size, "rows", 16, 1, side), integer(size, "cols", 16, 1, side))
        specs = []
        for index, text in enumerate(texts):
            try:
                specs.append(parse_layer(text))
            except ValueError as exc:
                raise RequestError(f"layer {index + 1} ({text!r}): {exc}", field="layers") from None
        try:
            field = receptive_field(specs, shape)
        except (ValueError, TypeError) as exc:
            raise RequestError(str(exc), field="layers") from None
        answer: dict[str, Any] = {
            "layers": texts,
            "input": list(shape),
            "command": f"corr2d rf {' '.join(texts)} --input {shape[0]}x{shape[1]}",
            "rows": [
                {
                    "layer": row.layer,
                    "output": list(row.output_shape or ()),
                    "jump": list(row.jump),
                    "size": list(row.size),
                    "start": list(row.start),
                }
                for row in field.rows
            ],
        }
        if "unit" in body:
            answer["unit"] = self._unit_field(body, specs, shape, field.rows)
        return answer

    def _unit_field(
        self, body: Mapping[str, Any], specs: list[Any], shape: tuple[int, int], rows: Any
    ) -> dict[str, Any]:
        unit = object_field(body, "unit")
        layer = integer(unit, "layer", len(specs), 1, len(specs))
        out_shape = rows[layer].output_shape
        i = integer(unit, "row", 0, 0, out_shape[0] - 1)
        j = integer(unit, "col", 0, 0, out_shape[1] - 1)
        stack = specs[:layer]
        window = receptive_field(stack, shape).to_input(i, j)
        mask = empirical_receptive_field(stack, shape, (i, j))
        return {
            "layer": layer,
            "row": i,
            "col": j,
            "rows": list(window.rows),
            "cols": list(window.cols),
            "center": list(window.center),
            "size": list(rows[layer].size),
            "jump": list(rows[layer].jump),
            "start": list(rows[layer].start),
            "empirical": encode_array(mask),
            "read": int(mask.sum()),
        }

    # --- training ---------------------------------------------------------------------------

    def train(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Start a run on the chosen pair and return its id, exact answer and first state."""
        X, Y, shape = self._training_pair(body)
        settings = TrainingSettings(
            optimizer=choice(body, "optimizer", OPTIMIZERS, "sgd"),
            lr=number(body, "lr", 3e-2, positive=True, high=1e6),
            steps=integer(body, "steps", 20, 1, self.limits.max_steps),
            loss=choice(body, "loss", ("squared", "mean_squared"), "squared"),
            bias=bool(body.get("bias", False)),
            init=choice(body, "init", INITS, "chapter"),
            seed=integer(body, "seed", 0, 0, 2**31 - 1),
            rate=number(body, "rate", 40.0, low=0.0, high=10_000.0),
        )
        run = self.runs.create(X, Y, shape, settings)
        if body.get("start", True):
            run.resume(settings.steps)
        return {
            "id": run.id,
            "X": encode_array(X),
            "Y": encode_array(Y),
            "exact": run.exact_answer(),
            "run": run.snapshot(),
        }

    def _training_pair(
        self, body: Mapping[str, Any]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[int, int]]:
        data = object_field(body, "data", required=False) or {"kind": "chapter"}
        kind = choice(data, "kind", ("chapter", "sample", "grid", "pair"), "chapter")
        if kind == "pair":
            X = self.images.get(data.get("x")).values
            Y = self.images.get(data.get("y")).values
            shape_spec = object_field(body, "kernel_shape")
            shape = (
                integer(shape_spec, "rows", 3, 1, MAX_KERNEL[0]),
                integer(shape_spec, "cols", 3, 1, MAX_KERNEL[1]),
            )
        else:
            if kind == "chapter":
                X = chapter_edge_image()
            elif kind == "sample":
                sample = choice(data, "name", tuple(SAMPLES), "grace-hopper")
                X = sample_image(sample, integer(data, "size", 64, 1, 4096))
                X = X / X.max() if X.max() > 0 else X  # [0, 1]: the chapter's learning rates
            else:
                X = read_source({"input": data}, self.images).values
            target = matrix(body, "target", "target kernel", MAX_KERNEL)
            if target.shape[0] > X.shape[0] or target.shape[1] > X.shape[1]:
                raise RequestError(
                    f"the target kernel ({target.shape[0]}x{target.shape[1]}) is larger than "
                    f"the image ({X.shape[0]}x{X.shape[1]})",
                    field="target",
                )
            Y = corr2d(X, target)
            shape = (int(target.shape[0]), int(target.shape[1]))
        self._check_pixels(X, self.limits.max_training_pixels, "data")
        return X, Y, shape

    def run(self, run_id: str) -> TrainingRun:
        """The live run with this id."""
        return self.runs.get(run_id)

    def resume(self, run_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Train more steps."""
        run = self.runs.get(run_id)
        run.resume(integer(body, "steps", run.settings.steps, 1, self.limits.max_steps))
        return run.snapshot(integer(body, "since", 0, 0, 2**31 - 1))

    def stop(self, run_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Pause a run."""
        run = self.runs.get(run_id)
        run.stop()
        return run.snapshot(integer(body, "since", 0, 0, 2**31 - 1))

    def end(self, run_id: str) -> dict[str, Any]:
        """End and forget a run."""
        self.runs.get(run_id)
        self.runs.end(run_id)
        return {"id": run_id, "state": "ended"}

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _check_pixels(values: NDArray[Any], limit: int, field: str) -> None:
        if values.size > limit:
            raise RequestError(
                f"the image is {values.shape[0]}x{values.shape[1]} ({values.size:,} pixels); "
                f"this panel takes up to {limit:,} pixels",
                status=413,
                field=field,
            )


def _check_kernel_size(values: NDArray[Any], field: str) -> None:
    if values.shape[0] > MAX_KERNEL[0] or values.shape[1] > MAX_KERNEL[1]:
        raise RequestError(
            f"the kernel is {values.shape[0]}x{values.shape[1]}; the page edits kernels up to "
            f"{MAX_KERNEL[0]}x{MAX_KERNEL[1]}",
            field=field,
        )


def _layer_text(index: int, layer: Any) -> str:
    """A layer as ``parse_layer`` text: sent as text, or as {kind, kernel, stride, ...}."""
    if isinstance(layer, str) and len(layer) <= 40:
        return layer.strip().lower()
    if not isinstance(layer, dict):
        raise RequestError(
            f"layer {index + 1} must be text such as '3x3/s2' or an object", field="layers"
        )
    where = f"layer {index + 1}"
    try:
        kind = choice(layer, "kind", ("conv", "pool"), "conv")
        kernel = integer(layer, "kernel", 3, 1, 15)
        stride = integer(layer, "stride", kernel if kind == "pool" else 1, 1, 8)
        padding = integer(layer, "padding", 0, 0, 32)
        dilation = integer(layer, "dilation", 1, 1, 16)
    except RequestError as exc:
        raise RequestError(f"{where}: {exc.message}", field="layers") from None
    text = f"{'pool' if kind == 'pool' else ''}{kernel}x{kernel}"
    if stride != (kernel if kind == "pool" else 1):
        text += f"/s{stride}"
    if padding:
        text += f"/p{padding}"
    if dilation != 1:
        text += f"/d{dilation}"
    return text
