"""gradtx.experiments: training on shared batches, the range test, loss landscapes, data."""

import gzip
import importlib.util
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import experiments
from gradtx.experiments import data

# A linear least-squares problem: loss(w, (x, y)) = mean((x @ w["kernel"] + w["bias"] − y)²) / 2.
N, D = 64, 3


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D)).astype(np.float32)
    noise = 0.3 * rng.normal(size=N)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3 + noise).astype(np.float32)
    params = {"kernel": jnp.zeros((D,), jnp.float32), "bias": jnp.zeros((), jnp.float32)}
    return params, (x, y)


def _loss(params, batch):
    x, y = batch
    return 0.5 * jnp.mean((x @ params["kernel"] + params["bias"] - y) ** 2)


def _numpy_loss(params, x, y):
    residual = x @ np.asarray(params["kernel"], np.float64) + float(params["bias"]) - y
    return 0.5 * np.mean(residual**2)


# --- training on shared batches ------------------------------------------------------------


def test_compare_optimizers_returns_per_step_and_per_epoch_losses_of_the_right_shape():
    params, batch = _problem()
    result = experiments.compare_optimizers(
        _loss, params, {"sgd": gradtx.sgd(0.1), "adam": gradtx.adam(0.01)}, batch,
        batch_size=16, epochs=3,
        eval_fn=lambda p, b: {"mse": 2 * _loss(p, b)}, eval_data=batch,
    )
    assert list(result.runs) == ["sgd", "adam"]
    for run in result.runs.values():
        assert run.losses.shape == (3 * 4,)
        assert run.epoch_losses.shape == (3,)
        assert run.metrics["mse"].shape == (3,)
        assert np.all(np.isfinite(run.losses))
        np.testing.assert_allclose(run.epoch_losses, run.losses.reshape(3, 4).mean(axis=1))


def test_compare_optimizers_starts_every_optimizer_from_the_same_params_and_batch():
    params, (x, y) = _problem()
    result = experiments.compare_optimizers(
        _loss, params, {"sgd": gradtx.sgd(0.1), "rmsprop": gradtx.rmsprop(0.01)}, (x, y),
        batch_size=16, epochs=1, seed=3,
    )
    first = experiments.batch_indices(N, 16, 1, seed=3)[0]
    expected = _numpy_loss(params, x[first], y[first])
    for run in result.runs.values():
        np.testing.assert_allclose(run.losses[0], expected, rtol=1e-5)


def test_compare_optimizers_gives_identical_runs_for_identical_optimizers():
    params, batch = _problem()
    result = experiments.compare_optimizers(
        _loss, params, {"a": gradtx.sgd(0.05, momentum=0.9), "b": gradtx.sgd(0.05, momentum=0.9)},
        batch, batch_size=8, epochs=2,
    )
    np.testing.assert_array_equal(result.runs["a"].losses, result.runs["b"].losses)


