"""The one place where per-array rules are lifted to pytrees.

Every elementwise formula in gradtx is written for a single array, as the paper
writes it, and handed to :func:`per_array`. Keeping the lifting here means a
different execution strategy (flat or bucketed buffers) can be swapped in by
changing this file alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.core.numerics import is_trainable
from gradtx.core.tree import check_same_structure

PyTree = Any

__all__ = ["per_array"]


def per_array(
    rule: Callable[..., tuple[jax.Array, ...]],
    updates: PyTree,
    *trees: PyTree,
    what: str,
    shared: tuple[PyTree, ...] = (),
) -> tuple[PyTree, ...]:
    """Applies ``rule(u, *leaves) -> (u', *leaves')`` leaf by leaf.

    Args:
      rule: a function of one update array and the matching leaf of each tree
        in ``trees`` (and of each tree in ``shared``, appended after them); it
        returns the new update followed by the new value of each tree in
        ``trees`` (``shared`` trees are read only, for example the params).
      updates: the incoming updates.
      trees: per-parameter state trees, each of the same structure as ``updates``.
      what: the caller's name, used in structure-mismatch errors.
      shared: read-only trees of the same structure (for example the params).

    Returns:
      ``(new_updates, *new_trees)``; each output leaf keeps the dtype of the
      matching input leaf, while the rule itself may compute in a wider dtype.

    Leaves whose update is not floating or complex (int, bool, or the float0
    gradients of ``jax.grad(..., allow_int=True)``) are not trained: the rule is
    not run for them, and their update and state pass through unchanged
    (``apply_updates`` leaves such params as they are). Python scalars are
    read as arrays.
    """
    for tree in trees:
        check_same_structure(tree, updates, what=f"{what}: gradient tree", expected_name="state")
    for tree in shared:
        check_same_structure(
            tree, updates, what=f"{what}: gradient tree", expected_name="params", check_shapes=False
        )
    treedef = jax.tree.structure(updates)
    flat_u = treedef.flatten_up_to(updates)
    flat_trees = [treedef.flatten_up_to(t) for t in trees]
    flat_shared = [treedef.flatten_up_to(t) for t in shared]
    n_out = 1 + len(trees)
    outs: list[list[jax.Array]] = [[] for _ in range(n_out)]
    for i, u in enumerate(flat_u):
        ins = tuple(_as_array(x) for x in (u, *(t[i] for t in flat_trees)))
        if not is_trainable(ins[0]):
            for k, old in enumerate(ins):
                outs[k].append(old)
            continue
        res = rule(*ins, *(_as_array(s[i]) for s in flat_shared))
        if len(res) != n_out:
            raise TypeError(f"{what}: per-array rule returned {len(res)} values, expected {n_out}")
        for k, (new, old) in enumerate(zip(res, ins, strict=True)):
            outs[k].append(new.astype(old.dtype))
    return tuple(treedef.unflatten(o) for o in outs)


def _as_array(x: Any) -> Any:
    return x if hasattr(x, "dtype") else jnp.asarray(x)
