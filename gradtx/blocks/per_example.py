"""Per-example gradient clipping, the first step of differentially private SGD.

The gradients carry a leading batch axis: leaf ℓ of example i is g_{i,ℓ} (its first axis
indexes the examples). Clipping example i to a norm C multiplies it by

    m_i = min(1, C / ‖g_i‖)      (m_i = 1 where ‖g_i‖ ≤ C, so 0 / 0 does not occur)

and the examples are then summed, Σ_i m_i g_i (Abadi et al. 2016). These are functions
of the per-example gradients (from ``jax.vmap(jax.grad(loss))``), not transforms: the
clipped sum is what a private optimizer then noises and averages. For complex leaves
‖·‖² sums |g|².
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.core.numerics import abs_sq
from gradtx.core.validate import check_bool, check_interval

__all__ = ["per_example_global_norm_clip", "per_example_layer_norm_clip"]


def _check_batched(owner: str, grads: Any) -> list[jax.Array]:
    leaves = [jnp.asarray(g) for g in jax.tree.leaves(grads)]
    sizes = {g.shape[0] if g.ndim else None for g in leaves}
    if not leaves or None in sizes or len(sizes) != 1:
        shapes = jax.tree.map(jnp.shape, grads)
        raise ValueError(f"{owner}: grads must have one leading batch axis of the same size "
                         f"on every leaf (the examples), got shapes {shapes}")
    return leaves


def _squared_norms(g: jax.Array) -> jax.Array:
    """‖g_i‖² of each example i of one leaf (summed over all axes but the first)."""
    return jnp.sum(abs_sq(g).reshape(g.shape[0], -1), axis=1)


def _clipped_sum(leaves: list[jax.Array], clip: Any) -> tuple[list[jax.Array], jax.Array]:
    norms = jnp.sqrt(sum(_squared_norms(g) for g in leaves))
    clip = jnp.asarray(clip, norms.dtype)
    scale = jnp.where(norms > clip, clip / jnp.where(norms > clip, norms, 1), 1)
    clipped = [jnp.tensordot(scale.astype(g.dtype), g, axes=1) for g in leaves]
    return clipped, jnp.sum(norms > clip)


def per_example_global_norm_clip(grads: Any, l2_norm_clip: float) -> tuple[Any, jax.Array]:
    """Σ_i min(1, C / ‖g_i‖) g_i, with ‖g_i‖ the norm of example i over the whole tree.

    Args:
      grads: per-example gradients, every leaf with the examples on its first axis.
      l2_norm_clip: C ≥ 0.

    Returns:
      ``(clipped_sum, num_clipped)``: the tree of summed clipped gradients (the batch
      axis summed out) and the number of examples with ‖g_i‖ > C.
    """
    owner = "per_example_global_norm_clip"
    check_interval(owner, "l2_norm_clip", l2_norm_clip, low=0.0, allow_schedule=False)
    leaves = _check_batched(owner, grads)
    clipped, num_clipped = _clipped_sum(leaves, l2_norm_clip)
    return jax.tree.unflatten(jax.tree.structure(grads), clipped), num_clipped


def per_example_layer_norm_clip(
    grads: Any, global_l2_norm_clip: float, uniform: bool = True
) -> tuple[Any, Any]:
    """Each leaf ℓ (layer) clipped on its own: Σ_i min(1, C_ℓ / ‖g_{i,ℓ}‖) g_{i,ℓ}.

    With L leaves, D_ℓ entries per example in leaf ℓ and D = Σ_ℓ D_ℓ:
    C_ℓ = C / √L (``uniform``) or C √(D_ℓ / D), so that Σ_ℓ C_ℓ² = C² either way
    (McMahan et al. 2018). With one leaf this is
    [`per_example_global_norm_clip`][gradtx.per_example_global_norm_clip].

    Args:
      grads: per-example gradients, every leaf with the examples on its first axis.
      global_l2_norm_clip: C ≥ 0.
      uniform: the same C_ℓ for every leaf, else C_ℓ ∝ √D_ℓ.

    Returns:
      ``(clipped_sum, num_clipped)``: trees of the summed clipped gradients and of the
      number of examples clipped in each leaf.
    """
    owner = "per_example_layer_norm_clip"
    check_interval(owner, "global_l2_norm_clip", global_l2_norm_clip, low=0.0,
                   allow_schedule=False)
    check_bool(owner, "uniform", uniform)
    return _layer_clipped_sums(grads, _check_batched(owner, grads), global_l2_norm_clip,
                               uniform)


def _layer_clipped_sums(grads: Any, leaves: list[jax.Array], clip: Any, uniform: bool
                        ) -> tuple[Any, Any]:
    """``per_example_layer_norm_clip`` of ``leaves`` (the leaves of ``grads``), unchecked."""
    sizes = [g[0].size for g in leaves]
    total = sum(sizes)
    out = [_clipped_sum([g], clip * ((1 / len(leaves)) if uniform else (d / total)) ** 0.5)
           for g, d in zip(leaves, sizes, strict=True)]
    treedef = jax.tree.structure(grads)
    return (jax.tree.unflatten(treedef, [s[0] for s, _ in out]),
            jax.tree.unflatten(treedef, [n for _, n in out]))
