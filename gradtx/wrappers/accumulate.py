"""Gradient accumulation: one update from the mean of k micro-batch gradients.

The lecture's batch-size discussion: a batch of k·B examples that does not fit
in memory is processed as k micro-batches of B; the mean of their gradients is
the gradient of the large batch (for a loss that is a mean over examples), so
k accumulation steps followed by one update equal one step at batch k·B.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from gradtx.core.base import GradientTransformation, Part, expect_state
from gradtx.core.lift import per_array
from gradtx.core.numerics import is_trainable, widen
from gradtx.core.tree import tree_zeros_like
from gradtx.wrappers._inner import _INT32_MAX, increment_if, unaliased, zeros_like_output

__all__ = ["AccumulateState", "accumulate_gradients"]


class AccumulateState(NamedTuple):
    """The state of ``accumulate_gradients``.

    ``micro_step`` is the position in the current cycle (0 … k − 1), ``count``
    the number of updates emitted — the inner transform's step, int32,
    saturating at 2³¹ − 1 — and ``grad_sum`` the sum of this cycle's
    micro-batch gradients (for the trained leaves; see ``accumulate_gradients``).
    """

    micro_step: jax.Array
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    grad_sum: Any
    inner_state: Any


def accumulate_gradients(
    inner: GradientTransformation, every_k: int, accumulator_dtype: Any = None
) -> GradientTransformation:
    """Runs ``inner`` once every ``every_k`` calls, on the mean of their gradients.

    For micro-steps j = 1 … k of a cycle:

        S ← S + g_j                          (j < k: emits Δθ = 0)
        Δθ = inner((S + g_k) / k),  S ← 0     (j = k)

    The inner update runs only on the emitting call (a ``lax.cond``), and its
    step is the number of updates emitted so far (``state.count``), so its
    schedules and bias corrections advance once per real update. Between
    emissions the inner state is untouched. The params given on the emitting
    call are those of the whole cycle, since the calls before it emit zeros.

    Leaves whose gradient is not floating (int, bool, or float0 from
    ``jax.grad(..., allow_int=True)``) are not trained: they are not summed
    (their entry of S keeps its initial zeros) and the emitting call hands the
    inner transform that call's gradient for them, unchanged. An empty tree
    (``None``) is accumulated like any other. ``count`` saturates at 2³¹ − 1,
    and a fresh state shares no buffer with the params or with itself (it can
    be donated).

    Args:
      inner: the optimizer (any transform) to run on the mean gradient.
      every_k: k in [1, 2³¹ − 1], the number of micro-batches per update.
      accumulator_dtype: storage dtype of S for the floating params (default:
        the params'); the sums are computed in float32 or wider. float32 is
        advisable for bf16 params. Non-floating params keep their dtype.
    """
    owner = "accumulate_gradients"
    if isinstance(every_k, bool) or not isinstance(every_k, int):
        raise TypeError(f"{owner}: every_k must be an int, got {type(every_k).__name__} "
                        f"{every_k!r}")
    if every_k < 1:
        raise ValueError(f"{owner}: every_k must be in [1, inf), got {every_k!r}")
    if every_k > _INT32_MAX:
        raise ValueError(f"{owner}: every_k must be at most 2**31 - 1 (micro_step is int32), "
                         f"got {every_k!r}")
    part = Part(inner, f"{owner}: inner")

    def init(params):
        grad_sum = jax.tree.map(
            lambda p: tree_zeros_like(p, accumulator_dtype if is_trainable(p) else None), params)
        return unaliased(AccumulateState(
            micro_step=jnp.zeros([], jnp.int32),
            count=jnp.zeros([], jnp.int32),
            grad_sum=grad_sum,
            inner_state=part.init(params),
        ), params)

    def update(updates, state, params=None, **extra):
        expect_state(state, AccumulateState, owner)
        extra.pop("step", None)
        emit = state.micro_step == every_k - 1

        # per_array runs the rules on the trained leaves only: the others pass through.
        def emitting():
            (mean,) = per_array(lambda g, s: ((widen(s) + widen(g)) / every_k,), updates,
                                shared=(state.grad_sum,), what=owner)
            out, inner_state = part.update(mean, state.inner_state, params, state.count, extra)
            return out, tree_zeros_like(state.grad_sum), inner_state

        def accumulating():
            _, grad_sum = per_array(
                lambda g, s: (g, widen(s) + widen(g)), updates, state.grad_sum, what=owner
            )
            zeros = zeros_like_output(lambda: part.update(
                updates, state.inner_state, params, state.count, extra), updates)
            return zeros, grad_sum, state.inner_state

        out, grad_sum, inner_state = lax.cond(emit, emitting, accumulating)
        return out, AccumulateState(
            micro_step=jnp.where(emit, 0, state.micro_step + 1).astype(jnp.int32),
            count=increment_if(emit, state.count),
            grad_sum=grad_sum,
            inner_state=inner_state,
        )

    return GradientTransformation(init, update)
