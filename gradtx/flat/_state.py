"""Optimizer states between the flat path and the per-leaf path (checkpoints resume either way)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.flat._layout import Layout, _ravel
from gradtx.flat._params import FlatParams

PyTree = Any

__all__ = ["state_from_tree", "state_to_tree"]


def _layout_of(flat: FlatParams | Layout, owner: str) -> Layout:
    if isinstance(flat, FlatParams):
        return flat.layout
    if isinstance(flat, Layout):
        return flat
    raise TypeError(f"{owner}: flat must be a FlatParams or a Layout, got {type(flat).__name__}")


def state_to_tree(state: PyTree, flat: FlatParams | Layout) -> PyTree:
    """``state`` with every ``FlatParams`` of ``flat``'s layout replaced by its unravelled tree.

    The result is the state the per-leaf path keeps (for example
    ``adam.init(flat.unravel())``'s): NamedTuples, dicts and tuples are walked
    and kept; ``FlatParams`` of other layouts and all other leaves are left
    as they are. A buffer held in another dtype than the layout's (a state kept
    in ``bfloat16``) gives leaves in that dtype.
    """
    layout = _layout_of(flat, "state_to_tree")

    def is_ours(x: Any) -> bool:
        return isinstance(x, FlatParams) and x.layout == layout

    return jax.tree.map(lambda x: x.unravel() if is_ours(x) else x, state, is_leaf=is_ours)


def state_from_tree(state: PyTree, flat: FlatParams | Layout) -> PyTree:
    """``state`` with every params-shaped subtree replaced by ``ravel(subtree, like=flat)``.

    The inverse of [`state_to_tree`][gradtx.flat.state_to_tree]: a subtree is replaced when its
    structure is the params tree's and its leaves have the params' shapes and,
    bucket by bucket, either the params' dtypes or one floating dtype shared
    by the whole bucket (a state kept in ``bfloat16``: its buffers take that
    dtype). Other subtrees, including ``FlatParams``, are left as they are; a
    params-shaped floating subtree whose dtypes differ within one bucket raises
    ``ValueError`` naming the leaf, as it cannot be held flat.
    """
    layout = _layout_of(flat, "state_from_tree")

    def is_params_like(x: Any) -> bool:
        if isinstance(x, FlatParams) or jax.tree.structure(x) != layout.treedef:
            return False
        leaves = layout.treedef.flatten_up_to(x)
        return all(
            tuple(jnp.shape(v)) == leaf.shape and _compatible(np.dtype(jnp.result_type(v)), leaf)
            for v, leaf in zip(leaves, layout.leaves, strict=True)
        )

    def convert(x: Any) -> Any:
        if not is_params_like(x):
            return x
        leaves = layout.treedef.flatten_up_to(x)
        for b, bucket in enumerate(layout.buckets):
            first = np.dtype(jnp.result_type(leaves[bucket.leaves[0]]))
            for i in bucket.leaves[1:]:
                if np.dtype(jnp.result_type(leaves[i])) != first:
                    raise ValueError(
                        f"state_from_tree: a params-shaped state subtree holds "
                        f"{jnp.result_type(leaves[i])} at {layout.leaves[i].name} but {first} at "
                        f"{layout.leaves[bucket.leaves[0]].name}, in the same bucket {b}; "
                        "a bucket's buffer holds one dtype")
        return FlatParams(_ravel(layout, tuple(leaves)), layout)

    return jax.tree.map(convert, state, is_leaf=is_params_like)


def _compatible(dtype: np.dtype, leaf: Any) -> bool:
    """The leaf's own dtype, or a floating dtype in place of a floating one."""
    if dtype == leaf.dtype:
        return True
    return bool(jnp.issubdtype(dtype, jnp.floating) and jnp.issubdtype(leaf.dtype, jnp.floating))
