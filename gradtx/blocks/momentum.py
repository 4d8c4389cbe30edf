"""M_t: momentum and moving averages of the unified update.

Placed **after** ``scale_by_learning_rate`` these give the lecture's form
(v ← ρ v − α_t g, θ ← θ + v); placed **before** it, torch's form
(v ← ρ v + g, θ ← θ − α_t v). With a constant α the two are identical; under a
schedule the lecture's velocity remembers past learning rates.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from gradtx.core.base import GradientTransformation
from gradtx.core.block import block
from gradtx.core.hyperparams import HyperParams
from gradtx.core.lift import per_array
from gradtx.core.numerics import update_number
from gradtx.core.tree import tree_zeros_like
from gradtx.core.validate import UNIT_OPEN, check_bool

__all__ = ["TraceState", "EmaState", "trace", "ema"]


class TraceState(NamedTuple):
    """The velocity v of momentum."""

    trace: Any
    hyperparams: dict[str, Any]


def trace(decay: float = 0.9, nesterov: bool = False, accumulator_dtype: Any = None
          ) -> GradientTransformation:
    """Heavy-ball momentum (Polyak 1964) or Nesterov momentum.

        v ← ρ v + u,     u ← v                 (heavy ball)
        v ← ρ v + u,     u ← u + ρ v           (Nesterov)

    The Nesterov form is the lecture's look-ahead algorithm after the change
    of variables φ = θ + ρ v: the gradient a transform receives is taken at
    the current params φ_t, and the params follow φ_t of the lecture exactly.

    Args:
      decay: ρ in [0, 1) (torch's ``momentum``).
      nesterov: use Nesterov's look-ahead.
      accumulator_dtype: storage dtype of v (default: the params').
    """
    owner = "trace"
    check_bool(owner, "nesterov", nesterov)
    hyper = HyperParams(owner, decay=(decay, UNIT_OPEN))

    def init(params, hyperparams):
        return TraceState(tree_zeros_like(params, accumulator_dtype), hyperparams)

    def update(updates, state, params, h, step, **extra):
        rho = h["decay"]

        def rule(u, v):
            v = rho * v + u
            return (u + rho * v if nesterov else v), v

        updates, v = per_array(rule, updates, state.trace, what=owner)
        return updates, state._replace(trace=v)

    return block(owner, TraceState, hyper, init, update)


class EmaState(NamedTuple):
    """The exponential moving average m."""

    ema: Any
    hyperparams: dict[str, Any]


def ema(decay: float = 0.9, debias: bool = True, accumulator_dtype: Any = None
        ) -> GradientTransformation:
    """Exponential moving average of the updates.

        m ← ρ m + (1 − ρ) u,     u ← m / (1 − ρ^t)  (debiased)  or  u ← m

    Args:
      decay: ρ in [0, 1).
      debias: divide by 1 − ρ^t, t the update number (1 for the first).
      accumulator_dtype: storage dtype of m (default: the params').
    """
    owner = "ema"
    check_bool(owner, "debias", debias)
    hyper = HyperParams(owner, decay=(decay, UNIT_OPEN))

    def init(params, hyperparams):
        return EmaState(tree_zeros_like(params, accumulator_dtype), hyperparams)

    def update(updates, state, params, h, step, **extra):
        rho = h["decay"]
        correction = 1 - rho ** update_number(step, rho.dtype) if debias else 1

        def rule(u, m):
            m = rho * m + (1 - rho) * u
            return m / correction, m

        updates, m = per_array(rule, updates, state.ema, what=owner)
        return updates, state._replace(ema=m)

    return block(owner, EmaState, hyper, init, update, uses_step=debias)
