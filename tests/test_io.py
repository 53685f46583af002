"""Image files and pixel values (corr2d.io.images, corr2d.io.pixels)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from corr2d.io import (
    ImageReadError,
    ImageReadWarning,
    ImageTooLargeError,
    ImageWriteError,
    read_image,
    to_image_dtype,
    write_image,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("name", "shape", "dtype"),
    [
        ("grey.png", (9, 11), np.uint8),
        ("rgb.png", (9, 11, 3), np.uint8),
        ("rgba.png", (9, 11, 4), np.uint8),
        ("grey16.png", (9, 11), np.uint16),
        ("rgb16.tif", (9, 11, 3), np.uint16),
        ("rgb16.png", (9, 11, 3), np.uint16),
        ("rgba16.png", (9, 11, 4), np.uint16),
        ("grey-alpha16.png", (9, 11, 2), np.uint16),
        ("grey.tif", (9, 11), np.uint8),
        ("float.tif", (9, 11), np.float32),
        ("double.tif", (9, 11, 3), np.float64),
    ],
)
def test_write_then_read_returns_the_same_pixels_and_dtype(
    tmp_path: Path, rng: np.random.Generator, name: str, shape: tuple[int, ...], dtype: type
) -> None:
    """Every dtype a format holds survives a round trip bit for bit."""
    if np.dtype(dtype).kind == "f":
        image = rng.standard_normal(shape).astype(dtype)
    else:
        image = rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    write_image(tmp_path / name, image)
    back = read_image(tmp_path / name)
    assert back.dtype == image.dtype
    np.testing.assert_array_equal(back, image)


def test_jpeg_round_trip_is_close(tmp_path: Path) -> None:
    """JPEG is lossy but a smooth image comes back within a few grey levels."""
    image = np.tile(np.linspace(0, 255, 32), (24, 1)).astype(np.uint8)
    write_image(tmp_path / "ramp.jpg", image)
    back = read_image(tmp_path / "ramp.jpg")
    assert back.dtype == np.uint8
    assert np.abs(back.astype(int) - image).max() <= 4


def test_write_refuses_an_existing_file_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    write_image(path, np.zeros((4, 4), np.uint8))
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        write_image(path, np.full((4, 4), 255, np.uint8))
    assert path.read_bytes() == before
    write_image(path, np.full((4, 4), 255, np.uint8), overwrite=True)
    assert read_image(path).min() == 255


def test_failed_write_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    """A format that cannot hold the data is refused; nothing is left behind."""
    with pytest.raises(ImageWriteError, match="JPEG"):
        write_image(tmp_path / "deep.jpg", np.zeros((4, 4), np.uint16))
    with pytest.raises(ImageWriteError, match="PNG"):
        write_image(tmp_path / "float.png", np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ImageWriteError, match="unsupported output format"):
        write_image(tmp_path / "a.gif", np.zeros((4, 4), np.uint8))
    with pytest.raises(ImageWriteError, match="does not exist"):
        write_image(tmp_path / "missing" / "a.png", np.zeros((4, 4), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    """The temporary file is private; the image must not stay so."""
    path = tmp_path / "a.png"
    write_image(path, np.zeros((4, 4), np.uint8))
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


# ---------------------------------------------------------------- reading errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_image(tmp_path / "none.png")


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "text.png"
    path.write_text("not a picture")
    with pytest.raises(ImageReadError, match="not an image"):
        read_image(path)


@pytest.mark.parametrize("name", ["cut.png", "cut.tif", "cut.jpg"])
def test_truncated_image(tmp_path: Path, rng: np.random.Generator, name: str) -> None:
    full = tmp_path / f"full{Path(name).suffix}"
    write_image(full, rng.integers(0, 255, size=(64, 64, 3)).astype(np.uint8))
    data = full.read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError, match="corrupt or truncated"):
        read_image(tmp_path / name)


def _deep_png(values: bytes, width: int, height: int, colour_type: int) -> bytes:
    """A 16-bit PNG made by hand: every sample the same two bytes, no filter."""
    samples = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    raw = b"".join(b"\x00" + values * (samples * width) for _ in range(height))
    return (
        _PNG_MAGIC
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(("colour_type", "channels"), [(2, 3), (4, 2), (6, 4)])
def test_sixteen_bit_colour_png_is_read_at_full_depth(
    tmp_path: Path, colour_type: int, channels: int
) -> None:
    """Pillow would read a 48-bit PNG as 8 bits; every sample here is 0x1234 = 4660."""
    (tmp_path / "deep.png").write_bytes(_deep_png(b"\x12\x34", 3, 2, colour_type))
    back = read_image(tmp_path / "deep.png")
    assert back.dtype == np.uint16 and back.shape == (2, 3, channels)
    assert (back == 0x1234).all()


@pytest.mark.parametrize("channels", [3, 4])
def test_sixteen_bit_colour_png_reads_as_opencv_reads_it(
    tmp_path: Path, rng: np.random.Generator, channels: int
) -> None:
    import cv2

    stored = rng.integers(0, 65536, (37, 29, channels)).astype(np.uint16)  # BGR(A)
    assert cv2.imwrite(str(tmp_path / "cv.png"), stored)
    rgb = [2, 1, 0, 3][:channels]
    np.testing.assert_array_equal(read_image(tmp_path / "cv.png"), stored[..., rgb])


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_sixteen_bit_colour_png_written_reads_back_in_opencv(
    tmp_path: Path, rng: np.random.Generator, channels: int
) -> None:
    import cv2

    image = rng.integers(0, 65536, (23, 31, channels)).astype(np.uint16)
    write_image(tmp_path / "deep.png", image)
    shown = cv2.imread(str(tmp_path / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert shown.dtype == np.uint16
    if channels == 2:  # OpenCV reads grey + alpha as BGRA
        np.testing.assert_array_equal(shown[..., 0], image[..., 0])
        np.testing.assert_array_equal(shown[..., 3], image[..., 1])
    else:
        np.testing.assert_array_equal(shown, image[..., [2, 1, 0, 3][:channels]])


def test_sixteen_bit_colour_png_keeps_the_pixel_limit_and_reports_damage(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    write_image(tmp_path / "deep.png", rng.integers(0, 65536, (10, 20, 3)).astype(np.uint16))
    with pytest.raises(ImageTooLargeError, match="limit of 199"):
        read_image(tmp_path / "deep.png", max_pixels=199)
    data = (tmp_path / "deep.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"cut\.png: corrupt or truncated"):
        read_image(tmp_path / "cut.png")


@pytest.mark.parametrize(
    ("writer", "compression"),
    [
        ("tifffile", "lzw"),
        ("tifffile", "zstd"),
        ("tifffile", "deflate"),
        ("pillow", "tiff_lzw"),
        ("opencv", "lzw"),  # OpenCV's default
    ],
)
def test_compressed_tiffs_are_read(
    tmp_path: Path, rng: np.random.Generator, writer: str, compression: str
) -> None:
    """LZW (OpenCV's and many scanners' default), ZSTD and deflate, with predictors."""
    import cv2
    import tifffile
    from PIL import Image

    path = tmp_path / "packed.tif"
    if writer == "pillow":
        image = rng.integers(0, 256, (40, 50, 3)).astype(np.uint8)
        Image.fromarray(image).save(path, compression=compression)
    elif writer == "opencv":
        image = rng.integers(0, 65536, (40, 50, 3)).astype(np.uint16)
        assert cv2.imwrite(str(path), image[..., ::-1])
    else:
        image = rng.integers(0, 65536, (40, 50, 3)).astype(np.uint16)
        tifffile.imwrite(path, image, photometric="rgb", compression=compression, predictor=True)
    with tifffile.TiffFile(path) as stored:
        assert stored.pages.first.compression != 1  # really compressed
    back = read_image(path)
    assert back.dtype == image.dtype
    np.testing.assert_array_equal(back, image)


def test_a_jpeg_compressed_tiff_reads_as_opencv_reads_it(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    import cv2
    from PIL import Image

    image = rng.integers(0, 256, (48, 64, 3)).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "j.tif", compression="jpeg")
    shown = cv2.cvtColor(cv2.imread(str(tmp_path / "j.tif")), cv2.COLOR_BGR2RGB)
    assert np.abs(read_image(tmp_path / "j.tif").astype(int) - shown).max() <= 2


def test_an_unrelated_warning_during_a_read_is_not_a_decoder_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object of the caller's collected while the file is read (an unclosed file)
    warns as it would have; the image is not reported damaged."""
    import warnings

    import corr2d.io.images

    write_image(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    read = corr2d.io.images._read_with_pillow

    def collecting_garbage(*args: object) -> object:
        warnings.warn("unclosed file <_io.FileIO name='other.tif'>", ResourceWarning, stacklevel=1)
        return read(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(corr2d.io.images, "_read_with_pillow", collecting_garbage)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_image(tmp_path / "a.png")
    assert [item.category for item in caught] == [ResourceWarning]
    assert "other.tif" in str(caught[0].message)


@pytest.mark.parametrize("limit", [150, 50])
def test_pixel_limit_guards_pillow_images(tmp_path: Path, limit: int) -> None:
    """Above the limit (Pillow's warning) and above twice it (Pillow's error) both refuse."""
    write_image(tmp_path / "a.png", np.zeros((10, 20), np.uint8))
    with pytest.raises(ImageTooLargeError, match=f"limit of {limit}"):
        read_image(tmp_path / "a.png", max_pixels=limit)
    assert read_image(tmp_path / "a.png", max_pixels=200).shape == (10, 20)


def test_pixel_limit_guards_tiff_images(tmp_path: Path) -> None:
    write_image(tmp_path / "a.tif", np.zeros((10, 20), np.float32))
    with pytest.raises(ImageTooLargeError, match="200 pixels"):
        read_image(tmp_path / "a.tif", max_pixels=199)


# ---------------------------------------------------------------- values


def test_auto_scale_without_a_kernel_keeps_fitting_values_and_rescales_large_ones() -> None:
    assert to_image_dtype([[0.0, 200.0]], np.uint8).tolist() == [[0, 200]]
    assert to_image_dtype([[0.0, 1000.0]], np.uint8).tolist() == [[0, 255]]
    assert to_image_dtype([[0.0, 70000.0]], np.uint16).tolist() == [[0, 65535]]


def test_auto_scale_maps_signed_values_around_mid_grey() -> None:
    out = to_image_dtype([[-4.0, 0.0, 2.0, 4.0]], np.uint8)
    assert out.tolist() == [[0, 128, 191, 255]]
    flat = to_image_dtype(np.zeros((2, 2)), np.uint16, kernel=[[1.0, -1.0]])
    assert (flat == 32768).all()
    assert (to_image_dtype(np.zeros((2, 2)), np.uint8, "signed") == 128).all()


@pytest.mark.parametrize(
    ("kernel", "values", "expected"),
    [
        # weights sum to 1: clipped, as OpenCV's filter2D saturates (rounded half to even)
        (
            [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
            [-7.0, 0.4, 127.5, 254.6, 300.0],
            [0, 0, 128, 255, 255],
        ),
        # weights sum to 9: divided by 9, so an unnormalised box is a blur
        (np.ones((3, 3)), [0.0, 9.0, 900.0, 2295.0, 3000.0], [0, 1, 100, 255, 255]),
        # weights sum to 0: 0 is mid-grey, the strongest response black or white
        ([[-1, 0, 1]], [-10.0, -5.0, 0.0, 5.0, 10.0], [0, 64, 128, 191, 255]),
    ],
)
def test_auto_scale_follows_the_kernel(
    kernel: np.ndarray | list, values: list[float], expected: list[int]
) -> None:
    assert to_image_dtype([values], np.uint8, kernel=kernel).tolist() == [expected]


def test_floating_outputs_keep_values_under_auto() -> None:
    values = [[-3.0, 0.5, 7.0]]
    kept = to_image_dtype(values, np.float32, kernel=[[-1.0, 1.0]])
    np.testing.assert_array_equal(kept, np.array(values, np.float32))
    halved = to_image_dtype(values, np.float64, kernel=[[1.0, 1.0]])
    np.testing.assert_array_equal(halved, np.array(values) / 2)


def test_depth_moves_with_the_output_type() -> None:
    """8-bit units become 16-bit units (x 257) and float units (/ 255), and back."""
    levels = np.array([[0.0, 1.0, 128.0, 255.0]])
    assert to_image_dtype(levels, np.uint16, source=np.uint8).tolist() == [[0, 257, 32896, 65535]]
    np.testing.assert_allclose(to_image_dtype(levels, np.float32, source=np.uint8), levels / 255)
    deep = np.array([[0.0, 257.0, 32896.0, 65535.0]])
    assert to_image_dtype(deep, np.uint8, source=np.uint16).tolist() == [[0, 1, 128, 255]]
    raw = to_image_dtype(levels, np.float32, "none", source=np.uint8)
    np.testing.assert_array_equal(raw, levels)  # 'none' never rescales


def test_clip_abs_and_none() -> None:
    values = [[-300.0, -10.0, 10.0, 300.0]]
    assert to_image_dtype(values, np.uint8, "clip").tolist() == [[0, 0, 10, 255]]
    assert to_image_dtype(values, np.uint8, "abs").tolist() == [[255, 8, 8, 255]]
    raw = to_image_dtype(values, np.float32, "none")
    assert raw.dtype == np.float32 and raw.tolist() == values
    with pytest.raises(ValueError, match="raw values need float32"):
        to_image_dtype(values, np.uint8, "none")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_clipping_pixels_of_the_target_type_returns_them_unchanged(dtype) -> None:
    """Pixels already of the output's type pass through 'clip' as a copy, untouched."""
    top = np.iinfo(dtype).max
    pixels = np.array([[0, 1, top // 2], [top - 1, top, 7]], dtype=dtype)
    out = to_image_dtype(pixels, dtype, "clip", source=dtype)
    assert out.dtype == dtype and out is not pixels
    np.testing.assert_array_equal(out, pixels)
    # from another depth the values still move: 8-bit white is 16-bit white
    assert to_image_dtype(np.array([255], np.uint8), np.uint16, "clip", source=np.uint8)[0] == 65535


def test_float_pixels_beyond_the_types_range_are_an_overflow_error() -> None:
    # float32 holds up to 3.4e38: 1e39 would be written as inf
    with pytest.raises(OverflowError, match=r"to_image_dtype: `values` must lie within float32"):
        to_image_dtype([[1.0, 1e39]], np.float32, "none")
    with pytest.raises(OverflowError, match=r"got 1e\+39"):
        to_image_dtype([[-1e39, 0.0]], np.float32, "abs")
    kept = to_image_dtype([[1e39, np.inf, np.nan]], np.float64, "none")
    assert kept[0, 0] == 1e39 and np.isinf(kept[0, 1]) and np.isnan(kept[0, 2])
    assert np.isinf(to_image_dtype([[np.inf]], np.float32, "none")[0, 0])  # inf stays inf


def _reference_pixels(values, dtype, scale, kernel=None, source=None):
    """to_image_dtype's rules, written out on whole float64 arrays as its docstring says."""
    from corr2d.io.pixels import auto_rule

    target = np.dtype(dtype)
    top = {"u1": 255.0, "u2": 65535.0}.get(target.str[1:], 1.0)
    depth = {"u1": 255.0, "u2": 65535.0}.get(np.dtype(source or dtype).str[1:], 1.0)
    v = np.asarray(values, dtype=np.float64) * (top / depth)
    integer = target.kind == "u"
    if integer:
        v = np.where(np.isnan(v), 0.0, v)
    rule = scale
    if scale == "auto":
        rule = (
            auto_rule(kernel)[0] if kernel is not None else ("signed" if (v < 0).any() else "abs")
        )
    if rule == "clip":
        v = v / (auto_rule(kernel)[1] if scale == "auto" else 1.0)
        if integer or scale == "clip":
            v = np.clip(v, 0.0, top)
    elif rule == "signed" and (integer or scale == "signed"):
        finite = np.abs(v[np.isfinite(v)])
        peak = finite.max() if finite.size else 0.0
        v = np.full_like(v, top / 2) if peak == 0 else (np.clip(v / peak, -1, 1) + 1) * (top / 2)
    elif rule == "abs":
        v = np.abs(v)
        peak = v.max() if v.size else 0.0
        if integer and peak > top and np.isfinite(peak):
            v = v * (top / peak)
    if not integer:
        return v.astype(target)
    return np.rint(np.clip(v, 0.0, top)).astype(target)


@settings(max_examples=300, deadline=None)
@given(
    values=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=9),
        elements=st.one_of(
            st.floats(-1e6, 1e6), st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324])
        ),
    ),
    dtype=st.sampled_from([np.uint8, np.uint16, np.float32, np.float64]),
    source=st.sampled_from([None, np.uint8, np.uint16, np.float32]),
    scale=st.sampled_from(["auto", "clip", "signed", "abs"]),
    kernel=st.sampled_from(
        [None, [[1, 2, 1]], [[-1, 0, 1]], [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]]
    ),
    piece=st.sampled_from([1, 3, 7, 2**15]),
)
def test_pixels_converted_in_pieces_follow_the_whole_array_rules(
    values, dtype, source, scale, kernel, piece
) -> None:
    from corr2d.io import pixels

    with np.errstate(over="ignore", invalid="ignore"):
        expected = _reference_pixels(values, dtype, scale, kernel, source)
    beyond = np.isinf(expected) & np.isfinite(values)
    if beyond.any():  # a finite value beyond float32: refused (tested above)
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pixels, "_PIECE", piece)  # extremes measured across pieces
        got = to_image_dtype(values, dtype, scale, kernel=kernel, source=source)
    assert got.dtype == np.dtype(dtype) and got.shape == values.shape
    np.testing.assert_array_equal(got, expected)


# The EXIF orientations on a 2x3 image, worked by hand from the EXIF specification: the
# stored rows 1 2 3 / 4 5 6, and what a viewer shows for each tag.
UPRIGHT = {
    1: [[1, 2, 3], [4, 5, 6]],
    2: [[3, 2, 1], [6, 5, 4]],  # mirrored left-right
    3: [[6, 5, 4], [3, 2, 1]],  # turned 180 degrees
    4: [[4, 5, 6], [1, 2, 3]],  # mirrored top-bottom
    5: [[1, 4], [2, 5], [3, 6]],  # transposed
    6: [[4, 1], [5, 2], [6, 3]],  # stored turned 90 degrees anticlockwise: shown clockwise
    7: [[6, 3], [5, 2], [4, 1]],  # transverse
    8: [[3, 6], [2, 5], [1, 4]],  # shown turned 90 degrees anticlockwise
}


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_exif_orientation_is_applied_as_viewers_show_it(tmp_path: Path, orientation) -> None:
    from PIL import Image

    stored = (np.arange(1, 7).reshape(2, 3) * 40).astype(np.uint8)
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "tagged.png"
    image.save(path, exif=exif.tobytes())
    np.testing.assert_array_equal(read_image(path), np.array(UPRIGHT[orientation]) * 40)
    np.testing.assert_array_equal(read_image(path, orient=False), stored)


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_exif_orientation_turns_a_sixteen_bit_colour_png(tmp_path: Path, orientation) -> None:
    from PIL import Image

    stored = np.arange(1, 7).reshape(2, 3) * 10000
    image = np.stack([stored, stored + 1, stored + 2], axis=-1).astype(np.uint16)
    exif = Image.new("L", (1, 1)).getexif()
    exif[0x0112] = orientation
    tiff = exif.tobytes().removeprefix(b"Exif\x00\x00")
    write_image(tmp_path / "plain.png", image)
    data = (tmp_path / "plain.png").read_bytes()
    after_header = len(_PNG_MAGIC) + 25  # the IHDR chunk: length, kind, 13 bytes, CRC
    tagged = data[:after_header] + _png_chunk(b"eXIf", tiff) + data[after_header:]
    (tmp_path / "tagged.png").write_bytes(tagged)
    upright = np.array(UPRIGHT[orientation]) * 10000
    np.testing.assert_array_equal(read_image(tmp_path / "tagged.png")[..., 2], upright + 2)
    np.testing.assert_array_equal(read_image(tmp_path / "tagged.png", orient=False), image)


def test_a_sideways_phone_photo_reads_as_opencv_shows_it(tmp_path: Path) -> None:
    import cv2
    import matplotlib
    from PIL import Image

    photo = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    exif = photo.getexif()
    exif[0x0112] = 6
    path = tmp_path / "portrait.jpg"
    photo.save(path, exif=exif.tobytes(), quality=95)
    upright = read_image(path)
    shown = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)  # applies the tag
    assert upright.shape == shown.shape == (512, 600, 3)
    assert np.abs(upright.astype(int) - shown).max() <= 2  # two JPEG decoders
    with pytest.raises(TypeError, match="read_image: `orient` must be True or False"):
        read_image(path, orient="yes")  # type: ignore[arg-type]


