"""The learning-rate range test (Smith 2017, "Cyclical learning rates", §3.3).

Train for ``num_steps`` minibatch steps while the learning rate grows
exponentially from ``min_lr`` to ``max_lr``:

    α_k = α_min · (α_max / α_min)^(k / (num_steps − 1)),   k = 0 … num_steps − 1,

record the minibatch loss of every step, and read a good rate off the curve:
where the loss falls fastest, before it blows up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.core.base import GradientTransformation
from gradtx.experiments import _plot
from gradtx.experiments._training import LossFn, _num_examples, batch_indices, scan_steps

__all__ = ["LRRangeResult", "lr_range_test"]

PyTree = Any
_METHODS = ("steepest", "minimum")


@dataclass(frozen=True)
class LRRangeResult:
    """The curve of a learning-rate range test.

    ``learning_rates[k]``: α_k, the rate of update k; ``losses[k]``: the minibatch loss
    after k updates (so it reflects α_0 … α_{k−1}); ``smoothed_losses``: their debiased
    moving average; ``stop``: the number of points before the smoothed loss diverged
    (all of them if it never did); ``suggested_lr``: the rate the test recommends.
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
        """Smoothed loss against the learning rate (log axis), the suggestion marked.
        Returns the axes. Needs matplotlib."""
        plt = _plot.pyplot("LRRangeResult.plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        lrs, smoothed = self.learning_rates[: self.stop], self.smoothed_losses[: self.stop]
        ax.plot(lrs, self.losses[: self.stop], color="0.75", lw=0.8, label="minibatch loss")
        ax.plot(lrs, smoothed, label="smoothed")
        ax.axvline(self.suggested_lr, color="C3", ls="--",
                   label=f"suggested {self.suggested_lr:.2g} ({self.method})")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.set_title("learning-rate range test")
        ax.legend(fontsize="small")
        return ax


def _divergence(smoothed: np.ndarray, diverge_factor: float) -> int:
    best = np.inf
    for k, value in enumerate(smoothed):
        if not np.isfinite(value) or value > diverge_factor * best:
            return k
        best = min(best, value)
    return len(smoothed)


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
    """Run the range test and suggest a learning rate.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``.
      params: the initial parameters.
      optimizer: builds the optimizer from a learning-rate schedule, e.g. ``gradtx.sgd``
        or ``lambda lr: gradtx.adam(lr, b1=0.95)``; it gets α_k as a schedule of the step.
      data: a pytree of arrays sharing a leading example axis; minibatches as in
        `gradtx.experiments.train`, passes repeating as needed.
      min_lr: the first rate, > 0.
      max_lr: the last rate, > min_lr.
      num_steps: the number of updates (≥ 3), one rate each.
      batch_size: examples per minibatch.
      seed: draws the minibatches.
      smoothing: the moving average's factor in [0, 1).
      diverge_factor: the curve is cut where the smoothed loss exceeds this multiple
        of its running minimum, or stops being finite.
      method: ``"steepest"`` — the rate where the smoothed loss falls fastest per unit of
        log α (the most negative d loss / d log α); ``"minimum"`` — a tenth of the rate at
        the smoothed minimum, but not below ``min_lr``.
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
    losses = np.asarray(losses, dtype=np.float64)
    learning_rates = min_lr * ratio ** (np.arange(num_steps) / (num_steps - 1))
    smoothed = _plot.smooth(np.where(np.isfinite(losses), losses, np.inf), smoothing)
    stop = _divergence(smoothed, diverge_factor)
    if stop < 3:
        raise ValueError(
            f"{owner}: the loss diverged after {stop} steps, at α = {learning_rates[stop]:.3g}; "
            "lower min_lr"
        )
    if method == "steepest":
        slope = np.gradient(smoothed[:stop], np.log(learning_rates[:stop]))
        suggested = learning_rates[int(np.argmin(slope))]
    else:
        suggested = max(learning_rates[int(np.argmin(smoothed[:stop]))] / 10.0, min_lr)
    return LRRangeResult(learning_rates, losses, smoothed, stop, float(suggested), method)
