"""α_t driven by the loss: reduce the learning rate when the loss stops improving.

The transform multiplies the updates by a scale s (1 at the start); put it
after ``scale_by_learning_rate`` (or after an optimizer) so that the effective
learning rate is s · α_t. Each ``update`` call reads the loss passed as
``update(..., value=loss)``, as Flax's ``nnx.Optimizer.update(model, grads,
value=loss)`` forwards it.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core.base import GradientTransformation
from gradtx.core.block import block
from gradtx.core.hyperparams import HyperParams, hyperparam_dtype
from gradtx.core.lift import per_array
from gradtx.core.validate import NONNEGATIVE, UNIT, Interval

__all__ = ["ReduceOnPlateauState", "reduce_on_plateau"]


class ReduceOnPlateauState(NamedTuple):
    """The current scale s, the best loss so far, and the patience/cooldown counters."""

    scale: jax.Array
    best: jax.Array
    num_bad: jax.Array
    cooldown_left: jax.Array
    hyperparams: dict[str, Any]


def reduce_on_plateau(
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: Literal["rel", "abs"] = "rel",
    cooldown: int = 0,
    min_scale: float = 0.0,
) -> GradientTransformation:
    """torch's ``ReduceLROnPlateau`` (mode "min") as a transformation.

    With best loss b, a loss L counts as an improvement when
    L < b − threshold·|b| (``"rel"``) or L < b − threshold (``"abs"``); using
    |b| keeps the relative test right for negative losses (torch's
    b·(1 − threshold) is not). After more than ``patience`` calls without
    improvement, s ← max(factor · s, min_scale) and the next ``cooldown`` calls
    are not counted.

    Args:
      factor: multiplicative reduction in (0, 1).
      patience: calls without improvement tolerated (≥ 0).
      threshold: improvement margin (≥ 0).
      threshold_mode: ``"rel"`` or ``"abs"``.
      cooldown: calls to wait after a reduction before counting again (≥ 0).
      min_scale: lower bound on s, in [0, 1].
    """
    owner = "reduce_on_plateau"
    factor_range = Interval(low=0.0, high=1.0, low_open=True, high_open=True)
    for name, value, interval in (("factor", factor, factor_range),
                                  ("threshold", threshold, NONNEGATIVE),
                                  ("min_scale", min_scale, UNIT)):
        interval.check(owner, name, value, allow_schedule=False)
    for name, value in (("patience", patience), ("cooldown", cooldown)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{owner}: {name} must be a non-negative integer, got {value!r}")
    if threshold_mode not in ("rel", "abs"):
        raise ValueError(f"{owner}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
    hyper = HyperParams(owner, factor=(factor, factor_range), threshold=(threshold, NONNEGATIVE),
                        min_scale=(min_scale, UNIT))

    def init(params, hyperparams):
        dtype = hyperparam_dtype(params)
        return ReduceOnPlateauState(
            scale=jnp.ones([], dtype),
            best=jnp.full([], jnp.inf, dtype),
            num_bad=jnp.zeros([], jnp.int32),
            cooldown_left=jnp.zeros([], jnp.int32),
            hyperparams=hyperparams,
        )

    def update(updates, state, params, h, step, *, value=None, **extra):
        if value is None:
            raise ValueError(f"{owner}: needs the loss; call update(..., value=loss)")
        loss = jnp.asarray(value, state.best.dtype).reshape(())
        margin = h["threshold"] * (jnp.abs(state.best) if threshold_mode == "rel" else 1.0)
        improved = loss < jnp.where(jnp.isfinite(state.best), state.best - margin, jnp.inf)
        best = jnp.where(improved, loss, state.best)
        num_bad = jnp.where(improved, 0, state.num_bad + 1)
        in_cooldown = state.cooldown_left > 0
        cooldown_left = jnp.where(in_cooldown, state.cooldown_left - 1, 0)
        num_bad = jnp.where(in_cooldown, 0, num_bad)
        reduce = num_bad > patience
        scale = jnp.where(reduce, jnp.maximum(state.scale * h["factor"], h["min_scale"]),
                          state.scale)
        cooldown_left = jnp.where(reduce, cooldown, cooldown_left).astype(jnp.int32)
        num_bad = jnp.where(reduce, 0, num_bad).astype(jnp.int32)
        (updates,) = per_array(lambda u: (u * scale,), updates, what=owner)
        return updates, state._replace(scale=scale, best=best, num_bad=num_bad,
                                       cooldown_left=cooldown_left)

    return block(owner, ReduceOnPlateauState, hyper, init, update)
