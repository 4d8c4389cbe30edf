"""Helpers for wrappers that skip their inner transform on some steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from gradtx.core.tree import tree_zeros_like

__all__ = ["zeros_like_output"]


def zeros_like_output(fn: Callable[[], tuple[Any, Any]], updates: Any) -> Any:
    """Zeros in the dtypes of the updates ``fn()`` would return, without running it.

    The branch of a ``lax.cond`` that skips the inner update returns these;
    they are computed from ``updates`` (of the same structure and shapes), so
    they are sharded like them.
    """
    dtypes = jax.tree.map(lambda s: s.dtype, jax.eval_shape(fn)[0])
    return jax.tree.map(lambda u, dtype: tree_zeros_like(u, dtype), updates, dtypes)
