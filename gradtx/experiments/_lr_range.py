"""The learning-rate range test (Smith 2017, "Cyclical learning rates", §3.3).

Train for ``num_steps`` minibatch steps while the learning rate grows
exponentially from ``min_lr`` to ``max_lr``:

    α_k = α_min · (α_max / α_min)^(k / (num_steps − 1)),   k = 0 … num_steps − 1,

record the minibatch loss of every step, and read a good rate off the curve:
where the loss falls fastest, before it blows up.
[`suggest_learning_rate`][gradtx.experiments.suggest_learning_rate] states the rule; it
also reads a curve recorded by any other training loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from gradtx.core.base import GradientTransformation
from gradtx.experiments import _plot
from gradtx.experiments._training import LossFn, _num_examples, batch_indices, scan_steps

__all__ = ["LRRangeResult", "lr_range_test", "suggest_learning_rate"]

PyTree = Any
_METHODS = ("steepest", "minimum")
_BAND = 0.1
"""τ of the suggestion rule: the falling region leaves out the first and the last
τ of the fall."""


@dataclass(frozen=True)
class LRRangeResult:
    """The curve of a learning-rate range test.

    ``learning_rates[k]``: α_k, the rate of update k; ``losses[k]``: the minibatch loss
    after k updates (so it reflects α_0 … α_{k−1}); ``smoothed_losses``: their debiased
    moving average; ``stop``: the number of points before the smoothed loss diverged
    (all of them if it never did); ``suggested_lr``: the rate the test recommends, by
    the rule of
    [`suggest_learning_rate`][gradtx.experiments.suggest_learning_rate].
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    stop: int
    suggested_lr: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        """The numbers as JSON-ready lists."""
        return {
            "learning_rates": self.learning_rates.tolist(),
            "losses": self.losses.tolist(),
            "smoothed_losses": self.smoothed_losses.tolist(),
            "stop": self.stop,
            "suggested_lr": self.suggested_lr,
            "method": self.method,
        }

    def plot(self, ax: Any = None) -> Any:
        """The minibatch and the smoothed loss against the learning rate (log axis) up to
        the divergence, the suggested rate marked. Returns the axes. Needs matplotlib."""
        plt = _plot.pyplot("LRRangeResult.plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        lrs, smoothed = self.learning_rates[: self.stop], self.smoothed_losses[: self.stop]
        ax.plot(lrs, self.losses[: self.stop], color="0.7", lw=0.8, label="minibatch loss")
        ax.plot(lrs, smoothed, color="C0", lw=1.8, label="smoothed loss")
        k = int(np.argmin(np.abs(np.log(lrs) - np.log(self.suggested_lr))))
        ax.axvline(self.suggested_lr, color="C3", ls="--", lw=1)
        ax.plot([self.suggested_lr], [smoothed[k]], "o", color="C3", ms=7,
                label=f"suggested α = {self.suggested_lr:.2g} ({self.method})")
        # Frame the smoothed curve: single minibatch spikes would flatten it.
        low, high = float(np.min(smoothed)), float(np.max(smoothed))
        margin = 0.1 * (high - low) if high > low else 0.1 * max(abs(high), 1.0)
        ax.set_ylim(low - margin, high + margin)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate α")
        ax.set_ylabel("training loss")
        ax.set_title("learning-rate range test")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
        return ax


def _divergence(smoothed: np.ndarray, diverge_factor: float) -> int:
    best = np.inf
    for k, value in enumerate(smoothed):
        if not np.isfinite(value) or value > diverge_factor * best:
            return k
        best = min(best, value)
    return len(smoothed)


def _suggestion(rates: np.ndarray, smoothed: np.ndarray, warmup: int, window: int,
                method: str) -> int:
    """The index k̂ of the suggestion rule on the points before divergence."""
    x = np.log(rates)
    m = warmup + int(np.argmin(smoothed[warmup:]))
    top = float(np.max(smoothed[warmup : m + 1]))
    fall = top - smoothed[m]
    k = np.arange(warmup, m + 1)
    falling = k[(smoothed[k] >= smoothed[m] + _BAND * fall) & (smoothed[k] <= top - _BAND * fall)]
    if not fall > 0 or falling.size == 0:
        return int(np.argmin(smoothed))
    if method == "minimum":
        decade_below = int(np.searchsorted(x, x[m] - np.log(10.0)))
        return max(decade_below, int(falling[0]))
    a = np.maximum(falling - window, warmup)
    b = np.minimum(falling + window, len(smoothed) - 1)
    slope = (smoothed[b] - smoothed[a]) / (x[b] - x[a])
    return int(falling[np.argmin(slope)])


def suggest_learning_rate(
    learning_rates: ArrayLike,
    losses: ArrayLike,
    *,
    smoothing: float = 0.9,
    diverge_factor: float = 4.0,
    method: str = "steepest",
) -> LRRangeResult:
    """Read a learning rate off a range-test curve: ``losses[k]`` recorded while training
    at the increasing rates ``learning_rates[k]``, by
    [`lr_range_test`][gradtx.experiments.lr_range_test] or by any other loop.

    With β = ``smoothing``, n points, x_k = ln α_k and s_k the debiased moving average of
    the losses (s_k = m_k / (1 − β^(k+1)), m_k = β m_{k−1} + (1 − β) ℓ_k, m_{−1} = 0):

    1. Divergence: only the points k < n′ are read, n′ the first k at which s_k is not
       finite or s_k > ``diverge_factor`` · min_{j<k} s_j (n′ = n if there is none).
    2. Warm-up: the first k_w = min(⌈β / (1 − β)⌉, ⌊n′ / 3⌋) averages rest on a few
       losses each (s_0 = ℓ_0), so their noise would pass for a slope; they are skipped.
    3. The fall: m = argmin_{k_w ≤ k < n′} s_k, its top t = max_{k_w ≤ k ≤ m} s_k and
       Δ = t − s_m. The falling region is

           F = {k : k_w ≤ k ≤ m,  s_m + τΔ ≤ s_k ≤ t − τΔ},   τ = 0.1:

       the points after the loss has really fallen (by τΔ from its top) and before the
       last τΔ of its fall.
    4. ``method="steepest"`` (the default) suggests α_k̂ at the steepest descent of the
       smoothed loss per unit of ln α inside F, over a window of ±h points:

           k̂ = argmin_{k ∈ F} (s_b − s_a) / (x_b − x_a),
           a = max(k − h, k_w),  b = min(k + h, n′ − 1),  h = max(1, ⌊n / 20⌋);

       ``method="minimum"`` suggests one decade below the smoothed minimum, but not
       before the loss has really fallen: k̂ = max(j, min F), j the first index with
       x_j ≥ x_m − ln 10.
    5. When F is empty — the smoothed loss does not fall after its warm-up: it is
       lowest at the bottom of the sweep — k̂ = argmin_{k<n′} s_k, where it is lowest.

    So the suggestion is the bottom of the sweep only when the loss is lowest there, never
    because the first, noisiest averages happen to dip or to slope.

    Raises:
      ValueError: the arrays are not 1-D of one length ≥ 3, the rates are not positive
        and increasing, an argument is out of range, or the loss diverged within the
        first 3 points.
    """
    owner = "suggest_learning_rate"
    rates = np.asarray(learning_rates, dtype=np.float64)
    values = np.asarray(losses, dtype=np.float64)
    if rates.ndim != 1 or rates.shape != values.shape or len(rates) < 3:
        raise ValueError(
            f"{owner}: learning_rates and losses must be 1-D of one length >= 3, got shapes "
            f"{rates.shape} and {values.shape}"
        )
    if not (np.all(rates > 0) and np.all(np.diff(rates) > 0)):
        raise ValueError(f"{owner}: learning_rates must be positive and increasing")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"{owner}: smoothing must be in [0, 1), got {smoothing!r}")
    if not diverge_factor > 1:
        raise ValueError(f"{owner}: diverge_factor must be > 1, got {diverge_factor!r}")
    if method not in _METHODS:
        raise ValueError(f"{owner}: method must be one of {_METHODS}, got {method!r}")
    return _read(owner, rates, values, smoothing, diverge_factor, method)


