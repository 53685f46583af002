"""Filtering images channel by channel, and edge maps (corr2d.filtering)."""

from __future__ import annotations

import numpy as np
import pytest

from corr2d import correlate2d, kernels
from corr2d.filtering import filter_image, gradient_image


def test_filter_image_is_correlate2d_channel_by_channel(rng: np.random.Generator) -> None:
    image = rng.random((12, 10, 4))
    kernel = rng.standard_normal((3, 2))
    out = filter_image(image, kernel, "same", "symm")
    assert out.shape == (12, 10, 3)  # the alpha channel is dropped
    for c in range(3):
        np.testing.assert_allclose(out[..., c], correlate2d(image[..., c], kernel, "same", "symm"))
    grey = rng.random((12, 10))
    np.testing.assert_allclose(
        filter_image(grey, kernel, "valid", convolve=True),
        correlate2d(grey, kernel[::-1, ::-1], "valid"),
    )


def test_gradient_image_is_the_sobel_magnitude(rng: np.random.Generator) -> None:
    image = rng.random((16, 16))
    dx = correlate2d(image, kernels.get("sobel-dx"), "same", "symm")
    dy = correlate2d(image, kernels.get("sobel-dy"), "same", "symm")
    np.testing.assert_allclose(gradient_image(image), np.hypot(dx, dy))
    np.testing.assert_allclose(gradient_image(image, axis="y"), dy)


# ---------------------------------------------------------------- kernels


# ---------------------------------------------------------------- repeated calls


def _scipy_same(
    image: np.ndarray, kernel: np.ndarray, fill: float = 0.0, **options: object
) -> np.ndarray:
    from scipy import signal

    boundary = str(options.get("boundary", "symm"))
    flip = bool(options.get("convolve", False))
    operation = signal.convolve2d if flip else signal.correlate2d
    return operation(image.astype(np.float64), kernel.astype(np.float64), "same", boundary, fill)


def test_repeated_filter_image_calls_reuse_a_prepared_loop_correctly(
    rng: np.random.Generator,
) -> None:
    """A call repeating an earlier call's shape, kernel and options runs the loop the
    first call prepared: against SciPy for new images, for a kernel changed in place
    after the call (kernels are compared by value), and for options that differ only
    slightly (border rule, fill value, convolution, method), each its own entry."""
    from corr2d import filtering

    filtering._forget_prepared()
    for dtype, tolerance in ((np.float32, 2e-5), (np.float64, 1e-12)):
        kernel = rng.standard_normal((5, 7)).astype(dtype)
        for _ in range(3):
            image = rng.random((160, 150)).astype(dtype)
            out = filter_image(image, kernel, "same", "symm")
            assert out.dtype == dtype and out.shape == image.shape
            np.testing.assert_allclose(out, _scipy_same(image, kernel), rtol=0, atol=tolerance * 20)
        assert len(filtering._prepared) >= 1
        kernel[2, 3] += 5.0  # in place: the next call must see it
        out = filter_image(image, kernel, "same", "symm")
        np.testing.assert_allclose(out, _scipy_same(image, kernel), rtol=0, atol=tolerance * 40)
        for options in (
            {"boundary": "fill", "fillvalue": 0.5},
            {"boundary": "fill", "fillvalue": 2},
            {"boundary": "wrap"},
            {"boundary": "symm", "convolve": True},
        ):
            for _ in range(2):
                out = filter_image(image, kernel, "same", **options)  # type: ignore[arg-type]
                fill = float(options.get("fillvalue", 0.0))  # type: ignore[arg-type]
                expected = _scipy_same(image, kernel, fill, **options)
                np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance * 40)
        fortran = np.asfortranarray(image)  # not C-contiguous: copied on the way in
        np.testing.assert_array_equal(
            filter_image(fortran, kernel, "same", "symm"),
            filter_image(image, kernel, "same", "symm"),
        )
    assert len(filtering._prepared) <= filtering._PREPARED_KEPT


