"""Subsets of the leaves of flat params, for masks and labels given in the original tree.

``masked``, ``partition``, ``freeze`` and ``add_decayed_weights(mask=...)`` take
their masks and labels in the structure of the params tree. On a
[`FlatParams`][gradtx.flat.FlatParams] they are resolved against the per-leaf shapes
(``gradtx.core.lift.leaf_structs``) to one value per leaf, and then:

* ``element_mask`` — a constant bool buffer per bucket (elementwise ``where``);
* ``restrict`` / ``merge`` — the params restricted to some leaves, as a
  ``FlatParams`` of its own layout, and back. When every bucket is wholly kept
  or wholly dropped (ravel with ``group=`` the same labels) this selects
  buffers and costs nothing; otherwise the kept leaves are copied into their own
  buffers (views and one concatenate per bucket) and written back after.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from gradtx.flat._layout import BucketSpec, Layout, build_layout
from gradtx.flat._params import FlatParams

__all__ = ["element_mask", "from_leaves", "merge", "per_leaf_values", "restrict"]


class _Dropped(tuple[Any, ...]):
    """Stands for a leaf left out of a restricted layout: an empty pytree node."""

    __slots__ = ()


jax.tree_util.register_pytree_node(_Dropped, lambda x: ((), None), lambda _, __: _Dropped())


def per_leaf_values(subtree_values: Sequence[Any], subtrees: Sequence[Any]) -> list[Any]:
    """One value per leaf from one value per subtree (a mask or labels given as a prefix)."""
    return [v for v, sub in zip(subtree_values, subtrees, strict=True)
            for _ in jax.tree.leaves(sub)]


def element_mask(layout: Layout, keep: Sequence[bool]) -> FlatParams:
    """A bool buffer per bucket: ``True`` on the elements of the kept leaves (padding False)."""
    return FlatParams([_element_mask(layout, tuple(bool(k) for k in keep), b)
                       for b in range(len(layout.buckets))], layout)


@functools.lru_cache(maxsize=256)
def _element_mask(layout: Layout, keep: tuple[bool, ...], bucket: int) -> np.ndarray:
    spec = layout.buckets[bucket]
    per_segment = np.array([keep[i] for i in spec.leaves] + [False])
    return per_segment[layout.segment_ids(bucket)]


def _pure(layout: Layout, keep: Sequence[bool]) -> bool:
    return all(len({keep[i] for i in spec.leaves}) <= 1 for spec in layout.buckets)


@functools.lru_cache(maxsize=256)
def _sub_layout(layout: Layout, keep: tuple[bool, ...]) -> Layout:
    """The layout of the kept leaves (dropped leaves become empty nodes of the structure)."""
    structs = [jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=leaf.sharding)
               if k else _Dropped() for leaf, k in zip(layout.leaves, keep, strict=True)]
    tree = layout.treedef.unflatten(structs)
    if not _pure(layout, keep):
        return build_layout(tree)
    kept = [i for i, k in enumerate(keep) if k]
    position = {i: n for n, i in enumerate(kept)}
    buckets: list[BucketSpec] = []
    bucket_of: dict[int, int] = {}
    for spec in layout.buckets:
        if not spec.leaves or not keep[spec.leaves[0]]:
            continue
        for i in spec.leaves:
            bucket_of[i] = len(buckets)
        buckets.append(spec._replace(leaves=tuple(position[i] for i in spec.leaves)))
    leaves = tuple(layout.leaves[i]._replace(bucket=bucket_of[i]) for i in kept)
    return Layout(jax.tree.structure(tree), leaves, tuple(buckets))


def restrict(flat: FlatParams, keep: Sequence[bool]) -> FlatParams:
    """``flat`` restricted to the leaves where ``keep`` is True, in a layout of their own."""
    keep = tuple(bool(k) for k in keep)
    layout = flat.layout
    sub = _sub_layout(layout, keep)
    if _pure(layout, keep):
        return FlatParams([buf for buf, spec in zip(flat.buffers, layout.buckets, strict=True)
                           if spec.leaves and keep[spec.leaves[0]]], sub)
    leaves = layout.treedef.flatten_up_to(flat.unravel())
    kept = [x for x, k in zip(leaves, keep, strict=True) if k]
    return from_leaves(sub, kept)


def merge(flat: FlatParams, parts: Sequence[tuple[Sequence[bool], FlatParams]]) -> FlatParams:
    """``flat`` with the leaves of each ``(keep, sub)`` replaced by those of ``sub``.

    ``sub`` is in the layout ``restrict(flat, keep)`` made. Leaves no part keeps
    stay as they are in ``flat``.
    """
    layout = flat.layout
    parts = [(tuple(bool(k) for k in keep), sub) for keep, sub in parts]
    if all(_pure(layout, keep) for keep, _ in parts):
        buffers = list(flat.buffers)
        for keep, sub in parts:
            chosen = [b for b, spec in enumerate(layout.buckets)
                      if spec.leaves and keep[spec.leaves[0]]]
            for b, buf in zip(chosen, sub.buffers, strict=True):
                buffers[b] = buf
        return FlatParams(buffers, layout)
    leaves = list(layout.treedef.flatten_up_to(flat.unravel()))
    for keep, sub in parts:
        sub_leaves = iter(sub.layout.treedef.flatten_up_to(sub.unravel()))
        for i, k in enumerate(keep):
            if k:
                leaves[i] = next(sub_leaves)
    return from_leaves(layout, leaves)


def from_leaves(layout: Layout, leaves: Sequence[Any]) -> FlatParams:
    """Flat params of ``layout`` from its leaves in tree order (any dtype: the buffers take it)."""
    return FlatParams([layout.bucket_from_leaves(b, [leaves[i] for i in spec.leaves])
                       for b, spec in enumerate(layout.buckets)], layout)