def test_train_matches_a_hand_written_sgd_loop_on_the_same_batches():
    params, (x, y) = _problem()
    lr, batch_size, epochs = 0.1, 16, 2
    run = experiments.train(_loss, params, gradtx.sgd(lr), (x, y), batch_size=batch_size,
                            epochs=epochs, seed=1)
    w, b = np.zeros(D), 0.0
    expected = []
    for idx in experiments.batch_indices(N, batch_size, epochs * N // batch_size, seed=1):
        residual = x[idx] @ w + b - y[idx]
        expected.append(0.5 * np.mean(residual**2))
        w = w - lr * x[idx].T @ residual / batch_size
        b = b - lr * np.mean(residual)
    np.testing.assert_allclose(run.losses, expected, rtol=1e-4)
    np.testing.assert_allclose(run.params["kernel"], w, rtol=1e-4)


def test_batch_indices_visit_every_example_at_most_once_per_pass():
    indices = experiments.batch_indices(10, 3, 6, seed=0)
    assert indices.shape == (6, 3)
    for one_pass in (indices[:3], indices[3:]):
        assert len(set(one_pass.ravel().tolist())) == 9


def test_train_rejects_a_batch_larger_than_the_data():
    params, batch = _problem()
    with pytest.raises(ValueError, match=r"train: batch_size must be an integer in \[1, 64\]"):
        experiments.train(_loss, params, gradtx.sgd(0.1), batch, batch_size=65)


def test_train_rejects_eval_fn_without_eval_data():
    params, batch = _problem()
    with pytest.raises(ValueError, match="eval_fn needs eval_data"):
        experiments.train(_loss, params, gradtx.sgd(0.1), batch, batch_size=8,
                          eval_fn=lambda p, b: {})


def test_train_rejects_data_whose_arrays_disagree_on_the_number_of_examples():
    params, (x, y) = _problem()
    with pytest.raises(ValueError, match="same leading"):
        experiments.train(_loss, params, gradtx.sgd(0.1), (x, y[:-1]), batch_size=8)


def test_comparison_plot_draws_loss_by_iteration_and_by_epoch():
    params, batch = _problem()
    result = experiments.compare_optimizers(_loss, params, {"sgd": gradtx.sgd(0.1)}, batch,
                                            batch_size=16, epochs=2)
    figure = result.plot()
    by_iteration, by_epoch = figure.axes
    assert len(by_iteration.lines[0].get_xdata()) == 8
    assert len(by_epoch.lines[0].get_xdata()) == 2
    assert "sgd" in result.table()


def _comparison(**losses):
    runs = {name: experiments.TrainingRun(name, np.asarray(curve, dtype=np.float64), 4, 8)
            for name, curve in losses.items()}
    return experiments.Comparison(runs)


_CURVE = np.geomspace(2.3, 0.1, 40)


def test_comparison_finds_runs_whose_losses_coincide_within_rtol():
    result = _comparison(sgd=2 * _CURVE, momentum=_CURVE, nesterov=_CURVE * (1 + 0.004),
                         adam=_CURVE * (1 + 0.03))
    assert result.coincident(rtol=0.01) == {"nesterov": "momentum"}
    assert result.coincident(rtol=0.05) == {"nesterov": "momentum", "adam": "momentum"}


def test_comparison_plot_says_which_curves_coincide():
    result = _comparison(sgd=2 * _CURVE, momentum=_CURVE, nesterov=_CURVE * (1 + 0.004))
    (legend,) = result.plot().legends
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels == ["sgd", "momentum", "nesterov (coincides with momentum)"]


def test_comparison_plot_gives_every_run_its_own_colour_line_style_and_marker():
    names = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"]
    result = _comparison(**{name: _CURVE * (1 + i) for i, name in enumerate(names)})
    for ax in result.plot().axes:
        styles = [(line.get_color(), line.get_linestyle(), line.get_marker())
                  for line in ax.lines]
        assert len(styles) == len(names)
        for part in range(3):
            assert len({style[part] for style in styles}) == min(len(names), (10, 4, 8)[part])
        for before, after in zip(styles, styles[1:], strict=False):
            assert all(b != a for b, a in zip(before, after, strict=True))


def test_comparison_plot_has_one_legend_for_both_panels():
    figure = _comparison(sgd=2 * _CURVE, adam=_CURVE).plot()
    assert len(figure.legends) == 1
    assert all(ax.get_legend() is None for ax in figure.axes)


def test_comparison_plot_on_given_axes_puts_a_legend_in_each():
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2)
    _comparison(sgd=2 * _CURVE, adam=_CURVE).plot(axes)
    for ax in axes:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sgd", "adam"]
    plt.close(figure)


# --- learning-rate range test ----------------------------------------------------------------


