"""NaN/Inf-safe steps: skip an update whose gradients are not finite."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from gradtx.core.base import GradientTransformation, Part, expect_state
from gradtx.wrappers._inner import zeros_like_output

__all__ = ["ApplyIfFiniteState", "apply_if_finite"]


class ApplyIfFiniteState(NamedTuple):
    """The state of ``apply_if_finite``.

    ``notfinite_count``: consecutive calls with non-finite gradients so far;
    ``last_finite``: whether the last call's gradients were finite;
    ``total_notfinite``: all calls with non-finite gradients;
    ``count``: updates the inner transform has applied — its step.
    """

    notfinite_count: jax.Array
    last_finite: jax.Array
    total_notfinite: jax.Array
    count: jax.Array
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
        zero = jnp.zeros([], jnp.int32)
        return ApplyIfFiniteState(zero, jnp.array(True), zero, zero, part.init(params))

    def update(updates, state, params=None, **extra):
        expect_state(state, ApplyIfFiniteState, owner)
        extra.pop("step", None)
        finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(updates)]))
        notfinite_count = jnp.where(finite, 0, state.notfinite_count + 1).astype(jnp.int32)
        apply = finite | (notfinite_count > max_consecutive_errors)

        def run():
            return part.update(updates, state.inner_state, params, state.count, extra)

        def skip():
            return zeros_like_output(run, updates), state.inner_state

        out, inner_state = lax.cond(apply, run, skip)
        return out, ApplyIfFiniteState(
            notfinite_count=notfinite_count,
            last_finite=finite,
            total_notfinite=(state.total_notfinite + ~finite).astype(jnp.int32),
            count=(state.count + apply).astype(jnp.int32),
            inner_state=inner_state,
        )

    return GradientTransformation(init, update)
