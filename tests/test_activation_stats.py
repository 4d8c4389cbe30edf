"""Activation statistics: the lecture's experiment (10 tanh layers of 500 units,
1000×500 unit-Gaussian input) and the statistics' definitions."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradtx import initializers
from gradtx.diagnostics import (
    LayerStats,
    activation_stats,
    format_table,
    mlp_activation_stats,
    plot_histograms,
)

KEY = jax.random.key(0)


@pytest.fixture(scope="module")
def lecture_runs():
    """The lecture's five initializations, run once for the whole module."""
    runs = {
        "0.01 randn, tanh": (initializers.normal(0.01), "tanh"),
        "randn, tanh": (initializers.normal(1.0), "tanh"),
        "xavier, tanh": (initializers.xavier_normal("tanh"), "tanh"),
        "xavier, relu": (initializers.xavier_normal("tanh"), "relu"),
        "he, relu": (initializers.he_normal(), "relu"),
    }
    return {name: mlp_activation_stats(KEY, init, act) for name, (init, act) in runs.items()}


def _stds(stats):
    return np.array([s.std for s in stats])


def test_small_gaussian_weights_collapse_std_as_in_lecture(lecture_runs):
    lecture = [0.213081, 0.047551, 0.010630, 0.002378]
    np.testing.assert_allclose(_stds(lecture_runs["0.01 randn, tanh"])[:4], lecture, rtol=0.05)


def test_small_gaussian_weights_keep_collapsing_to_zero(lecture_runs):
    stds = _stds(lecture_runs["0.01 randn, tanh"])
    assert np.all(np.diff(stds) < 0) and stds[-1] < 1e-6


def test_unit_gaussian_weights_saturate_every_layer(lecture_runs):
    stats = lecture_runs["randn, tanh"]
    np.testing.assert_allclose(_stds(stats), 0.98, rtol=0.01)
    assert all(s.saturated_fraction > 0.85 for s in stats)


def test_xavier_tanh_std_decays_slowly_from_063_to_023(lecture_runs):
    stds = _stds(lecture_runs["xavier, tanh"])
    np.testing.assert_allclose([stds[0], stds[-1]], [0.627953, 0.228008], rtol=0.05)
    assert np.all(np.diff(stds) < 0)


def test_xavier_tanh_does_not_saturate(lecture_runs):
    assert all(s.saturated_fraction < 0.01 for s in lecture_runs["xavier, tanh"])


def test_xavier_under_relu_shrinks_std_by_about_sqrt_two_per_layer(lecture_runs):
    stds = _stds(lecture_runs["xavier, relu"])
    np.testing.assert_allclose(stds[0], 0.582273, rtol=0.05)
    ratios = stds[1:] / stds[:-1]
    assert np.all(ratios < 0.85)
    np.testing.assert_allclose(np.exp(np.log(ratios).mean()), 1 / np.sqrt(2), rtol=0.05)


def test_he_under_relu_keeps_std_roughly_constant(lecture_runs):
    stds = _stds(lecture_runs["he, relu"])
    # relu(z) with z ~ N(0, 2) has std √(1 − 1/π) ≈ 0.826 in every layer.
    np.testing.assert_allclose(stds, np.sqrt(1 - 1 / np.pi), rtol=0.1)


def test_relu_layers_report_about_half_dead_units(lecture_runs):
    stats = lecture_runs["he, relu"]
    np.testing.assert_allclose([s.dead_fraction for s in stats], 0.5, atol=0.05)
    assert all(s.saturated_fraction is None for s in stats)


def test_mean_and_std_are_over_all_entries():
    a = jnp.array([[1.0, 2.0], [3.0, 6.0]])
    (stats,) = activation_stats(lambda x: [a], a, "linear")
    assert stats.mean == pytest.approx(3.0) and stats.std == pytest.approx(np.std([1, 2, 3, 6]))
    assert stats.saturated_fraction is None and stats.dead_fraction is None


def test_tanh_saturated_fraction_counts_abs_above_099():
    a = jnp.array([0.995, -0.995, 0.985, 0.0])
    (stats,) = activation_stats(lambda x: [a], a, "tanh")
    assert stats.saturated_fraction == pytest.approx(0.5)