def test_lr_range_test_scans_a_geometric_sequence_of_rates():
    params, batch = _problem()
    result = experiments.lr_range_test(_loss, params, gradtx.sgd, batch, min_lr=1e-4,
                                       max_lr=10.0, num_steps=50, batch_size=16)
    np.testing.assert_allclose(result.learning_rates, np.geomspace(1e-4, 10.0, 50), rtol=1e-6)
    assert result.losses.shape == result.smoothed_losses.shape == (50,)


@pytest.mark.parametrize("method", ["steepest", "minimum"])
def test_lr_range_test_suggests_a_rate_in_range_below_the_divergence_threshold(method):
    params, (x, y) = _problem()
    result = experiments.lr_range_test(_loss, params, gradtx.sgd, (x, y), min_lr=1e-4,
                                       max_lr=100.0, num_steps=60, batch_size=64, method=method)
    # Full-batch gradient descent on this quadratic diverges for α > 2 / λ_max(Hessian).
    features = np.hstack([x, np.ones((N, 1))]).astype(np.float64)
    threshold = 2.0 / np.linalg.eigvalsh(features.T @ features / N).max()
    assert 1e-4 <= result.suggested_lr < threshold
    assert result.stop < 60


def test_lr_range_test_rejects_an_empty_range():
    params, batch = _problem()
    with pytest.raises(ValueError, match="need 0 < min_lr < max_lr"):
        experiments.lr_range_test(_loss, params, gradtx.sgd, batch, min_lr=1.0, max_lr=0.1)


# --- loss landscape ----------------------------------------------------------------------------


def _layered_params(dtype=jnp.float32):
    keys = jax.random.split(jax.random.key(0), 3)
    return {
        "conv": {"kernel": jax.random.normal(keys[0], (3, 3, 2, 4), dtype),
                 "bias": jnp.ones((4,), dtype)},
        "norm": {"scale": jnp.ones((4,), dtype), "bias": jnp.zeros((4,), dtype)},
        "dense": {"kernel": jax.random.normal(keys[1], (4, 5), dtype),
                  "bias": jnp.full((5,), 0.5, dtype)},
    }


@pytest.mark.parametrize("filter_axis", [-1, 0])
def test_filter_normalized_direction_matches_each_filter_norm_to_the_weights(filter_axis):
    params = _layered_params()
    direction = experiments.filter_normalized_direction(jax.random.key(1), params,
                                                        filter_axis=filter_axis)
    for layer in ("conv", "dense"):
        theta = np.moveaxis(np.asarray(params[layer]["kernel"], np.float64), filter_axis, 0)
        d = np.moveaxis(np.asarray(direction[layer]["kernel"], np.float64), filter_axis, 0)
        theta_norms = np.linalg.norm(theta.reshape(len(theta), -1), axis=1)
        d_norms = np.linalg.norm(d.reshape(len(d), -1), axis=1)
        np.testing.assert_allclose(d_norms, theta_norms, rtol=1e-5)
        assert not np.allclose(d, theta)


def test_filter_normalized_direction_is_zero_on_biases_and_norm_parameters():
    direction = experiments.filter_normalized_direction(jax.random.key(1), _layered_params())
    for leaf in (direction["conv"]["bias"], direction["dense"]["bias"],
                 direction["norm"]["scale"], direction["norm"]["bias"]):
        np.testing.assert_array_equal(leaf, 0.0)


def _mlp_loss(params, batch):
    x, y = batch
    h = jnp.tanh(x @ params["dense"]["kernel"] + params["dense"]["bias"])
    return jnp.mean((h.sum(-1) - y) ** 2)


def _mlp_problem():
    params = {"dense": _layered_params()["dense"]}
    x = jax.random.normal(jax.random.key(2), (8, 4), jnp.float32)
    return params, (x, jnp.arange(8, dtype=jnp.float32) / 8)