# ---------------------------------------------------------------- files of several images


def test_an_animation_is_read_from_its_first_frame_with_a_warning(tmp_path: Path) -> None:
    from PIL import Image

    frames = [np.full((6, 5), value, np.uint8) for value in (10, 200, 90)]
    first, *rest = (Image.fromarray(frame) for frame in frames)
    first.save(tmp_path / "a.gif", save_all=True, append_images=rest)
    with pytest.warns(ImageReadWarning, match=r"a\.gif: holds 3 images .* only the first"):
        image = read_image(tmp_path / "a.gif")
    # a GIF is a palette image: grey, or RGB where the palette says so
    planes = image if image.ndim == 2 else np.moveaxis(image, -1, 0)
    assert image.shape[:2] == (6, 5) and np.all(planes == frames[0])


def test_a_multi_page_tiff_is_read_from_its_first_page_with_a_warning(tmp_path: Path) -> None:
    import tifffile

    pages = np.arange(4 * 3 * 5, dtype=np.uint16).reshape(4, 3, 5)
    tifffile.imwrite(tmp_path / "stack.tif", pages, photometric="minisblack")
    with pytest.warns(ImageReadWarning, match="holds 4 images"):
        image = read_image(tmp_path / "stack.tif")
    assert np.array_equal(image, pages[0])


def test_a_tiff_thumbnail_is_not_an_image_of_its_own(tmp_path: Path) -> None:
    import warnings

    import tifffile

    image = np.arange(64, dtype=np.uint8).reshape(8, 8)
    with tifffile.TiffWriter(tmp_path / "t.tif") as tif:
        tif.write(image)
        tif.write(image[::4, ::4], subfiletype=1)  # a reduced-resolution copy
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(read_image(tmp_path / "t.tif"), image)