def test_logistic_saturated_fraction_counts_both_tails():
    a = jnp.array([0.005, 0.995, 0.5, 0.02])
    for name in ("logistic", "sigmoid"):
        (stats,) = activation_stats(lambda x, a=a: [a], a, name)
        assert stats.saturated_fraction == pytest.approx(0.5)


def test_relu_dead_fraction_counts_exact_zeros():
    a = jnp.array([0.0, 0.0, 0.0, 1e-8])
    (stats,) = activation_stats(lambda x: [a], a, "relu")
    assert stats.dead_fraction == pytest.approx(0.75)


def test_stack_of_matrices_applies_activation_after_each_matmul():
    w1 = jnp.array([[1.0, -1.0], [0.5, 2.0]])
    w2 = jnp.array([[2.0, 0.0], [0.0, -3.0]])
    x = jnp.array([[1.0, 1.0], [-1.0, 0.5]])
    h1 = np.tanh(np.asarray(x) @ np.asarray(w1))
    h2 = np.tanh(h1 @ np.asarray(w2))
    stats = activation_stats([w1, w2], x, "tanh")
    assert [s.layer for s in stats] == ["1", "2"]
    np.testing.assert_allclose([s.mean for s in stats], [h1.mean(), h2.mean()], rtol=1e-6)
    np.testing.assert_allclose(stats[1].values, h2, rtol=1e-6)


def test_stack_of_callables_matches_stack_of_matrices():
    rng = np.random.default_rng(0)
    weights = [jnp.asarray(rng.standard_normal((6, 6))) for _ in range(3)]
    x = jnp.asarray(rng.standard_normal((10, 6)))
    from_matrices = activation_stats(weights, x, "relu")
    from_callables = activation_stats([lambda h, w=w: h @ w for w in weights], x, "relu")
    assert [s.std for s in from_matrices] == [s.std for s in from_callables]


def test_model_returning_mapping_keeps_layer_names():
    x = jnp.ones((2, 3))
    stats = activation_stats(lambda x: {"enc": jnp.tanh(x), "dec": jnp.tanh(2 * x)}, x)
    assert [s.layer for s in stats] == ["enc", "dec"]


def test_model_returning_a_single_array_is_rejected():
    with pytest.raises(TypeError, match=r"activation_stats: a model must return .* shape \(2, 3\)"):
        activation_stats(jnp.tanh, jnp.ones((2, 3)))


def test_format_table_has_a_row_per_layer_with_saturation_column(lecture_runs):
    table = format_table(lecture_runs["0.01 randn, tanh"])
    lines = table.splitlines()
    assert lines[0].split() == ["layer", "mean", "std", "saturated"]
    assert len(lines) == 11
    assert lines[1].split()[0] == "1"
    assert float(lines[1].split()[2]) == pytest.approx(
        lecture_runs["0.01 randn, tanh"][0].std, rel=1e-5
    )


def test_format_table_for_relu_shows_dead_column(lecture_runs):
    header = format_table(lecture_runs["he, relu"]).splitlines()[0].split()
    assert header == ["layer", "mean", "std", "dead"]


def test_plot_histograms_draws_one_panel_per_layer(lecture_runs):
    import matplotlib.pyplot as plt

    figure = plot_histograms(lecture_runs["xavier, tanh"][:3], bins=20)
    assert len(figure.axes) == 3 and "layer 1" in figure.axes[0].get_title()
    plt.close(figure)


def test_plot_histograms_uses_given_axes():
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2)
    stats = activation_stats(lambda x: [x, 2 * x], jnp.linspace(-1, 1, 50), "linear")
    assert plot_histograms(stats, axes=axes) is figure
    assert all(len(ax.patches) > 0 for ax in axes)
    plt.close(figure)


def test_plot_histograms_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    stats = [LayerStats("1", 0.0, 1.0, None, None, jnp.zeros(3))]
    with pytest.raises(ImportError, match=r"pip install 'gradtx\[plot\]'"):
        plot_histograms(stats)


def test_unknown_activation_is_rejected():
    with pytest.raises(
        ValueError,
        match="activation_stats: activation must be one of 'linear', 'tanh', 'logistic', "
        "'sigmoid', 'relu', got 'gelu'",
    ):
        activation_stats([jnp.eye(2)], jnp.ones((1, 2)), "gelu")
