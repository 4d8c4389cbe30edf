"""optax 0.2.8's per-example clipping: gradtx's (``gradtx.blocks.per_example``) with optax's
domain. A clip norm of ∞ is accepted (nothing is clipped: the examples are summed), and
integer gradients are summed in floating point (optax's multipliers are floats, so its
sums are); gradtx's own functions take finite norms and keep each leaf's dtype."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.blocks.per_example import _check_batched, _clipped_sum, _layer_clipped_sums
from gradtx.core.validate import _is_traced, check_bool, check_interval, check_number

__all__ = ["per_example_global_norm_clip", "per_example_layer_norm_clip"]


def _check_clip(owner: str, name: str, value: Any) -> None:
    """C ≥ 0, where optax's ∞ (clip nothing) is allowed."""
    check_number(owner, name, value, allow_schedule=False)
    if not _is_traced(value) and float(value) == math.inf:
        return
    check_interval(owner, name, value, low=0.0, allow_schedule=False)


def _floating(g: jax.Array) -> jax.Array:
    """An integer or bool leaf in the dtype optax's float multipliers promote it to."""
    if jnp.issubdtype(g.dtype, jnp.inexact):
        return g
    return g.astype(jnp.result_type(g.dtype, jnp.result_type(float)))


def per_example_global_norm_clip(grads: Any, l2_norm_clip: float) -> tuple[Any, jax.Array]:
    """optax.per_example_global_norm_clip: Σ_i min(1, C / ‖g_i‖) g_i, ‖g_i‖ the norm of
    example i (the first axis of every leaf) over the whole tree; C ≥ 0, ∞ included.

    Returns ``(clipped_sum, num_clipped)``, the number of examples with ‖g_i‖ > C.
    """
    owner = "per_example_global_norm_clip"
    _check_clip(owner, "l2_norm_clip", l2_norm_clip)
    leaves = [_floating(g) for g in _check_batched(owner, grads)]
    clipped, num_clipped = _clipped_sum(leaves, l2_norm_clip)
    return jax.tree.unflatten(jax.tree.structure(grads), clipped), num_clipped


def per_example_layer_norm_clip(
    grads: Any, global_l2_norm_clip: float, uniform: bool = True
) -> tuple[Any, Any]:
    """optax.per_example_layer_norm_clip: each leaf ℓ clipped on its own to
    C_ℓ = C / √L (``uniform``, L leaves) or C √(D_ℓ / D) (D_ℓ entries per example of leaf ℓ,
    D their sum); C ≥ 0, ∞ included.

    Returns ``(clipped_sum, num_clipped)``, trees of the summed clipped gradients and of
    the number of examples clipped in each leaf.
    """
    owner = "per_example_layer_norm_clip"
    _check_clip(owner, "global_l2_norm_clip", global_l2_norm_clip)
    check_bool(owner, "uniform", uniform)
    leaves = [_floating(g) for g in _check_batched(owner, grads)]
    return _layer_clipped_sums(grads, leaves, global_l2_norm_clip, uniform)