def test_loss_landscape_2d_equals_the_loss_at_the_params_at_the_origin():
    params, batch = _mlp_problem()
    landscape = experiments.loss_landscape(_mlp_loss, params, batch, key=jax.random.key(3),
                                           resolution=5, span=0.5)
    assert landscape.losses.shape == (5, 5)
    np.testing.assert_allclose(landscape.losses[2, 2], _mlp_loss(params, batch), rtol=1e-6)


def test_loss_landscape_2d_value_is_the_loss_at_the_shifted_params():
    params, batch = _mlp_problem()
    landscape = experiments.loss_landscape(_mlp_loss, params, batch, key=jax.random.key(3),
                                           resolution=5, span=0.5)
    d1, d2 = landscape.directions
    alpha, beta = landscape.coordinates[0][0], landscape.coordinates[1][3]
    shifted = jax.tree_util.tree_map(lambda t, a, b: t + alpha * a + beta * b, params, d1, d2)
    np.testing.assert_allclose(landscape.losses[0, 3], _mlp_loss(shifted, batch), rtol=1e-5)


def test_loss_landscape_1d_has_one_loss_per_coordinate():
    params, batch = _mlp_problem()
    landscape = experiments.loss_landscape(_mlp_loss, params, batch, key=jax.random.key(3),
                                           dims=1, resolution=7)
    assert landscape.losses.shape == (7,)
    np.testing.assert_allclose(landscape.coordinates[0], np.linspace(-1, 1, 7))
    np.testing.assert_allclose(landscape.losses[3], _mlp_loss(params, batch), rtol=1e-6)


def _quadratic_landscape():
    a = np.linspace(-1.0, 1.0, 11)
    return experiments.Landscape((a, a), 1.0 + 3.0 * np.add.outer(a**2, 2.0 * a**2), ())


def test_landscape_surfaces_have_few_ticks_and_every_label_inside_the_figure():
    import matplotlib.pyplot as plt

    # The layout of examples/loss_landscape.py: contours above, surfaces below.
    landscape = _quadratic_landscape()
    figure = plt.figure(figsize=(10, 9.5), layout="constrained")
    surfaces = []
    for column in range(2):
        landscape.plot(figure.add_subplot(2, 2, column + 1))
        surfaces.append(landscape.plot(figure.add_subplot(2, 2, column + 3, projection="3d"),
                                       kind="surface"))
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for ax in surfaces:
        assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_zlabel()) == ("α", "β", "loss")
        assert ax.get_title() == ""
        for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim()),
                                  (ax.zaxis, ax.get_zlim())):
            ticks = [t for t in axis.get_majorticklocs() if low <= t <= high]
            assert 2 <= len(ticks) <= 5, ticks
            box = axis.label.get_window_extent(renderer)
            assert figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1, axis.label.get_text()
            assert figure.bbox.y0 <= box.y0 and box.y1 <= figure.bbox.y1, axis.label.get_text()
    plt.close(figure)


def test_loss_landscape_needs_a_key_or_directions():
    params, batch = _mlp_problem()
    with pytest.raises(ValueError, match="pass key"):
        experiments.loss_landscape(_mlp_loss, params, batch)


# --- data ---------------------------------------------------------------------------------------


def _write_idx(path, array, code, compress=False):
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    raw = header + array.tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_uint8_images(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    path = _write_idx(tmp_path / "images", images, 0x08, compress)
    np.testing.assert_array_equal(data.read_idx(path), images)


def test_read_idx_round_trips_big_endian_floats(tmp_path):
    values = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    path = _write_idx(tmp_path / "floats", values.astype(">f4"), 0x0D)
    out = data.read_idx(path)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, values)


def test_read_idx_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="IDX file not found: .*absent"):
        data.read_idx(tmp_path / "absent")


def test_read_idx_rejects_a_bad_magic_number(tmp_path):
    path = tmp_path / "not-idx"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))
    with pytest.raises(ValueError, match="not-idx: bad IDX magic number 89504e47"):
        data.read_idx(path)


