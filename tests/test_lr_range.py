"""The learning-rate range test's suggestion rule: on noisy curves it lands where the loss
falls, never at the bottom of the sweep unless the loss is lowest there."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import experiments

RATES = np.geomspace(1e-6, 1.0, 100)
DECADES = np.log10(RATES)


def _flat_falls_diverges(noise: float, seed: int) -> np.ndarray:
    """2.3 up to α ≈ 1e-4, a fall of 2 centred on α = 10^-2.5, a blow-up past α ≈ 0.05."""
    fall = 2.0 / (1.0 + np.exp(-4.0 * (DECADES + 2.5)))
    blow_up = np.where(DECADES > -1.3, 10.0 ** (2.5 * (DECADES + 1.3)) - 1.0, 0.0)
    clean = 2.3 - fall + blow_up
    return clean + np.random.default_rng(seed).normal(0.0, noise, RATES.shape)


def _falling_region() -> tuple[float, float]:
    """The rates at which the noiseless curve has fallen by 10 % and by 90 % of its fall."""
    clean = _flat_falls_diverges(0.0, 0)
    lowest = int(np.argmin(clean))
    top, bottom = clean[0], clean[lowest]
    begins = np.flatnonzero(clean <= top - 0.1 * (top - bottom))[0]
    ends = np.flatnonzero(clean[:lowest] >= bottom + 0.1 * (top - bottom))[-1]
    return RATES[begins], RATES[ends]


# Seeds 3 and 6 are curves on which the steepest one-point slope of the smoothed loss lies
# in its first, noisiest points (the bottom of the sweep).
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("method", ["steepest", "minimum"])
def test_suggestion_lands_in_the_falling_region_of_a_noisy_curve(seed, method):
    losses = _flat_falls_diverges(noise=0.15, seed=seed)
    result = experiments.suggest_learning_rate(RATES, losses, method=method)
    begins, ends = _falling_region()
    assert begins <= result.suggested_lr <= ends, (result.suggested_lr, begins, ends)


def test_suggestion_cuts_the_curve_where_it_diverges():
    losses = _flat_falls_diverges(noise=0.15, seed=0)
    result = experiments.suggest_learning_rate(RATES, losses, diverge_factor=4.0)
    smoothed = result.smoothed_losses
    assert smoothed[result.stop] > 4.0 * smoothed[: result.stop].min()
    assert np.all(smoothed[: result.stop] <= 4.0 * np.minimum.accumulate(smoothed[: result.stop]))


def test_steepest_suggestion_is_the_steepest_point_of_a_noiseless_fall():
    losses = _flat_falls_diverges(noise=0.0, seed=0)
    result = experiments.suggest_learning_rate(RATES, losses, smoothing=0.0)
    # the logistic fall is steepest at its centre, α = 10^-2.5
    assert abs(np.log10(result.suggested_lr) + 2.5) < 0.15


def test_minimum_suggestion_is_a_decade_below_the_minimum_of_a_noiseless_curve():
    losses = _flat_falls_diverges(noise=0.0, seed=0)
    result = experiments.suggest_learning_rate(RATES, losses, smoothing=0.0, method="minimum")
    at_minimum = RATES[np.argmin(losses)]
    assert abs(np.log10(result.suggested_lr) - (np.log10(at_minimum) - 1.0)) < 0.07


def test_minimum_suggestion_waits_for_the_loss_to_fall():
    # The minimum is less than a decade above the start of the fall: a decade below it the
    # loss is still flat, so the suggestion moves up to where the fall has begun.
    fall = 2.0 / (1.0 + np.exp(-12.0 * (DECADES + 2.0)))
    losses = 2.3 - fall + np.where(DECADES > -1.6, 10.0 ** (3 * (DECADES + 1.6)) - 1, 0.0)
    result = experiments.suggest_learning_rate(RATES, losses, smoothing=0.0, method="minimum")
    decade_below = RATES[np.argmin(losses)] / 10.0
    assert result.suggested_lr > decade_below
    k = int(np.searchsorted(RATES, result.suggested_lr))
    assert losses[k] <= 2.3 - 0.1 * 2.0 + 1e-9


def test_suggestion_may_be_the_bottom_when_the_loss_is_lowest_there():
    rising = 0.5 + 0.1 * (DECADES + 6.0) ** 2
    noisy = rising + np.random.default_rng(0).normal(0.0, 0.02, RATES.shape)
    for losses in (rising, noisy):
        result = experiments.suggest_learning_rate(RATES, losses)
        assert result.suggested_lr <= 10 * RATES[0], result.suggested_lr


def test_suggestion_without_a_falling_region_is_where_the_loss_is_lowest():
    losses = np.concatenate([[3.0, 2.0], np.full(98, 2.5)])
    result = experiments.suggest_learning_rate(RATES, losses, smoothing=0.0)
    assert result.suggested_lr == RATES[1]


def test_suggestion_rejects_rates_that_do_not_increase():
    with pytest.raises(ValueError, match="suggest_learning_rate: learning_rates must be positive"):
        experiments.suggest_learning_rate(RATES[::-1], np.ones(100))


def test_suggestion_rejects_arrays_of_different_lengths():
    with pytest.raises(ValueError, match=r"one length >= 3, got shapes \(100,\) and \(99,\)"):
        experiments.suggest_learning_rate(RATES, np.ones(99))


def test_suggestion_rejects_a_loss_that_diverges_at_once():
    losses = np.array([1.0, 100.0, np.inf, np.inf])
    with pytest.raises(ValueError, match="diverged after 1 steps"):
        experiments.suggest_learning_rate(RATES[:4], losses)


# --- the bundled digits, a small noisy problem -------------------------------------------------


def _digits_mlp():
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {"w1": jax.random.normal(k1, (64, 32)) / 8.0, "b1": jnp.zeros(32),
              "w2": jax.random.normal(k2, (32, 10)) / np.sqrt(32.0), "b2": jnp.zeros(10)}

    def loss(p, batch):
        x, y = batch
        logits = jax.nn.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    return params, loss


# With these seeds, SGD's minibatches of 16 make the first smoothed points slope more
# steeply than the real fall does: the one-point steepest slope suggested 1e-6.
@pytest.mark.parametrize("seed", [1, 3])
def test_range_test_on_the_digits_suggests_a_rate_that_trains(seed):
    params, loss = _digits_mlp()
    ds = experiments.load_digits()
    data = (ds.x_train, ds.y_train)
    result = experiments.lr_range_test(loss, params, gradtx.sgd, data, min_lr=1e-6,
                                       max_lr=10.0, num_steps=100, batch_size=16, seed=seed)
    assert result.suggested_lr > 1e-4
    suggested, bottom = (
        experiments.train(loss, params, gradtx.sgd(lr), data, batch_size=16, epochs=1, seed=seed)
        for lr in (result.suggested_lr, 1e-6)
    )
    assert suggested.epoch_losses[-1] < 0.5 * bottom.epoch_losses[-1]
