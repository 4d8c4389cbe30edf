"""Tree helpers built on :mod:`jax.tree_util`, and the structure checks used everywhere."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.tree_util import keystr, tree_flatten_with_path

PyTree = Any

__all__ = [
    "check_same_structure",
    "tree_global_norm",
    "tree_sum_of_squares",
    "tree_zeros_like",
    "tree_full_like",
    "tree_cast",
    "tree_vdot",
]


def check_same_structure(
    expected: PyTree,
    received: PyTree,
    *,
    what: str,
    expected_name: str = "expected",
    check_shapes: bool = True,
) -> None:
    """Raises ``ValueError`` naming the first key path where two trees differ.

    The trees must have the same structure and (if ``check_shapes``), leaf by
    leaf, the same shape.
    ``what`` names the caller (for example ``"scale_by_adam: gradient tree"``).
    """
    if jax.tree.structure(expected) == jax.tree.structure(received):
        if not check_shapes:
            return
        rec_leaves = jax.tree.leaves(received)
        for (path, a), b in zip(tree_flatten_with_path(expected)[0], rec_leaves, strict=True):
            if jnp.shape(a) != jnp.shape(b):
                raise ValueError(
                    f"{what} does not match the {expected_name} tree at "
                    f"{keystr(path) or '<root>'}: expected shape {jnp.shape(a)}, got {jnp.shape(b)}"
                )
        return
    exp = tree_flatten_with_path(expected)[0]
    rec = tree_flatten_with_path(received)[0]
    for (pa, _), (pb, _) in zip(exp, rec, strict=False):
        if pa != pb:
            raise ValueError(
                f"{what} does not match the {expected_name} tree: first difference at "
                f"{keystr(pa) or '<root>'} (expected) vs {keystr(pb) or '<root>'} (received)"
            )
    if len(exp) != len(rec):
        longer, name = (exp, "expected") if len(exp) > len(rec) else (rec, "received")
        path = longer[min(len(exp), len(rec))][0]
        raise ValueError(
            f"{what} does not match the {expected_name} tree: "
            f"{keystr(path) or '<root>'} is only in the {name} tree"
        )
    raise ValueError(
        f"{what} does not match the {expected_name} tree: same leaves but different node types "
        f"({jax.tree.structure(expected)} vs {jax.tree.structure(received)})"
    )


def tree_sum_of_squares(tree: PyTree) -> jax.Array:
    """Σ_i ‖x_i‖², accumulated in float32 or wider."""
    leaves = [x for x in jax.tree.leaves(tree) if x is not None]
    if not leaves:
        return jnp.zeros((), jnp.float32)
    acc_dtype = jnp.promote_types(jnp.float32, jnp.result_type(*leaves))
    return sum(jnp.sum(jnp.square(x.astype(acc_dtype))) for x in leaves)


def tree_global_norm(tree: PyTree) -> jax.Array:
    """The global L2 norm √(Σ_i ‖x_i‖²) of all leaves of ``tree``."""
    return jnp.sqrt(tree_sum_of_squares(tree))


def tree_vdot(a: PyTree, b: PyTree) -> jax.Array:
    """Σ_i ⟨a_i, b_i⟩ over matching leaves."""
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def _full_following(x: Any, value: Any, dtype: Any) -> jax.Array:
    """``value`` shaped like ``x``, computed from ``x`` so that the result follows x's sharding.

    A constant broadcast (``jnp.zeros_like``) has no data dependence on ``x``, so
    under ``jit`` on a mesh with automatic axes XLA replicates it; ``x · 0``
    (with non-finite values mapped to 0) inherits x's sharding instead.
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        return jnp.full_like(x, value, dtype=dtype)
    zeros = jnp.nan_to_num(x * 0, nan=0.0, posinf=0.0, neginf=0.0) + 0.0  # + 0.0 turns -0 into 0
    return (zeros.astype(dtype or x.dtype) + value).astype(dtype or x.dtype)


def tree_zeros_like(tree: PyTree, dtype: Any = None) -> PyTree:
    """Zeros shaped (and sharded) like every leaf of ``tree`` (optionally in ``dtype``)."""
    return jax.tree.map(lambda x: _full_following(x, 0, dtype), tree)


def tree_full_like(tree: PyTree, value: Any, dtype: Any = None) -> PyTree:
    """``value`` broadcast to every leaf of ``tree``, sharded like it (optionally in ``dtype``)."""
    return jax.tree.map(lambda x: _full_following(x, value, dtype), tree)


def tree_cast(tree: PyTree, dtype: Any) -> PyTree:
    """Every leaf cast to ``dtype``; ``None`` leaves stay ``None``."""
    return jax.tree.map(lambda x: x.astype(dtype), tree)