def test_read_idx_rejects_an_unknown_type_code(tmp_path):
    path = tmp_path / "odd"
    path.write_bytes(bytes([0, 0, 0x07, 1]) + np.asarray([2], ">u4").tobytes() + bytes(2))
    with pytest.raises(ValueError, match="unknown type code 0x07"):
        data.read_idx(path)


def test_read_idx_rejects_truncated_data(tmp_path):
    path = _write_idx(tmp_path / "labels", np.arange(10, dtype=np.uint8), 0x08)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match=r"labels: truncated IDX data: .*\(10,\).*has 7"):
        data.read_idx(path)


def test_read_idx_rejects_a_truncated_header(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 0x08, 3, 0, 0, 0, 5]))
    with pytest.raises(ValueError, match="short: truncated IDX header: 8 bytes, need 16"):
        data.read_idx(path)


def test_read_idx_rejects_bytes_beyond_the_declared_size(tmp_path):
    path = _write_idx(tmp_path / "long", np.arange(4, dtype=np.uint8), 0x08)
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with pytest.raises(ValueError, match="long: IDX size mismatch: .* 2 bytes more"):
        data.read_idx(path)


def test_read_idx_rejects_corrupt_gzip(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(bytes(100))[:20])
    with pytest.raises(ValueError, match="broken.gz: corrupt gzip data"):
        data.read_idx(path)


def _write_mnist(folder, n_train=6, n_test=4, compress=True):
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(folder / f"{split}-images-idx3-ubyte{suffix}",
                   rng.integers(0, 256, (n, 5, 5), dtype=np.uint8), 0x08, compress)
        _write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}",
                   np.arange(n, dtype=np.uint8) % 3, 0x08, compress)


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_idx_reads_the_four_standard_files(tmp_path, compress):
    _write_mnist(tmp_path, compress=compress)
    ds = data.load_mnist_idx(tmp_path)
    assert ds.x_train.shape == (6, 25) and ds.x_test.shape == (4, 25)
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() <= ds.x_train.max() <= 1.0
    np.testing.assert_array_equal(ds.y_train, np.arange(6) % 3)
    assert ds.num_classes == 3 and ds.image_shape == (5, 5)


def test_load_mnist_idx_lists_the_file_names_it_looked_for(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="no t10k-labels-idx1-ubyte file in .*looked for"):
        data.load_mnist_idx(tmp_path)


def test_load_mnist_idx_rejects_images_and_labels_of_different_lengths(tmp_path):
    _write_mnist(tmp_path)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8), 0x08, True)
    with pytest.raises(ValueError, match="has 6 images but .* has 5 labels"):
        data.load_mnist_idx(tmp_path)


def test_load_fashion_mnist_says_which_package_installs_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load_fashion_mnist(tmp_path / "missing")


@pytest.mark.parametrize("where", ["scikit-learn's file", "scikit-learn's loader"])
def test_load_digits_reads_what_scikit_learn_loads(monkeypatch, where):
    from sklearn.datasets import load_digits as sklearn_digits

    if where == "scikit-learn's file":
        (root,) = importlib.util.find_spec("sklearn").submodule_search_locations
        assert Path(root, *data._DIGITS_FILE).is_file()
    else:
        monkeypatch.setattr(data, "_DIGITS_FILE", ("no", "such", "file.csv.gz"))
    bunch = sklearn_digits()
    pixels, labels = data._bundled_digits()
    np.testing.assert_array_equal(pixels, bunch.data)
    np.testing.assert_array_equal(labels, bunch.target)


def test_load_digits_splits_the_1797_scaled_images():
    ds = data.load_digits(test_fraction=0.2)
    assert len(ds.x_train) + len(ds.x_test) == 1797
    assert len(ds.x_test) == math.floor(0.2 * 1797 + 0.5)
    assert ds.x_train.shape[1] == 64 and ds.x_train.max() == 1.0 and ds.x_train.min() == 0.0
