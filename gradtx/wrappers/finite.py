"""NaN/Inf-safe steps: skip an update whose gradients are not finite."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from gradtx.core.base import GradientTransformation, Part, _increment, expect_state
from gradtx.core.numerics import is_trainable
from gradtx.wrappers._inner import increment_if, unaliased, zeros_like_output

__all__ = ["ApplyIfFiniteState", "apply_if_finite"]


class ApplyIfFiniteState(NamedTuple):
    """The state of ``apply_if_finite``.

    ``notfinite_count``: consecutive calls with non-finite gradients so far;
    ``last_finite``: whether the last call's gradients were finite;
    ``total_notfinite``: all calls with non-finite gradients;
    ``count``: updates the inner transform has applied — its step.
    The three counters are int32 and saturate at 2³¹ − 1.
    """

    notfinite_count: jax.Array
    last_finite: jax.Array
    total_notfinite: jax.Array
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    inner_state: Any


def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: int
) -> GradientTransformation:
    """Runs ``inner`` only when every gradient entry is finite.

    A call whose gradients hold a NaN or an infinity is skipped: it emits
    Δθ = 0 and returns the inner state unchanged, including the inner
    transform's step, so the next applied update is the one ``inner`` would
    have made had the bad batch never arrived. After more than
    ``max_consecutive_errors`` consecutive non-finite calls the update is
    applied anyway (as optax does), so a run that has diverged for good fails
    visibly instead of silently standing still; ``notfinite_count`` resets at
    the next finite call. The inner update runs only when applied (``lax.cond``).

    Only floating and complex leaves are checked: int, bool and float0 leaves
    (``jax.grad(..., allow_int=True)``) are always finite, and a tree without
    floating leaves (an empty model, ``None``) is always applied. The counters
    saturate at 2³¹ − 1 instead of wrapping. A fresh state shares no buffer
    with the params or with itself, so it can be donated.

    Args:
      inner: the optimizer (any transform) to protect.
      max_consecutive_errors: how many consecutive non-finite calls are
        skipped before the updates go through (≥ 0).
    """
    owner = "apply_if_finite"
    if isinstance(max_consecutive_errors, bool) or not isinstance(max_consecutive_errors, int):
        raise TypeError(f"{owner}: max_consecutive_errors must be an int, got "
                        f"{type(max_consecutive_errors).__name__} {max_consecutive_errors!r}")
    if max_consecutive_errors < 0:
        raise ValueError(f"{owner}: max_consecutive_errors must be in [0, inf), "
                         f"got {max_consecutive_errors!r}")
    part = Part(inner, f"{owner}: inner")

    def init(params):
        return unaliased(ApplyIfFiniteState(
            notfinite_count=jnp.zeros([], jnp.int32),
            last_finite=jnp.array(True),
            total_notfinite=jnp.zeros([], jnp.int32),
            count=jnp.zeros([], jnp.int32),
            inner_state=part.init(params),
        ), params)

    def update(updates, state, params=None, **extra):
        expect_state(state, ApplyIfFiniteState, owner)
        extra.pop("step", None)
        finite = jnp.array(True)
        for g in jax.tree.leaves(updates):
            if is_trainable(g):
                finite = finite & jnp.all(jnp.isfinite(g))
        notfinite_count = jnp.where(finite, 0, _increment(state.notfinite_count)).astype(jnp.int32)
        apply = finite | (notfinite_count > max_consecutive_errors)

        def run():
            return part.update(updates, state.inner_state, params, state.count, extra)

        def skip():
            return zeros_like_output(run, updates), state.inner_state

        out, inner_state = lax.cond(apply, run, skip)
        return out, ApplyIfFiniteState(
            notfinite_count=notfinite_count,
            last_finite=finite,
            total_notfinite=increment_if(~finite, state.total_notfinite),
            count=increment_if(apply, state.count),
            inner_state=inner_state,
        )

    return GradientTransformation(init, update)
