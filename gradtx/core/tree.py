"""Tree helpers built on :mod:`jax.tree_util`, and the structure checks used everywhere."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import keystr, tree_flatten_with_path

from gradtx.core.numerics import abs_sq, is_trainable, real_dtype, second_moment_dtype

PyTree = Any

__all__ = [
    "check_same_structure",
    "tree_global_norm",
    "tree_sum_of_squares",
    "tree_zeros_like",
    "tree_full_like",
    "tree_moment_zeros",
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
    """Σ_i ‖x_i‖² over the floating and complex leaves (|x|² for complex), in float32 or wider.

    Integer, bool and float0 leaves (not trained) are left out.
    """
    leaves = [jnp.asarray(x) for x in jax.tree.leaves(tree) if is_trainable(x)]
    if not leaves:
        return jnp.zeros((), jnp.float32)
    acc_dtype = real_dtype(jnp.promote_types(jnp.float32, jnp.result_type(*leaves)))
    return sum(jnp.sum(abs_sq(x).astype(acc_dtype)) for x in leaves)


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
    (with non-finite values mapped to 0) inherits x's sharding instead. An
    abstract leaf (``jax.ShapeDtypeStruct``) gives a new array on its sharding.
    """
    if isinstance(x, jax.ShapeDtypeStruct):
        return jnp.full(x.shape, value, dtype or x.dtype, device=x.sharding)
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        if x.dtype == jax.dtypes.float0:
            return np.zeros(x.shape, jax.dtypes.float0)
        return jnp.full_like(x, value, dtype=dtype)
    target = np.dtype(dtype or x.dtype)
    zeros = jnp.nan_to_num(x * 0, nan=0.0, posinf=0.0, neginf=0.0) + 0.0  # + 0.0 turns -0 into 0
    if jnp.iscomplexobj(zeros) and not jnp.issubdtype(target, jnp.complexfloating):
        zeros = jnp.real(zeros)
    return (zeros.astype(target) + value).astype(target)


def tree_zeros_like(tree: PyTree, dtype: Any = None) -> PyTree:
    """Zeros shaped (and sharded) like every leaf of ``tree`` (optionally in ``dtype``)."""
    return jax.tree.map(lambda x: _full_following(x, 0, dtype), tree)


def tree_full_like(tree: PyTree, value: Any, dtype: Any = None, *, moment: bool = False
                   ) -> PyTree:
    """``value`` broadcast to every leaf of ``tree``, sharded like it (optionally in ``dtype``).

    With ``moment=True`` each leaf gets the storage dtype of a second moment of
    that leaf (:func:`gradtx.core.numerics.second_moment_dtype`: float32 for
    float16 leaves, the real dtype for complex ones; ``dtype`` overrides it).
    """
    if not moment:
        return jax.tree.map(lambda x: _full_following(x, value, dtype), tree)

    def fill(x):
        if not is_trainable(x):
            return _full_following(x, value, None)
        return _full_following(x, value, second_moment_dtype(_dtype(x), dtype))

    return jax.tree.map(fill, tree)


def tree_moment_zeros(tree: PyTree, dtype: Any = None) -> PyTree:
    """Zeros for a second-moment statistic of every leaf (see :func:`tree_full_like`)."""
    return tree_full_like(tree, 0, dtype, moment=True)


def _dtype(x: Any) -> Any:
    return x.dtype if hasattr(x, "dtype") else jnp.result_type(x)


def tree_cast(tree: PyTree, dtype: Any) -> PyTree:
    """Every leaf cast to ``dtype``; ``None`` leaves stay ``None``."""
    return jax.tree.map(lambda x: x.astype(dtype), tree)
