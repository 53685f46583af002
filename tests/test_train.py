"""fit, SGD and Adam: the chapter's printed run, and PyTorch's optimisers as oracles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from corr2d import SGD, Adam, Conv2D, History, Linear, ReLU, Sequential, SquaredError, corr2d, fit
from corr2d.nn.train import format_loss

# The initial kernel of the chapter's run: solving the ten gradient steps backwards from
# the kernel it printed, [[0.9895, -0.9873705]], gives this start, which lies inside
# Gluon's default initialisation range U(-0.07, 0.07).
CHAPTER_INIT = [[0.00683409, 0.01299842]]
CHAPTER_OUTPUT = """batch 2, loss 4.949
batch 4, loss 0.831
batch 6, loss 0.140
batch 8, loss 0.024
batch 10, loss 0.004
"""


@pytest.fixture
def edge_pair() -> tuple[np.ndarray, np.ndarray]:
    """The chapter's 6x8 image (columns 2..5 black) and its vertical edges."""
    X = np.ones((6, 8))
    X[:, 2:6] = 0
    return X, corr2d(X, [[1.0, -1.0]])


def test_fit_prints_the_chapters_loss_trace_exactly(edge_pair, capsys):
    X, Y = edge_pair
    layer = Conv2D((1, 2), bias=False, init=CHAPTER_INIT)
    history = fit(layer, X, Y, steps=10, lr=3e-2, log_every=2)
    assert capsys.readouterr().out == CHAPTER_OUTPUT
    np.testing.assert_allclose(layer.weight.data.reshape(1, 2), [[0.9895, -0.9873705]], atol=5e-5)
    assert isinstance(history, History) and history.steps == 10
    np.testing.assert_array_equal(history.parameters["weight"], layer.weight.data)


def test_fit_learns_the_edge_kernel_from_a_seeded_chapter_style_start(edge_pair, capsys):
    X, Y = edge_pair
    start = np.random.default_rng(2).uniform(-0.07, 0.07, size=(1, 2))
    layer = Conv2D((1, 2), bias=False, init=start)
    history = fit(layer, X, Y, steps=10, lr=3e-2)
    assert capsys.readouterr().out == ""
    logged = history.loss[1::2]  # steps 2, 4, 6, 8, 10
    assert np.all(np.diff(logged) < 0)
    np.testing.assert_allclose(layer.weight.data.reshape(1, 2), [[1.0, -1.0]], atol=0.05)


def test_one_training_step_equals_torch(edge_pair):
    X, Y = edge_pair
    layer = Conv2D((1, 2), rng=3)
    module = layer.to_torch()
    history = fit(layer, X, Y, steps=1, lr=3e-2)
    xt, yt = torch.tensor(X[None, None]), torch.tensor(Y[None, None])
    loss = ((module(xt) - yt) ** 2).sum()
    loss.backward()
    with torch.no_grad():
        for p in module.parameters():
            p -= 3e-2 * p.grad
    assert history.loss[0] == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(
        layer.weight.data, module.weight.detach().numpy(), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        layer.bias.data, module.bias.detach().numpy(), rtol=1e-12, atol=1e-12
    )


def _torch_twin(layer: Conv2D):
    module = layer.to_torch()
    return module, list(module.parameters())


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda p: SGD(p, lr=0.01), lambda p: torch.optim.SGD(p, lr=0.01)),
        (
            lambda p: SGD(p, lr=0.01, momentum=0.9, weight_decay=0.1),
            lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=0.1),
        ),
        (lambda p: Adam(p, lr=0.05), lambda p: torch.optim.Adam(p, lr=0.05)),
        (
            lambda p: Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01),
            lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01),
        ),
    ],
    ids=["sgd", "sgd-momentum-decay", "adam", "adam-options"],
)
def test_optimiser_steps_equal_torch_optim(ours, theirs, rng):
    layer = Conv2D(3, 2, 3, padding=1, rng=rng)
    module, params = _torch_twin(layer)
    x = rng.normal(size=(2, 2, 6, 6))
    target = rng.normal(size=(2, 3, 6, 6))
    history = fit(layer, x, target, steps=5, optimizer=ours(layer.parameters()))
    optimizer = theirs(params)
    xt, yt = torch.tensor(x), torch.tensor(target)
    for step in range(5):
        optimizer.zero_grad()
        loss = ((module(xt) - yt) ** 2).sum()
        loss.backward()
        optimizer.step()
        assert history.loss[step] == pytest.approx(loss.item(), rel=1e-11)
    np.testing.assert_allclose(
        layer.weight.data, module.weight.detach().numpy(), rtol=1e-11, atol=1e-12
    )
    np.testing.assert_allclose(
        layer.bias.data, module.bias.detach().numpy(), rtol=1e-11, atol=1e-12
    )


