"""Training runs on shared batches, and the optimizer comparison built from them.

The model is functional: ``loss_fn(params, batch) -> scalar``, with ``batch`` a
pytree of arrays (for example ``(x, y)``) whose leading axis indexes examples.
An epoch is one ``jax.lax.scan`` over its minibatches inside one ``jax.jit``, so a
run costs one compilation and no Python per step.

Batches come from the seed alone: epoch e visits a fresh random permutation of
the examples in consecutive slices of ``batch_size`` (the last partial slice is
dropped). Runs with the same seed and batch size therefore see the same batches
in the same order, whatever the optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.core.base import GradientTransformation, apply_updates
from gradtx.experiments import _plot

__all__ = [
    "TrainingRun",
    "Comparison",
    "train",
    "compare_optimizers",
    "batch_indices",
]

PyTree = Any
LossFn = Callable[[PyTree, PyTree], jax.Array]
EvalFn = Callable[[PyTree, PyTree], Mapping[str, jax.Array]]
Callback = Callable[[str, int, float], None]

_LINE_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _num_examples(owner: str, data: PyTree) -> int:
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError(f"{owner}: data holds no arrays")
    sizes = {int(np.shape(leaf)[0]) if np.ndim(leaf) else -1 for leaf in leaves}
    if len(sizes) != 1 or -1 in sizes:
        shapes = [np.shape(leaf) for leaf in leaves]
        raise ValueError(
            f"{owner}: every array in data needs the same leading (example) axis, got shapes "
            f"{shapes}"
        )
    return sizes.pop()


def batch_indices(num_examples: int, batch_size: int, num_batches: int, seed: int) -> np.ndarray:
    """The example indices of ``num_batches`` minibatches, shape ``(num_batches, batch_size)``.

    Each pass over the data is a fresh permutation from ``numpy.random.default_rng(seed)``
    cut into ``num_examples // batch_size`` consecutive batches (the rest is dropped);
    passes follow one another until ``num_batches`` batches are drawn.
    """
    if not 1 <= batch_size <= num_examples:
        raise ValueError(
            f"batch_size must be in [1, {num_examples}] (the number of examples), got {batch_size}"
        )
    per_pass = num_examples // batch_size
    rng = np.random.default_rng(seed)
    passes = [
        rng.permutation(num_examples)[: per_pass * batch_size].reshape(per_pass, batch_size)
        for _ in range(math.ceil(num_batches / per_pass))
    ]
    return np.concatenate(passes)[:num_batches]


def scan_steps(loss_fn: LossFn, optimizer: GradientTransformation) -> Callable[..., Any]:
    """A jitted ``(params, state, data, indices) -> (params, state, losses)`` that applies one
    update per row of ``indices`` with ``jax.lax.scan``; ``losses[k]`` is the minibatch loss
    at the params before update k."""
    value_and_grad = jax.value_and_grad(loss_fn)

    def step(carry, batch):
        params, state = carry
        loss, grads = value_and_grad(params, batch)
        updates, state = optimizer.update(grads, state, params)
        return (apply_updates(params, updates), state), loss

    @jax.jit
    def run(params, state, data, indices):
        batches = jax.tree_util.tree_map(lambda a: a[indices], data)
        (params, state), losses = jax.lax.scan(step, (params, state), batches)
        return params, state, losses

    return run


@dataclass(frozen=True)
class TrainingRun:
    """One optimizer's run: the minibatch loss of every step and the metrics of every epoch.

    ``losses[k]``: loss of minibatch k at the params before update k;
    ``metrics[name][e]``: ``eval_fn``'s value after epoch e + 1;
    ``params``: the params after the last update.
    """

    name: str
    losses: np.ndarray
    steps_per_epoch: int
    batch_size: int
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    params: PyTree = None

    @property
    def epochs(self) -> int:
        """The number of epochs run."""
        return len(self.losses) // self.steps_per_epoch

    @property
    def epoch_losses(self) -> np.ndarray:
        """The mean minibatch loss of each epoch, shape ``(epochs,)``."""
        return self.losses.reshape(self.epochs, self.steps_per_epoch).mean(axis=1)

    def to_dict(self) -> dict[str, Any]:
        """The numbers as JSON-ready lists (NaN/inf as JSON's ``NaN``/``Infinity``)."""
        return {
            "batch_size": self.batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "losses": self.losses.tolist(),
            "epoch_losses": self.epoch_losses.tolist(),
            "metrics": {k: v.tolist() for k, v in self.metrics.items()},
        }


def train(
    loss_fn: LossFn,
    params: PyTree,
    optimizer: GradientTransformation,
    data: PyTree,
    *,
    batch_size: int = 128,
    epochs: int = 1,
    seed: int = 0,
    eval_fn: EvalFn | None = None,
    eval_data: PyTree = None,
    name: str = "run",
    callback: Callback | None = None,
) -> TrainingRun:
    """Train ``params`` with ``optimizer`` for ``epochs`` epochs of minibatch steps.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``; differentiated with ``jax.grad``.
      params: the initial parameters (left unchanged).
      optimizer: a ``GradientTransformation``; θ ← θ + update(∇loss) each step.
      data: a pytree of arrays sharing a leading example axis, e.g. ``(x, y)``.
      batch_size: examples per minibatch; the last partial batch of an epoch is dropped.
      epochs: passes over ``data``.
      seed: draws the minibatches, as `batch_indices` does.
      eval_fn: optional ``eval_fn(params, eval_data) -> {metric: scalar}``, run after
        every epoch; needs ``eval_data``.
      name: the run's name in the result and the callback.
      callback: optional ``callback(name, epoch, mean_loss)`` after every epoch
        (epochs count from 1), e.g. to advance a progress bar.
    """
    owner = "train"
    n = _num_examples(owner, data)
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"{owner}: epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, int) or not 1 <= batch_size <= n:
        raise ValueError(
            f"{owner}: batch_size must be an integer in [1, {n}] (the number of examples), "
            f"got {batch_size!r}"
        )
    if eval_fn is not None and eval_data is None:
        raise ValueError(f"{owner}: eval_fn needs eval_data")
    steps_per_epoch = n // batch_size
    indices = batch_indices(n, batch_size, epochs * steps_per_epoch, seed)
    indices = indices.reshape(epochs, steps_per_epoch, batch_size)
    data = jax.tree_util.tree_map(jnp.asarray, data)
    run_epoch = scan_steps(loss_fn, optimizer)
    evaluate = None if eval_fn is None else jax.jit(eval_fn)
    state = optimizer.init(params)
    losses: list[np.ndarray] = []
    metrics: dict[str, list[float]] = {}
    for epoch in range(epochs):
        params, state, epoch_losses = run_epoch(params, state, data, indices[epoch])
        losses.append(np.asarray(epoch_losses, dtype=np.float64))
        if evaluate is not None:
            for key, value in evaluate(params, eval_data).items():
                metrics.setdefault(key, []).append(float(value))
        if callback is not None:
            callback(name, epoch + 1, float(losses[-1].mean()))
    return TrainingRun(
        name=name,
        losses=np.concatenate(losses),
        steps_per_epoch=steps_per_epoch,
        batch_size=batch_size,
        metrics={k: np.asarray(v) for k, v in metrics.items()},
        params=params,
    )


@dataclass(frozen=True)
class Comparison:
    """Named training runs (`TrainingRun`), in the order they ran."""

    runs: dict[str, TrainingRun]

    def table(self) -> str:
        """A text table: each run's final-epoch mean loss and final metric values."""
        metric_names = list(dict.fromkeys(k for run in self.runs.values() for k in run.metrics))
        header = ["run", "final loss", *metric_names]
        rows = [
            [name, run.epoch_losses[-1],
             *(run.metrics.get(k, [math.nan])[-1] for k in metric_names)]
            for name, run in self.runs.items()
        ]
        width = max(len(header[0]), *(len(name) for name in self.runs))
        columns = max(12, *(len(h) + 2 for h in header[1:]))
        lines = [f"{header[0]:<{width}}" + "".join(f"{h:>{columns}}" for h in header[1:])]
        for name, *values in rows:
            lines.append(f"{name:<{width}}" + "".join(f"{v:>{columns}.4f}" for v in values))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Every run's numbers (`TrainingRun.to_dict`), keyed by name."""
        return {name: run.to_dict() for name, run in self.runs.items()}

    def coincident(self, rtol: float = 1e-2) -> dict[str, str]:
        """Runs whose losses equal an earlier run's within ``rtol``: ``{later: earlier}``.

        Run b coincides with an earlier run a when they have as many steps and
        |ℓ_b,k − ℓ_a,k| ≤ rtol · |ℓ_a,k| at every step k (NaNs equal NaNs); b is paired
        with the first such a. On a plot their curves lie on top of each other.
        """
        found: dict[str, str] = {}
        names = list(self.runs)
        for i, later in enumerate(names):
            b = self.runs[later].losses
            for earlier in names[:i]:
                a = self.runs[earlier].losses
                if a.shape == b.shape and np.allclose(b, a, rtol=rtol, atol=0.0, equal_nan=True):
                    found[later] = earlier
                    break
        return found

    def plot(self, axes: Any = None, *, smoothing: float = 0.0, rtol: float = 1e-2) -> Any:
        """The lecture's two panels: (a) minibatch loss by iteration, (b) mean loss by epoch.

        ``axes``: two matplotlib axes (default: a new 1×2 figure with one legend for both
        panels below them; given axes get a legend each). ``smoothing`` in [0, 1)
        applies a debiased moving average to the per-iteration curves. The loss axis is
        logarithmic when every loss is positive. Every run has its own colour, line style
        and marker, and a run whose losses equal an earlier run's within ``rtol`` (see
        [`coincident`][gradtx.experiments.Comparison.coincident]) is labelled
        "(coincides with …)". Returns the figure. Needs matplotlib.
        """
        plt = _plot.pyplot("Comparison.plot")
        own_figure = axes is None
        if own_figure:
            _, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
        by_iteration, by_epoch = axes
        same = self.coincident(rtol)
        for i, (name, run) in enumerate(self.runs.items()):
            label = f"{name} (coincides with {same[name]})" if name in same else name
            # Later runs on top: a curve equal to an earlier one shows its own dashes and
            # markers over it, the markers of the two at different steps.
            style = {"label": label, "color": f"C{i % 10}", "ls": _LINE_STYLES[i % 4],
                     "marker": _MARKERS[i % len(_MARKERS)], "zorder": 2 + i}
            steps = np.arange(1, len(run.losses) + 1)
            every = max(1, len(steps) // 8)
            by_iteration.plot(steps, _plot.smooth(run.losses, smoothing), lw=1.2, ms=4,
                              markevery=(i * every // len(self.runs), every), **style)
            epochs = np.arange(1, run.epochs + 1)
            every = max(1, run.epochs // 15)
            by_epoch.plot(epochs, run.epoch_losses, lw=1.2, ms=4, markevery=(i % every, every),
                          **style)
        log = _plot.use_log_scale(*(run.losses for run in self.runs.values()))
        for ax, title, xlabel in (
            (by_iteration, "(a) loss by iteration", "iteration"),
            (by_epoch, "(b) loss by epoch", "epoch"),
        ):
            ax.set_title(title)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("training loss")
            if log:
                ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
            if not own_figure:
                ax.legend(fontsize="small")
        if own_figure:
            by_iteration.figure.legend(*by_epoch.get_legend_handles_labels(),
                                       loc="outside lower center", fontsize="small",
                                       ncols=min(len(self.runs), 4))
        return by_iteration.figure


def compare_optimizers(
    loss_fn: LossFn,
    params: PyTree,
    optimizers: Mapping[str, GradientTransformation],
    data: PyTree,
    *,
    batch_size: int = 128,
    epochs: int = 1,
    seed: int = 0,
    eval_fn: EvalFn | None = None,
    eval_data: PyTree = None,
    callback: Callback | None = None,
) -> Comparison:
    """Train the same initial ``params`` with each optimizer on the same batches.

    Every optimizer starts from ``params`` and sees the same minibatches in the
    same order (see `train` for the arguments). Returns a `Comparison`:
    ``result.runs[name].losses`` per step, ``.epoch_losses`` per epoch,
    ``.metrics`` from ``eval_fn``; ``result.plot()`` draws loss by iteration and
    by epoch, ``result.table()`` the final numbers.

    >>> result = compare_optimizers(loss_fn, params,
    ...     {"sgd": gradtx.sgd(1e-3), "adam": gradtx.adam(1e-3)}, (x, y), epochs=5)
    """
    if not isinstance(optimizers, Mapping) or not optimizers:
        raise ValueError(
            "compare_optimizers: optimizers must be a non-empty mapping name -> "
            f"GradientTransformation, got {optimizers!r}"
        )
    runs = {
        name: train(
            loss_fn, params, optimizer, data,
            batch_size=batch_size, epochs=epochs, seed=seed,
            eval_fn=eval_fn, eval_data=eval_data, name=name, callback=callback,
        )
        for name, optimizer in optimizers.items()
    }
    return Comparison(runs)
