"""Tiled TIFF and Zarr read lazily and written band by band (corr2d.dask.files)."""

from __future__ import annotations

import pickle

import dask
import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

from corr2d.dask import files
from corr2d.io import ImageReadError, ImageReadWarning, ImageTooLargeError, ImageWriteError


@pytest.fixture(autouse=True)
def _threads():
    with dask.config.set(scheduler="threads"):
        yield


@pytest.mark.parametrize(
    ("shape", "dtype", "options"),
    [
        ((700, 500), np.float32, {"tile": (256, 256)}),
        ((300, 520, 3), np.uint16, {"tile": (64, 128), "photometric": "rgb"}),
        (
            (3, 300, 520),
            np.uint8,
            {"tile": (64, 64), "photometric": "rgb", "planarconfig": "separate"},
        ),
        ((257, 33), np.float64, {"rowsperstrip": 16}),
        ((40, 30, 2), np.uint8, {"tile": (16, 16), "extrasamples": ("unassalpha",)}),
    ],
)
def test_tiff_read_lazily_and_written_back(tmp_path, shape, dtype, options):
    rng = np.random.default_rng(3)
    stored = (rng.random(shape) * 200).astype(dtype)
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, stored, **options)
    expected = np.moveaxis(stored, 0, -1) if options.get("planarconfig") == "separate" else stored
    image = files.open_image(path, chunks=(100, 96))
    assert image.shape == expected.shape and image.dtype == expected.dtype
    assert image.chunks[0][0] == min(100, expected.shape[0])
    np.testing.assert_array_equal(image.compute(), expected)
    # only the path travels to a worker: the lazy array survives pickling
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(image)).compute(), expected)
    out = tmp_path / "out.tif"
    rows = []
    files.write_tiff(out, image, progress=lambda done, total: rows.append((done, total)))
    with tifffile.TiffFile(out) as tif:
        assert tif.pages.first.is_tiled
        np.testing.assert_array_equal(tif.asarray(), expected)
    assert rows[-1] == (expected.shape[0], expected.shape[0])
    assert [done for done, _ in rows] == sorted({done for done, _ in rows})
    zarr_out = tmp_path / "out.zarr"
    files.write_zarr(zarr_out, image)
    np.testing.assert_array_equal(zarr.open_array(str(zarr_out), mode="r")[:], expected)
    np.testing.assert_array_equal(files.open_image(zarr_out).compute(), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "out.tif", "out.zarr"]


def test_stream_chunks_bound_memory_whatever_the_width():
    for width in (8192, 32768, 131072):
        rows, cols = files.stream_chunks((width, width), 4, (256, 256))
        assert rows * width * 4 <= files.BAND_BYTES  # one band of rows
        assert rows * cols <= 2048 * 2048
        assert rows % 16 == 0 and cols % 256 == 0


def test_pieces_larger_than_max_pixels_are_refused(tmp_path):
    path = tmp_path / "strip.tif"
    tifffile.imwrite(path, np.zeros((400, 300), np.uint8))  # one strip of 120000 pixels
    with pytest.raises(ImageTooLargeError, match="stored in pieces of 400x300"):
        files.open_image(path, max_pixels=100_000)
    assert files.open_image(path, max_pixels=120_000).shape == (400, 300)


def test_a_stack_is_streamed_from_its_first_page_as_read_image_reads_it(tmp_path):
    path = tmp_path / "stack.tif"
    stack = np.arange(5 * 20 * 20, dtype=np.uint16).reshape(5, 20, 20)
    tifffile.imwrite(path, stack, photometric="minisblack", tile=(16, 16))
    with pytest.warns(ImageReadWarning, match="holds 5 images"):
        lazy = files.open_image(path, chunks=(8, 8))
    assert np.array_equal(lazy.compute(), stack[0])


def test_not_an_image(tmp_path):
    path = tmp_path / "six.tif"
    tifffile.imwrite(path, np.zeros((20, 20, 6), np.uint8), photometric="minisblack",
                     planarconfig="contig")  # fmt: skip
    with pytest.raises(ImageReadError, match="not a 2-D grey or colour image"):
        files.open_image(path)
    folder = tmp_path / "empty.zarr"
    folder.mkdir()
    with pytest.raises(ImageReadError, match="not a Zarr array"):
        files.open_image(folder)
    with pytest.raises(FileNotFoundError):
        files.open_image(tmp_path / "missing.tif")


def _failing(band: int, kind: type[BaseException]):
    """A lazy image whose band ``band`` raises ``kind`` when computed."""

    def block(x, block_info=None):
        if block_info[None]["chunk-location"][0] == band:
            raise kind("boom")
        return x

    return da.zeros((40, 30), dtype=np.uint8, chunks=(10, 30)).map_blocks(block, dtype=np.uint8)


@pytest.mark.parametrize("kind", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_a_failed_write_leaves_nothing(tmp_path, kind, suffix):
    target = tmp_path / f"out{suffix}"
    writer = files.write_zarr if suffix == ".zarr" else files.write_tiff
    with pytest.raises(kind):
        writer(target, _failing(2, kind))
    assert list(tmp_path.iterdir()) == []


def test_existing_outputs_are_kept_unless_overwrite(tmp_path):
    target = tmp_path / "out.zarr"
    files.write_zarr(target, np.ones((4, 5), np.uint8))
    with pytest.raises(FileExistsError, match="already exists"):
        files.write_zarr(target, np.zeros((4, 5), np.uint8))
    files.write_zarr(target, np.full((4, 5), 7, np.uint8), overwrite=True)
    np.testing.assert_array_equal(zarr.open_array(str(target), mode="r")[:], 7)
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]
    with pytest.raises(ImageWriteError, match="holds uint8, uint16, float32 or float64"):
        files.write_tiff(tmp_path / "x.tif", np.zeros((3, 3), np.int32))
    with pytest.raises(ImageWriteError, match=r"must end in \.tif, \.tiff"):
        files.write_tiff(tmp_path / "x.png", np.zeros((3, 3), np.uint8))