def test_fit_with_adam_by_name_and_mean_loss_learns_the_kernel(edge_pair):
    X, Y = edge_pair
    layer = Conv2D((1, 2), bias=False, init="zeros")
    history = fit(layer, X, Y, steps=300, lr=0.05, optimizer="adam", loss="mean_squared")
    assert history.loss[-1] < 1e-6
    np.testing.assert_allclose(layer.weight.data.ravel(), [1.0, -1.0], atol=1e-3)


def test_fit_accepts_batches_and_sequences_of_pairs_with_summed_losses(rng):
    kernel = np.array([[0.5, -1.0], [2.0, 0.25]])
    images = [rng.normal(size=(6, 7)), rng.normal(size=(5, 9))]
    targets = [corr2d(x, kernel) for x in images]
    layer = Conv2D(2, bias=False, init="zeros")
    history = fit(layer, images, targets, steps=300, lr=0.002)
    np.testing.assert_allclose(layer.weight.data[0, 0], kernel, atol=1e-6)
    assert history.loss[-1] < history.loss[0]
    batch = rng.normal(size=(3, 1, 6, 6))
    batch_targets = np.stack([corr2d(b[0], kernel)[None] for b in batch])
    layer = Conv2D(2, bias=False, init="zeros")
    fit(layer, batch, batch_targets, steps=300, lr=0.002)
    np.testing.assert_allclose(layer.weight.data[0, 0], kernel, atol=1e-6)


def test_fully_connected_layer_fits_the_edges_with_2058_parameters_but_does_not_generalise(
    edge_pair,
):
    X, Y = edge_pair
    dense = Linear(48, 42, init="zeros")
    history = fit(dense, X.reshape(1, 48), Y.reshape(1, 42), steps=100, lr=0.01)
    assert dense.num_parameters() == 48 * 42 + 42 == 2058
    assert Conv2D((1, 2), bias=False).num_parameters() == 2
    assert history.loss[-1] < 1e-10
    # A new image with the edges elsewhere: the kernel is translation-equivariant,
    # the fully connected layer only memorised where the edges were.
    shifted = np.ones((6, 8))
    shifted[:, 4:7] = 0
    kernel_layer = Conv2D((1, 2), bias=False, init=[[1.0, -1.0]])
    expected = corr2d(shifted, [[1.0, -1.0]])
    np.testing.assert_allclose(kernel_layer(shifted), expected)
    dense_error = np.abs(dense(shifted.reshape(1, 48)).reshape(6, 7) - expected).max()
    assert dense_error > 0.5


def test_fit_warns_and_stops_when_the_loss_diverges(edge_pair):
    X, Y = edge_pair
    layer = Conv2D((1, 2), bias=False, init="zeros")
    with pytest.warns(RuntimeWarning, match=r"fit: the loss became (inf|nan) at step"):
        history = fit(layer, X, Y, steps=500, lr=10.0)
    assert history.steps < 500
    assert history.diverged and not history.converged
    assert not np.isfinite(history.loss[-1]) and "diverged" in str(history)


def test_divergence_names_the_learning_rate_in_use(edge_pair):
    """An optimizer object's own lr is named, not fit's unused default."""
    X, Y = edge_pair
    layer = Conv2D((1, 2), bias=False, init="zeros")
    with pytest.warns(RuntimeWarning, match=r"SGD\(lr=10\.0") as caught:
        fit(layer, X, Y, steps=500, optimizer=SGD(layer.parameters(), lr=10.0))
    (message,) = [str(w.message) for w in caught if "fit: the loss became" in str(w.message)]
    assert "0.03" not in message


def test_progress_bar_can_be_forced_without_breaking_the_run(edge_pair):
    X, Y = edge_pair
    layer = Conv2D((1, 2), bias=False, init=CHAPTER_INIT)
    lines: list[str] = []
    history = fit(layer, X, Y, steps=4, progress=True, log_every=2, print_fn=lines.append)
    assert history.steps == 4


