"""Averages of the params: EMA, Polyak averaging, and lookahead.

These average the **params** θ_t, not the updates (for a moving average of
the updates, the momentum M_t, see :func:`gradtx.ema`).

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

from gradtx.core.base import GradientTransformation, Part
from gradtx.core.block import block
from gradtx.core.hyperparams import HyperParams, hyperparam_dtype
from gradtx.core.lift import per_array
from gradtx.core.validate import check_bool, check_interval

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
    return jax.tree.map(lambda p: jnp.array(p, dtype=dtype), params)


def _needs_params(owner: str, params: Any) -> None:
    if params is None:
        raise ValueError(f"{owner}: needs the params; call update(updates, state, params)")


def _averaging(owner: str, hyper: HyperParams, weight: Callable[[dict, Any], Any],
               accumulator_dtype: Any, uses_step: bool) -> GradientTransformation:
    """A_t = A_{t−1} + w_t (θ_t − A_{t−1}), θ_t = θ_{t−1} + u; the updates pass unchanged.

    ``weight(h, t)`` gives w_t from this step's hyperparameters and t = step + 1
    (``None`` when the transform does not read the step).
    """

    def init(params, hyperparams):
        return ParamAverageState(_copy(params, accumulator_dtype), hyperparams)

    def update(updates, state, params, h, step, **extra):
        _needs_params(owner, params)
        t = None if step is None else (step + 1).astype(hyperparam_dtype(params))
        w = weight(h, t)

        def rule(u, a, p):
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
    check_interval(owner, "decay", decay, low=0.0, high=1.0, high_open=True)
    check_bool(owner, "debias", debias)

    def weight(h, t):
        rho = h["decay"]
        return (1 - rho) / (1 - rho**t) if debias else 1 - rho

    return _averaging(owner, HyperParams(owner, decay=decay), weight, accumulator_dtype, debias)


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
    synchronization (as in the paper). Needs the params.

    Args:
      fast: the inner optimizer (the paper's A).
      sync_period: k ≥ 1, fast steps per slow step.
      slow_step_size: α in [0, 1], or a schedule.
    """
    owner = "lookahead"
    if isinstance(sync_period, bool) or not isinstance(sync_period, int):
        raise TypeError(f"{owner}: sync_period must be an int, got "
                        f"{type(sync_period).__name__} {sync_period!r}")
    if sync_period < 1:
        raise ValueError(f"{owner}: sync_period must be in [1, inf), got {sync_period!r}")
    check_interval(owner, "slow_step_size", slow_step_size, low=0.0, high=1.0)
    part = Part(fast, f"{owner}: fast")
    hyper = HyperParams(owner, slow_step_size=slow_step_size)

    def init(params, hyperparams):
        return LookaheadState(_copy(params), part.init(params), hyperparams)

    def update(updates, state, params, h, step, **extra):
        _needs_params(owner, params)
        updates, inner_state = part.update(updates, state.inner_state, params, step, extra)
        sync = (step + 1) % sync_period == 0
        alpha = h["slow_step_size"]

        def rule(u, phi, p):
            theta = (p + u).astype(p.dtype)
            phi_new = phi + alpha * (theta - phi)
            return jnp.where(sync, phi_new - p, u), jnp.where(sync, phi_new, phi)

        updates, slow = per_array(rule, updates, state.slow, shared=(params,), what=owner)
        return updates, state._replace(slow=slow, inner_state=inner_state)

    return block(owner, LookaheadState, hyper, init, update, uses_step=True)
