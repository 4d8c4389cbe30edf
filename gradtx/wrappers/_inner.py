"""Helpers shared by the wrappers: skipped inner updates, fresh states, saturating counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.core.base import _increment
from gradtx.core.tree import on_params_mesh, tree_zeros_like

__all__ = ["has_leaves", "increment_if", "unaliased", "zeros_like_output"]

_INT32_MAX = 2**31 - 1  # the largest value of the int32 counters


def has_leaves(tree: Any) -> bool:
    """False for an empty tree (``None``, ``{}``, a tree of ``None``/``MaskedNode`` only)."""
    return bool(jax.tree.leaves(tree))


def increment_if(condition: Any, count: jax.Array) -> jax.Array:
    """``count + 1`` where ``condition`` holds, else ``count``; saturates at 2³¹ − 1 (int32)."""
    return jnp.where(condition, _increment(count), count).astype(jnp.int32)


def _zeros(u: Any, out: jax.ShapeDtypeStruct) -> Any:
    if out.dtype == jax.dtypes.float0:
        return np.zeros(out.shape, jax.dtypes.float0)
    if getattr(u, "dtype", None) == jax.dtypes.float0:
        return jnp.zeros(out.shape, out.dtype)  # nothing to follow the sharding of
    return tree_zeros_like(u, out.dtype)


def zeros_like_output(fn: Callable[[], tuple[Any, Any]], updates: Any) -> Any:
    """Zeros in the dtypes of the updates ``fn()`` would return, without running it.

    The branch of a ``lax.cond`` that skips the inner update returns these;
    they are computed from ``updates`` (of the same structure and shapes), so
    they are sharded like them. A float0 output gets a NumPy float0 array
    (``np.zeros(shape, float0)``, as ``jax.grad(..., allow_int=True)`` makes);
    int and bool outputs get zeros (``False``) of their dtype.
    """
    outs = jax.eval_shape(fn)[0]
    return jax.tree.map(_zeros, updates, outs)


def _buffers(leaf: Any) -> set[Any]:
    """The device buffers behind a concrete array leaf (one per addressable shard)."""
    if not isinstance(leaf, jax.Array) or isinstance(leaf, jax.core.Tracer):
        return set()  # under tracing no buffer exists yet: jit outputs are always fresh
    try:
        return {shard.data.unsafe_buffer_pointer() for shard in leaf.addressable_shards}
    except Exception:  # a deleted or otherwise unusual array: fall back to its identity
        return {("id", id(leaf))}


def unaliased(state: Any, params: Any) -> Any:
    """``state`` with no two leaves on one buffer and no leaf on a buffer of ``params``.

    Every array leaf that shares a device buffer with an earlier leaf of
    ``state`` or with a leaf of ``params`` is replaced by a copy (with the same
    sharding), so the state can be donated (``jax.jit(..., donate_argnums=...)``),
    with or without the params. Other leaves are returned as they are: a state
    that aliases nothing costs nothing.
    On params sharded on a mesh, leaves held elsewhere (the wrapper's counters)
    are put on it, replicated (``gradtx.core.tree.on_params_mesh``).
    """
    seen: set[Any] = set()
    for leaf in jax.tree.leaves(params):
        seen |= _buffers(leaf)

    def fresh(leaf: Any) -> Any:
        buffers = _buffers(leaf)
        if buffers & seen:
            leaf = leaf.copy()
            buffers = _buffers(leaf)
        seen.update(buffers)
        return leaf

    return on_params_mesh(jax.tree.map(fresh, state), params)