def test_log_lines_can_be_redirected(edge_pair, capsys):
    X, Y = edge_pair
    lines: list[str] = []
    fit(Conv2D((1, 2), bias=False, init=CHAPTER_INIT), X, Y, log_every=2, print_fn=lines.append)
    assert "\n".join(lines) + "\n" == CHAPTER_OUTPUT
    assert capsys.readouterr().out == ""


def test_history_str_summarises_the_run(edge_pair):
    X, Y = edge_pair
    history = fit(Conv2D((1, 2), bias=False, init=CHAPTER_INIT), X, Y)
    assert str(history).startswith("History(10 steps, loss ")
    assert "weight (1, 1, 1, 2)" in str(history)


def test_squared_error_sum_and_mean_gradients():
    loss = SquaredError("mean")
    assert loss([1.0, 3.0], [0.0, 0.0]) == 5.0
    np.testing.assert_allclose(loss.backward(), [1.0, 3.0])


@pytest.mark.parametrize(
    ("kwargs", "exception", "match"),
    [
        (
            {"optimizer": "rmsprop"},
            ValueError,
            r"fit: `optimizer` must be one of 'sgd', 'adam', 'cg'",
        ),
        ({"loss": "l1"}, ValueError, r"fit: `loss` must be one of 'squared', 'mean_squared'"),
        ({"steps": -1}, ValueError, r"fit: `steps` must be an int >= 0, got -1"),
        ({"steps": 2.5}, TypeError, r"fit: `steps` must be an int >= 0, got 2.5"),
        ({"log_every": 0}, ValueError, r"fit: `log_every` must be an int >= 1, got 0"),
        ({"lr": -1.0}, ValueError, r"fit: `lr` must be a finite real number > 0, got -1.0"),
    ],
)
def test_fit_argument_errors(kwargs, exception, match, edge_pair):
    X, Y = edge_pair
    with pytest.raises(exception, match=match):
        fit(Conv2D((1, 2)), X, Y, **kwargs)


def test_fit_data_errors(edge_pair):
    X, Y = edge_pair
    with pytest.raises(
        ValueError,
        match=r"fit: `Y` must be of the model's output shape "
        r"\(6, 7\), got 'shape \(6, 8\)'",
    ):
        fit(Conv2D((1, 2)), X, X)
    with pytest.raises(ValueError, match=r"fit: `Y` must be as long as X \(2 samples\)"):
        fit(Conv2D((1, 2)), [X, X], [Y])
    with pytest.raises(TypeError, match=r"fit: `Y` must be a sequence like X"):
        fit(Conv2D((1, 2)), [X], Y)
    with pytest.raises(TypeError, match=r"fit: `model` must be a corr2d.nn Module"):
        fit(torch.nn.Conv2d(1, 1, 2), X, Y)


@pytest.mark.parametrize(
    ("make", "exception", "match"),
    [
        (
            lambda p: SGD(p, lr=0.1, momentum=1.0),
            ValueError,
            r"SGD: `momentum` must be in "
            r"\[0, 1\)",
        ),
        (lambda p: Adam(p, betas=(0.9,)), TypeError, r"Adam: `betas` must be a pair"),
        (lambda p: Adam(p, betas=(0.9, 1.5)), ValueError, r"Adam: `betas` must be a pair"),
        (lambda p: Adam(p, eps=-1.0), ValueError, r"Adam: `eps` must be a finite real number >= 0"),
        (lambda p: SGD([], lr=0.1), ValueError, r"SGD: `params` must be non-empty"),
        (
            lambda p: SGD(p[0], lr=0.1),
            TypeError,
            r"SGD: `params` must be an iterable of "
            r"Parameter",
        ),
        (
            lambda p: SGD([np.ones(2)], lr=0.1),
            TypeError,
            r"SGD: `params\[0\]` must be a "
            r"Parameter",
        ),
    ],
)
def test_optimiser_argument_errors(make, exception, match):
    with pytest.raises(exception, match=match):
        make(Conv2D(2).parameters())