def _read(owner: str, rates: np.ndarray, values: np.ndarray, smoothing: float,
          diverge_factor: float, method: str) -> LRRangeResult:
    smoothed = _plot.smooth(np.where(np.isfinite(values), values, np.inf), smoothing)
    stop = _divergence(smoothed, diverge_factor)
    if stop < 3:
        raise ValueError(
            f"{owner}: the loss diverged after {stop} steps, at α = {rates[stop]:.3g}; "
            "lower min_lr"
        )
    warmup = min(math.ceil(smoothing / (1.0 - smoothing)), stop // 3)
    window = max(1, len(rates) // 20)
    k = _suggestion(rates[:stop], smoothed[:stop], warmup, window, method)
    return LRRangeResult(rates, values, smoothed, stop, float(rates[k]), method)


def lr_range_test(
    loss_fn: LossFn,
    params: PyTree,
    optimizer: Callable[[Callable[[Any], Any]], GradientTransformation],
    data: PyTree,
    *,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    num_steps: int = 100,
    batch_size: int = 128,
    seed: int = 0,
    smoothing: float = 0.9,
    diverge_factor: float = 4.0,
    method: str = "steepest",
) -> LRRangeResult:
    """Run the range test and suggest a learning rate by the rule of
    [`suggest_learning_rate`][gradtx.experiments.suggest_learning_rate].

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``.
      params: the initial parameters.
      optimizer: builds the optimizer from a learning-rate schedule, e.g. ``gradtx.sgd``
        or ``lambda lr: gradtx.adam(lr, b1=0.95)``; it gets α_k as a schedule of the step.
      data: a pytree of arrays sharing a leading example axis; minibatches as in
        [`train`][gradtx.experiments.train], passes repeating as needed.
      min_lr: the first rate, > 0.
      max_lr: the last rate, > min_lr.
      num_steps: the number of updates (≥ 3), one rate each.
      batch_size: examples per minibatch.
      seed: draws the minibatches.
      smoothing: the moving average's factor β in [0, 1).
      diverge_factor: the curve is cut where the smoothed loss exceeds this multiple
        of its running minimum, or stops being finite.
      method: ``"steepest"`` — the rate where the smoothed loss falls fastest per unit of
        ln α inside the falling region; ``"minimum"`` — a decade below the rate at the
        smoothed minimum, but not before the loss has fallen.
    """
    owner = "lr_range_test"
    if not 0 < min_lr < max_lr:
        raise ValueError(f"{owner}: need 0 < min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}")
    if not isinstance(num_steps, int) or num_steps < 3:
        raise ValueError(f"{owner}: num_steps must be an integer >= 3, got {num_steps!r}")
    if diverge_factor <= 1:
        raise ValueError(f"{owner}: diverge_factor must be > 1, got {diverge_factor!r}")
    if method not in _METHODS:
        raise ValueError(f"{owner}: method must be one of {_METHODS}, got {method!r}")
    n = _num_examples(owner, data)
    ratio = max_lr / min_lr

    def schedule(step):
        return min_lr * ratio ** (jnp.asarray(step, jnp.float32) / (num_steps - 1))

    tx = optimizer(schedule)
    indices = batch_indices(n, batch_size, num_steps, seed)
    data = jax.tree_util.tree_map(jnp.asarray, data)
    _, _, losses = scan_steps(loss_fn, tx)(params, tx.init(params), data, indices)
    learning_rates = min_lr * ratio ** (np.arange(num_steps) / (num_steps - 1))
    losses = np.asarray(losses, dtype=np.float64)
    return _read(owner, learning_rates, losses, smoothing, diverge_factor, method)