def test_repeated_calls_still_refuse_what_the_first_refused(rng: np.random.Generator) -> None:
    """Only successful calls are kept, under every argument they were checked with."""
    image = rng.random((160, 150)).astype(np.float32)
    kernel = rng.standard_normal((3, 3)).astype(np.float32)
    filter_image(image, kernel, "same", "symm")
    with pytest.raises(ValueError, match="boundary"):
        filter_image(image, kernel, "same", "symmetric")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method"):
        filter_image(image, kernel, "same", "symm", method="fast")  # type: ignore[arg-type]


def test_byte_swapped_images_take_the_checked_path(rng: np.random.Generator) -> None:
    """A float32 image and kernel in the other byte order are not NumPy's native dtype:
    filtered correctly each time, never kept for reuse."""
    from corr2d import filtering

    image = rng.random((160, 150)).astype(np.float32)
    kernel = rng.standard_normal((5, 5)).astype(np.float32)
    swapped = image.astype(image.dtype.newbyteorder())
    swapped_kernel = kernel.astype(kernel.dtype.newbyteorder())
    filtering._forget_prepared()
    expected = _scipy_same(image, kernel)
    for _ in range(2):
        out = filter_image(swapped, swapped_kernel, "same", "symm")
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)
    assert not filtering._prepared