def test_conjugate_gradients_reach_the_least_squares_kernel_of_ill_conditioned_data(rng):
    # A smooth image makes plain gradient descent crawl (A^T A's condition number is
    # about 1e5 here);
    # conjugate gradients need about as many steps as there are unknowns.
    rows, cols = np.mgrid[0:40, 0:40]
    X = np.sin(0.3 * rows + 0.2 * cols) + np.cos(0.25 * cols - 0.1 * rows)
    X += 0.01 * rng.normal(size=X.shape)
    kernel = rng.normal(size=(3, 3))
    Y = corr2d(X, kernel) + 0.5
    patches = np.lib.stride_tricks.sliding_window_view(X, (3, 3)).reshape(-1, 9)
    design = np.hstack([patches, np.ones((patches.shape[0], 1))])
    solution = np.linalg.lstsq(design, Y.ravel(), rcond=None)[0]
    for loss in ("squared", "mean_squared"):
        layer = Conv2D(3, rng=0)
        history = fit(layer, X, Y, steps=200, optimizer="cg", loss=loss, tol=1e-13)
        assert history.converged and history.steps < 60
        np.testing.assert_allclose(layer.weight.data.ravel(), solution[:9], atol=1e-8)
        assert layer.bias.data[0] == pytest.approx(solution[9], abs=1e-8)
        assert history.gradient_norm[-1] <= 1e-13 * history.gradient_norm[0]
    sgd = Conv2D(3, rng=0)
    assert not fit(sgd, X, Y, steps=200, lr=1e-4, tol=1e-10).converged


def test_tol_stops_early_and_reports_convergence(edge_pair):
    X, Y = edge_pair
    layer = Conv2D((1, 2), bias=False, init="zeros")
    history = fit(layer, X, Y, steps=1000, lr=3e-2, tol=1e-6)
    assert history.converged and not history.interrupted and history.steps < 200
    assert "; converged" in str(history)
    np.testing.assert_allclose(layer.weight.data.ravel(), [1.0, -1.0], atol=1e-5)


def test_callback_sees_every_step(edge_pair):
    X, Y = edge_pair
    seen: list[tuple[int, float]] = []
    history = fit(
        Conv2D((1, 2), bias=False, init=CHAPTER_INIT), X, Y, callback=lambda *a: seen.append(a)
    )
    assert [s for s, _ in seen] == list(range(1, 11))
    np.testing.assert_allclose([v for _, v in seen], history.loss)


def test_ctrl_c_ends_an_interruptible_run_after_the_current_step(edge_pair):
    import signal

    X, Y = edge_pair
    layer = Conv2D((1, 2), bias=False, init="zeros")
    before = signal.getsignal(signal.SIGINT)

    def interrupt_at_step_5(step: int, loss: float) -> None:
        if step == 5:
            signal.raise_signal(signal.SIGINT)

    history = fit(layer, X, Y, steps=100, lr=3e-2, callback=interrupt_at_step_5, interruptible=True)
    assert history.interrupted and not history.converged and history.steps == 5
    assert "; interrupted" in str(history)
    assert signal.getsignal(signal.SIGINT) is before
    # The parameters are those after step 5: five plain SGD steps from zero.
    again = Conv2D((1, 2), bias=False, init="zeros")
    fit(again, X, Y, steps=5, lr=3e-2)
    np.testing.assert_array_equal(layer.weight.data, again.weight.data)
    with pytest.raises(KeyboardInterrupt):
        fit(Conv2D((1, 2)), X, Y, steps=100, callback=interrupt_at_step_5)


@pytest.mark.parametrize(
    ("value", "text"),
    [(4.94932156, "4.949"), (0.0240, "0.024"), (0.00402, "0.004"), (3.2e-7, "3.2e-07"), (0.0, "0")],
)
def test_losses_keep_their_significant_digits(value, text):
    assert format_loss(value) == text


def test_cg_and_tol_argument_errors(edge_pair):
    X, Y = edge_pair
    with pytest.raises(ValueError, match=r"fit: `optimizer` must be 'sgd', 'adam' or an Optimizer"):
        fit(Sequential(Conv2D((1, 2)), ReLU()), X, Y, optimizer="cg")
    with pytest.raises(ValueError, match=r"fit: `tol` must be None or a number in \[0, 1\]"):
        fit(Conv2D((1, 2)), X, Y, tol=-1.0)
    with pytest.raises(TypeError, match=r"fit: `tol` must be None or a real number"):
        fit(Conv2D((1, 2)), X, Y, tol="small")
