"""Averages of the params: EMA, Polyak averaging, and lookahead.

These average the **params** θ_t, not the updates (for a moving average of
the updates, the momentum M_t, see [`gradtx.ema`][]).

``param_ema`` and ``polyak_average`` pass the updates through unchanged and
keep the average in their state. They compute the new params as θ + u from
the updates they receive, so they go **last** in the chain, after
``scale_by_learning_rate``::

    tx = gradtx.chain(gradtx.adamw(1e-3), gradtx.param_ema(0.999))
    state = tx.init(params)
    ...
    eval_params = state[1].average

``lookahead`` holds the fast optimizer; the params you hold are its fast
weights θ, the slow weights φ are ``state.slow`` (``state[i].slow`` inside a
chain). Evaluate with the slow weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core.base import GradientTransformation, Part, expect_params
from gradtx.core.block import block
from gradtx.core.hyperparams import HyperParams, hyperparam_dtype
from gradtx.core.lift import per_array
from gradtx.core.numerics import is_trainable, update_number
from gradtx.core.validate import UNIT, UNIT_OPEN, check_bool
from gradtx.wrappers._inner import _INT32_MAX, has_leaves, unaliased

__all__ = [
    "ParamAverageState",
    "LookaheadState",
    "param_ema",
    "polyak_average",
    "lookahead",
]


class ParamAverageState(NamedTuple):
    """The running average of the params (``average``), ready to read."""

    average: Any
    hyperparams: dict[str, Any]


class LookaheadState(NamedTuple):
    """Lookahead's slow weights φ and the fast optimizer's state."""

    slow: Any
    inner_state: Any
    hyperparams: dict[str, Any]


def _copy(params: Any, dtype: Any = None) -> Any:
    """A copy of the params (never the same buffers), floating leaves in ``dtype`` if given.

    Abstract params (``jax.ShapeDtypeStruct``) give zeros on their sharding.
    """
    def copy(p):
        cast = dtype if is_trainable(p) else None
        if isinstance(p, jax.ShapeDtypeStruct):
            return jnp.zeros(p.shape, cast or p.dtype, device=p.sharding)
        return jnp.array(p, dtype=cast)

    return jax.tree.map(copy, params)


def _averaging(owner: str, hyper: HyperParams, weight: Callable[[dict[str, Any], Any], Any],
               accumulator_dtype: Any, uses_step: bool) -> GradientTransformation:
    """A_t = A_{t−1} + w_t (θ_t − A_{t−1}), θ_t = θ_{t−1} + u; the updates pass unchanged.

    ``weight(h, t)`` gives w_t from this step's hyperparameters and t = step + 1
    (``None`` when the transform does not read the step), computed in floating
    point, so it does not wrap when the step saturates at 2³¹ − 1. Leaves that
    are not trained (a non-floating update or param) keep their average.
    """

    def init(params, hyperparams):
        return unaliased(ParamAverageState(_copy(params, accumulator_dtype), hyperparams), params)

    def update(updates, state, params, h, step, **extra):
        expect_params(owner, params, updates)
        if not has_leaves(updates):  # an empty model: nothing to average
            return updates, state
        t = None if step is None else update_number(step, hyperparam_dtype(params))
        w = weight(h, t)

        def rule(u, a, p):
            if not is_trainable(p):  # apply_updates leaves such a param unchanged
                return u, a
            new = (p + u).astype(p.dtype)
            return u, a + w * (new - a)

        updates, average = per_array(rule, updates, state.average, shared=(params,), what=owner)
        return updates, state._replace(average=average)

    return block(owner, ParamAverageState, hyper, init, update, uses_step=uses_step)


def param_ema(
    decay: float | Callable[[Any], Any] = 0.999,
    debias: bool = True,
    accumulator_dtype: Any = None,
) -> GradientTransformation:
    """Exponential moving average of the params, kept in the state.

        A_t = ρ A_{t−1} + (1 − ρ) θ_t                      (debias=False, A_0 = θ_0)
        A_t = Σ_τ (1 − ρ) ρ^{t−τ} θ_τ / (1 − ρ^t)          (debias=True)

    θ_t = θ_{t−1} + u_t are the params after this update. The debiased average
    is stored directly, updated as A_t = A_{t−1} + w_t (θ_t − A_{t−1}) with
    w_t = (1 − ρ)/(1 − ρ^t), so ``state.average`` is always ready to use
    (A_1 = θ_1). Place it last in the chain; the updates pass unchanged.

    Args:
      decay: ρ in [0, 1), or a schedule.
      debias: weight the average as above instead of starting from θ_0.
      accumulator_dtype: storage dtype of A (default: the params').
    """
    owner = "param_ema"
    check_bool(owner, "debias", debias)

    def weight(h, t):
        rho = h["decay"]
        return (1 - rho) / (1 - rho**t) if debias else 1 - rho

    return _averaging(owner, HyperParams(owner, decay=(decay, UNIT_OPEN)), weight,
                      accumulator_dtype, debias)


def polyak_average(accumulator_dtype: Any = None) -> GradientTransformation:
    """Polyak–Ruppert averaging: the running mean of the params, kept in the state.

        A_t = (1/t) Σ_{τ=1..t} θ_τ = A_{t−1} + (θ_t − A_{t−1}) / t

    θ_t are the params after update t (the initial θ_0 is not included).
    Place it last in the chain; the updates pass unchanged.

    Args:
      accumulator_dtype: storage dtype of A (default: the params').
    """
    owner = "polyak_average"

    def weight(h, t):
        del h
        return 1 / t

    return _averaging(owner, HyperParams(owner), weight, accumulator_dtype, True)


def lookahead(
    fast: GradientTransformation,
    sync_period: int = 5,
    slow_step_size: float | Callable[[Any], Any] = 0.5,
) -> GradientTransformation:
    """Lookahead (Zhang et al. 2019): k fast steps forward, one step of size α back.

    The fast optimizer updates the params θ every call. Every k-th call the
    slow weights φ move toward the fast ones and the fast weights restart there:

        θ ← θ + fast(g)                     (every call)
        φ ← φ + α (θ − φ),   θ ← φ          (every k-th call)

    The update emitted on a synchronizing call is φ_new − θ, so the params you
    hold are always θ; read the slow weights from ``state.slow`` (evaluate with
    them). φ_0 = θ_0. The fast optimizer's state is not reset at
    synchronization (as in the paper). Needs the params (unless the updates
    have no leaves: an empty model's update is passed through). Call ``step``
    (0, 1, …) synchronizes when ``step mod k = k − 1``, computed without int32
    overflow. Leaves that are not trained (int, bool or float0) pass the fast
    optimizer's updates through and keep their slow weights.

    Args:
      fast: the inner optimizer (the paper's A).
      sync_period: k in [1, 2³¹ − 1], fast steps per slow step.
      slow_step_size: α in [0, 1], or a schedule.
    """
    owner = "lookahead"
    if isinstance(sync_period, bool) or not isinstance(sync_period, int):
        raise TypeError(f"{owner}: sync_period must be an int, got "
                        f"{type(sync_period).__name__} {sync_period!r}")
    if sync_period < 1:
        raise ValueError(f"{owner}: sync_period must be in [1, inf), got {sync_period!r}")
    if sync_period > _INT32_MAX:
        raise ValueError(f"{owner}: sync_period must be at most 2**31 - 1 (the step counter is "
                         f"int32), got {sync_period!r}")
    part = Part(fast, f"{owner}: fast")
    hyper = HyperParams(owner, slow_step_size=(slow_step_size, UNIT))

    def init(params, hyperparams):
        return unaliased(LookaheadState(_copy(params), part.init(params), hyperparams), params)

    def update(updates, state, params, h, step, **extra):
        expect_params(owner, params, updates)
        updates, inner_state = part.update(updates, state.inner_state, params, step, extra)
        if not has_leaves(updates):  # an empty model: no slow weights to move
            return updates, state._replace(inner_state=inner_state)
        sync = step % sync_period == sync_period - 1  # (step + 1) % k == 0 wraps at 2³¹ − 1
        alpha = h["slow_step_size"]

        def rule(u, phi, p):
            if not is_trainable(p):  # apply_updates leaves such a param unchanged
                return u, phi
            theta = (p + u).astype(p.dtype)
            phi_new = phi + alpha * (theta - phi)
            return jnp.where(sync, phi_new - p, u), jnp.where(sync, phi_new, phi)

        updates, slow = per_array(rule, updates, state.slow, shared=(params,), what=owner)
        return updates, state._replace(slow=slow, inner_state=inner_state)

    return block(owner, LookaheadState, hyper, init, update, uses_step=True)
