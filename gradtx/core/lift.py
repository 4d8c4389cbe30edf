"""The one place where per-array rules are lifted to pytrees.

Every elementwise formula in gradtx is written for a single array, as the paper
writes it, and handed to ``per_array``. Keeping the lifting here means a
different execution strategy (flat or bucketed buffers) can be swapped in by
changing this file alone.

Three liftings, by what a rule needs of its array:

* ``per_array`` — elementwise rules. On a tree they run once per leaf; on a
  [`FlatParams`][gradtx.flat.FlatParams] (whose pytree leaves are its bucket buffers)
  once per bucket, so the state made from flat params is flat too.
* ``per_array(..., blocks=True)`` — rules that also reduce over their array
  (a layer's norm or RMS: trust ratios, block clipping). The rule gets a
  ``Blocks`` whose ``sum`` is the sum over the array for a leaf, and a
  segment sum over each leaf of a bucket (one reduction per bucket) for flat params.
* ``per_leaf`` — rules that need the array's own shape (Adafactor's
  factored moments, Muon's matrices). On flat params they run on per-leaf views
  of the buckets and their results are written back into the layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import PyTreeDef

from gradtx.core.numerics import is_trainable
from gradtx.core.subsets import from_leaves
from gradtx.core.tree import check_same_structure
from gradtx.flat._params import FlatParams

PyTree = Any

__all__ = ["Blocks", "leaf_structs", "leaf_tree", "per_array", "per_leaf"]


class Blocks:
    """Reductions over the blocks (layers) of one array handed to a rule.

    For a leaf the array is one block; for a bucket of flat params each leaf's
    range is a block (padding is a block of its own, of zeros). ``sum(x)`` and
    ``count`` are broadcastable against the array: per element, the sum of ``x``
    over its block and the number of entries of its block.
    """

    def __init__(self, size: int, segment_ids: Any = None):
        self._ids = segment_ids
        if segment_ids is None:
            self.count: Any = size
        else:
            n = int(segment_ids.max()) + 1 if segment_ids.size else 1
            self._n = n
            self.count = jnp.asarray(np.bincount(segment_ids, minlength=n)[segment_ids])

    def sum(self, x: jax.Array) -> jax.Array:
        if self._ids is None:
            return jnp.sum(x)
        ids = jnp.asarray(self._ids)

        def segment_sums(v):
            return jax.ops.segment_sum(v, ids, num_segments=self._n)[ids]

        spec = jax.typeof(x).sharding.spec
        if any(entry is not None for entry in spec):
            # Explicitly sharded (a ZeRO-sharded state buffer): the scatter has no explicit
            # sharding rule, so GSPMD places it and the result keeps x's sharding.
            return jax.sharding.auto_axes(segment_sums, out_sharding=spec)(x)
        return segment_sums(x)

    def mean(self, x: jax.Array) -> jax.Array:
        return self.sum(x) / self.count


def leaf_structs(tree: PyTree) -> PyTree:
    """The per-leaf shapes behind ``tree``: ``ShapeDtypeStruct`` leaves for flat params."""
    if not isinstance(tree, FlatParams):
        return tree
    return tree.layout.treedef.unflatten(
        [jax.ShapeDtypeStruct(leaf.shape, leaf.dtype) for leaf in tree.layout.leaves])


def leaf_tree(tree: PyTree) -> PyTree:
    """The per-leaf tree behind ``tree``: ``tree.unravel()`` for flat params, else ``tree``."""
    return tree.unravel() if isinstance(tree, FlatParams) else tree


def per_array(
    rule: Callable[..., tuple[jax.Array, ...]],
    updates: PyTree,
    *trees: PyTree,
    what: str,
    shared: tuple[PyTree, ...] = (),
    blocks: bool = False,
) -> tuple[PyTree, ...]:
    """Applies ``rule(u, *leaves) -> (u', *leaves')`` leaf by leaf (bucket by bucket).

    Args:
      rule: a function of one update array and the matching leaf of each tree
        in ``trees`` (and of each tree in ``shared``, appended after them); it
        returns the new update followed by the new value of each tree in
        ``trees`` (``shared`` trees are read only, for example the params).
      updates: the incoming updates.
      trees: per-parameter state trees, each of the same structure as ``updates``.
      what: the caller's name, used in structure-mismatch errors.
      shared: read-only trees of the same structure (for example the params).
      blocks: pass the rule a final argument, the ``Blocks`` of its array.

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
    treedef: PyTreeDef = jax.tree.structure(updates)
    layout = updates.layout if isinstance(updates, FlatParams) else None
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
        extra_args = tuple(_as_array(s[i]) for s in flat_shared)
        if blocks:
            ids = None if layout is None else layout.segment_ids(i)
            extra_args = (*extra_args, Blocks(ins[0].size, ids))
        res = rule(*ins, *extra_args)
        if len(res) != n_out:
            raise TypeError(f"{what}: per-array rule returned {len(res)} values, expected {n_out}")
        for k, (new, old) in enumerate(zip(res, ins, strict=True)):
            outs[k].append(new.astype(old.dtype))
    return tuple(treedef.unflatten(o) for o in outs)


def per_leaf(
    rule: Callable[..., tuple[jax.Array, ...]],
    updates: PyTree,
    *trees: PyTree,
    what: str,
    shared: tuple[PyTree, ...] = (),
) -> tuple[PyTree, ...]:
    """``per_array`` for rules that need each leaf whole, with its shape.

    Trees are used as they are; [`FlatParams`][gradtx.flat.FlatParams] among the
    arguments are viewed as their per-leaf trees (``unravel``), the rule runs leaf
    by leaf, and outputs whose input was flat are written back into its layout.
    """
    if not any(isinstance(t, FlatParams) for t in (updates, *trees, *shared)):
        return per_array(rule, updates, *trees, what=what, shared=shared)
    ins = (updates, *trees)
    outs = per_array(rule, leaf_tree(updates), *map(leaf_tree, trees), what=what,
                     shared=tuple(map(leaf_tree, shared)))
    return tuple(
        from_leaves(i.layout, i.layout.treedef.flatten_up_to(o)) if isinstance(i, FlatParams)
        else o for o, i in zip(outs, ins, strict=True))


def _as_array(x: Any) -> Any:
    return x if hasattr(x, "dtype") else jnp.asarray(x)