def test_the_last_call_is_recognised_only_when_it_truly_repeats(
    rng: np.random.Generator,
) -> None:
    """The quick check of the last kept call serves the same image layout, kernel
    values and option objects; anything else (another layout, dtype or shape, a kernel
    changed in place, an equal option of another type) is checked and planned as a new
    call, and every result matches SciPy."""
    from corr2d import filtering

    filtering._forget_prepared()
    image = rng.random((160, 150)).astype(np.float32)
    kernel = rng.standard_normal((5, 5)).astype(np.float32)
    expected = _scipy_same(image, kernel)
    atol = 4e-5 * np.abs(expected).max()
    np.testing.assert_allclose(filter_image(image, kernel, "same", "symm"), expected, atol=atol)
    last = filtering._last_call
    assert last is not None
    assert last.repeats(image, kernel.copy(), ("same", "symm", *last.options[2:]))
    again = filter_image(image.copy(), kernel.copy(), "same", "symm")
    np.testing.assert_allclose(again, expected, atol=atol)
    assert filtering._last_call is last  # served without planning anew

    padded = np.zeros((160, 152), np.float32)
    padded[:, :150] = image
    others = [
        (padded[:, :150], kernel),  # same shape, rows further apart
        (np.asfortranarray(image), kernel),
        (image.astype(np.float64), kernel.astype(np.float64)),
        (image[:-1], kernel),
        (image, np.ascontiguousarray(kernel[:, :4])),
    ]
    for other_image, other_kernel in others:
        assert not last.repeats(other_image, other_kernel, last.options)
        out = filter_image(other_image, other_kernel, "same", "symm")
        reference = _scipy_same(other_image, other_kernel)
        np.testing.assert_allclose(out, reference, atol=4e-5 * np.abs(reference).max())
    filter_image(image, kernel, "same", "symm")
    last = filtering._last_call
    assert last is not None
    changed = kernel.copy()
    changed[2, 2] += 1.0
    assert not last.repeats(image, changed, last.options)
    one = ("same", "symm", *last.options[2:3], 0, *last.options[4:])  # convolve=0, not False
    assert not last.repeats(image, kernel, one)
    np.testing.assert_allclose(
        filter_image(image, kernel, "same", "symm", convolve=0),  # type: ignore[arg-type]
        expected,
        atol=atol,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "kernel_shape", "boundary"),
    [((160, 150), (3, 3), "symm"), ((100, 200), (5, 4), "fill"), ((130, 140), (4, 11), "wrap")],
)
def test_the_packed_entry_gives_the_loops_bits_and_checks_its_call(
    rng: np.random.Generator,
    dtype: type,
    shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    boundary: str,
) -> None:
    """The compiled entry that takes a kept call's arguments packed gives the bits of the
    task loop called with them one by one, and of brute force on small integers (every
    sum exact); for another image shape or a kernel of other bytes or shape it computes
    nothing and says so, and arrays of another type, layout or writability are refused
    with TypeError."""
    from scipy import signal

    from corr2d.core import _paths
    from corr2d.core._padding import BOUNDARY_MODES
    from corr2d.core.correlate import _pads, same_mode_anchor

    image = rng.integers(-4, 5, shape).astype(dtype)
    given = rng.integers(-3, 4, kernel_shape).astype(dtype)
    flipped = np.ascontiguousarray(given[::-1, ::-1])  # a convolution's task
    kh, kw = kernel_shape
    pads = _pads("same", kernel_shape, True, same_mode_anchor("test", kernel_shape, "same", None))
    task = _paths.prepare_image_task(shape, flipped, pads, BOUNDARY_MODES[boundary], 2.0)
    assert task is not None and task.alone is None  # until a call repeats
    assert task.load_entry() is not None and task.alone is not None
    weights = task.alone_weights(given)
    out = np.full(task.out_shape, np.nan, dtype)
    assert task.alone(image, given, out, task.tables, weights)
    twin = np.full(task.out_shape, np.nan, dtype)
    task.loop(image, *task.args, twin, *task.args_after, np.zeros(1, np.int64))
    np.testing.assert_array_equal(out, twin)
    exact = signal.convolve2d(image.astype(np.int64), given.astype(np.int64), "same", boundary, 2)
    np.testing.assert_array_equal(out, exact)
    np.testing.assert_array_equal(task(image), exact)

    untouched = np.full(task.out_shape, 7.0, dtype)
    changed = given.copy()
    changed.view(np.uint8)[-1] ^= 1  # one bit of one tap
    others = [
        (image, changed),
        (np.zeros((shape[0] + 1, shape[1]), dtype), given),
        (image, np.zeros((kh, kw + 1), dtype)),
    ]
    for other_image, other_kernel in others:
        assert not task.alone(other_image, other_kernel, untouched, task.tables, weights)
    assert (untouched == 7.0).all()
    read_only = image.copy()
    read_only.setflags(write=False)
    refused = [
        (read_only, given),
        (np.asfortranarray(image), given),
        (image.astype(np.float16), given),
        (image, given.astype(np.float16)),
    ]
    for other_image, other_kernel in refused:
        with pytest.raises(TypeError):
            task.alone(other_image, other_kernel, untouched, task.tables, weights)
    np.testing.assert_array_equal(task(read_only), exact)  # the loop itself


def test_a_kept_call_through_the_packed_entry_falls_back_on_other_arrays(
    rng: np.random.Generator,
) -> None:
    """filter_image repeated on the kept call takes the packed entry; a read-only or
    non-contiguous image, a kernel changed in place and another dtype each get the
    right answer (SciPy's) by the checked path."""
    from corr2d import filtering

    filtering._forget_prepared()
    image = rng.random((200, 180)).astype(np.float32)
    kernel = rng.standard_normal((3, 3)).astype(np.float32)
    expected = _scipy_same(image, kernel, convolve=True)
    atol = 4e-5 * np.abs(expected).max()
    first = filter_image(image, kernel, "same", "symm", convolve=True)
    last = filtering._last_call
    assert last is not None and last.entry is None  # loaded when the call repeats
    again = filter_image(image, kernel, "same", "symm", convolve=True)
    assert filtering._last_call is last and last.entry is not None
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(again, expected, rtol=0, atol=atol)
    read_only = image.copy()
    read_only.setflags(write=False)
    strided = np.zeros((200, 360), np.float32)[:, ::2]
    strided[...] = image
    for other in (read_only, strided):
        np.testing.assert_array_equal(
            filter_image(other, kernel, "same", "symm", convolve=True), first
        )
    changed = kernel.copy()
    kernel[0, 0] += 1.0  # the kept call's kernel, changed in place
    np.testing.assert_allclose(
        filter_image(image, kernel, "same", "symm", convolve=True),
        _scipy_same(image, kernel, convolve=True),
        rtol=0,
        atol=atol,
    )
    wide = image.astype(np.float64)
    np.testing.assert_allclose(
        filter_image(wide, changed.astype(np.float64), "same", "symm", convolve=True),
        expected,
        rtol=0,
        atol=1e-12 * np.abs(expected).max(),
    )


def test_image_tasks_give_the_same_bits_alone_and_on_every_thread(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After idle a task of moderate work runs on the calling thread alone, back to back
    on every thread: the same bands, the same sums, the same bits; against SciPy too."""
    from corr2d.core import _paths

    if _paths._engine.num_threads() < 2:
        pytest.skip("one thread: every task runs alone")
    image = rng.random((512, 512)).astype(np.float32)
    kernel = rng.standard_normal((7, 7)).astype(np.float32)
    task = _paths.prepare_image_task(image.shape, kernel, ((3, 3), (3, 3)), "symmetric", 0.0)
    assert task is not None
    assert _paths._engine.SERIAL_WORK <= task.work < _paths._ALONE_AFTER_IDLE_WORK
    pooled: list[int] = []
    real_run_tasks = _paths.run_tasks

    def counting_run_tasks(*args: object, threads: int, work: float = 0.0) -> None:
        pooled.append(threads)
        real_run_tasks(*args, threads=threads, work=work)

    monkeypatch.setattr(_paths, "run_tasks", counting_run_tasks)
    monkeypatch.setattr(_paths, "_last_task_end", -1e9)  # long idle: alone
    alone = task(image)
    assert pooled == []
    monkeypatch.setattr(_paths, "_HELPERS_ASLEEP", 1e9)  # never idle: the pool
    pooled_result = task(image)
    assert pooled == [_paths._engine.threads_for(task.work)]
    np.testing.assert_array_equal(alone, pooled_result)
    expected = _scipy_same(image, kernel)
    np.testing.assert_allclose(alone, expected, atol=4e-5 * np.abs(expected).max())


def test_a_kept_call_of_moderate_work_takes_the_packed_entry_only_after_idle(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeated call whose task uses both threads back to back and the calling thread
    alone after idle takes the packed entry only after idle: the same bits either way,
    SciPy's answer."""
    from corr2d import filtering
    from corr2d.core import _paths

    image = rng.random((512, 512)).astype(np.float32)
    kernel = rng.standard_normal((7, 7)).astype(np.float32)
    filtering._forget_prepared()
    first = filter_image(image, kernel, "same", "symm")
    last = filtering._last_call
    assert last is not None and last.entry is None  # a one-off call loads no entry
    last.load_entry()
    assert last.entry is not None and not last.always_alone
    calls: list[int] = []
    entry = last.entry

    def counted(*args: object) -> bool:
        calls.append(1)
        return bool(entry(*args))

    last.entry = counted
    monkeypatch.setattr(_paths, "_last_task_end", -1e9)  # long idle: the entry
    after_idle = filter_image(image, kernel, "same", "symm")
    assert calls == [1]
    monkeypatch.setattr(_paths, "_HELPERS_ASLEEP", 1e9)  # never idle: the pool
    back_to_back = filter_image(image, kernel, "same", "symm")
    assert calls == [1]
    np.testing.assert_array_equal(after_idle, first)
    np.testing.assert_array_equal(back_to_back, first)
    expected = _scipy_same(image, kernel)
    np.testing.assert_allclose(after_idle, expected, rtol=0, atol=4e-5 * np.abs(expected).max())
