"""``FlatParams``: a params tree stored as a few contiguous 1-D buffers, and ``ravel``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from jax.tree_util import SequenceKey, register_pytree_with_keys

from gradtx.flat._layout import Layout, build_layout

PyTree = Any

__all__ = ["FlatParams", "ravel"]


class FlatParams:
    """A params tree held as one contiguous 1-D buffer per bucket.

    A pytree: its leaves are ``buffers`` (one per bucket of ``layout``) and its
    static aux data is the [`Layout`][gradtx.flat.Layout]. So every elementwise
    gradtx transform, ``jax.tree.map`` and ``tree_zeros_like`` run once per
    bucket on it, and the optimizer state made from a ``FlatParams`` holds
    ``FlatParams`` of the same layout. ``jax.grad`` of a function of
    ``flat.unravel()`` with respect to ``flat`` is a ``FlatParams`` of the same
    layout, made by one concatenate per bucket.
    """

    __slots__ = ("buffers", "layout")

    buffers: tuple[Any, ...]
    layout: Layout

    def __init__(self, buffers: Iterable[Any], layout: Layout) -> None:
        self.buffers = tuple(buffers)
        self.layout = layout

    def unravel(self) -> PyTree:
        """The params tree: each leaf a view of its bucket's buffer (usable under jit and grad)."""
        return self.layout.unravel(self.buffers)

    def __contains__(self, key: Any) -> bool:
        """``key in flat`` answers for the tree's top level (``"params" in flat``), so code
        that probes a params dict before using it (flax's ``TrainState``) works unchanged."""
        return any(leaf.path and getattr(leaf.path[0], "key", None) == key
                   for leaf in self.layout.leaves)

    def __repr__(self) -> str:
        shapes = ", ".join(
            f"{getattr(b, 'dtype', '?')}[{','.join(map(str, getattr(b, 'shape', ())))}]"
            for b in self.buffers)
        return f"FlatParams({len(self.layout.leaves)} leaves; buffers {shapes})"


register_pytree_with_keys(
    FlatParams,
    lambda f: ([(SequenceKey(i), b) for i, b in enumerate(f.buffers)], f.layout),
    lambda layout, buffers: FlatParams(buffers, layout),
    flatten_func=lambda f: (f.buffers, f.layout),
)


def ravel(
    tree: PyTree,
    *,
    like: FlatParams | Layout | None = None,
    group: PyTree | Callable[[PyTree], PyTree] | None = None,
    pad_to_multiple: int = 1,
    align: int = 1,
) -> FlatParams:
    """The leaves of ``tree`` copied into one contiguous 1-D buffer per bucket.

    Leaves go to the same bucket when they have the same dtype (int and bool
    leaves included), the same sharding (see [`gradtx.flat`][] for the rule)
    and the same group label; buckets are numbered in the order of their first
    leaf, and within a bucket the leaves follow tree order. ``None`` leaves
    stay in the structure; an empty tree gives a ``FlatParams`` with no buffers.

    Args:
      tree: the params tree.
      like: re-flatten ``tree`` into this existing layout (a ``FlatParams`` or
        its ``Layout``); the tree must have the layout's structure, shapes and
        dtypes, else ``ValueError`` names the first differing key path.
        ``group``, ``pad_to_multiple`` and ``align`` must then be left unset.
      group: labels (any hashable values) that keep leaves with different
        labels in different buckets: a tree of labels like ``tree``, a prefix
        of it (``{"encoder": "a", "decoder": "b"}``, or one label), or a
        function of ``tree`` returning one.
      pad_to_multiple: each bucket's length is padded with zeros to a multiple
        of this (for example a data-parallel mesh axis size, so that a bucket
        can later be sharded along its axis, ZeRO-style).
      align: each leaf starts at a multiple of this many elements within its
        bucket's shard (zeros in between).
    """
    if like is not None:
        if group is not None or pad_to_multiple != 1 or align != 1:
            raise ValueError("ravel: like= fixes the layout; leave group=, pad_to_multiple= "
                             "and align= unset")
        layout = like.layout if isinstance(like, FlatParams) else like
        if not isinstance(layout, Layout):
            raise TypeError(f"ravel: like= must be a FlatParams or a Layout, "
                            f"got {type(like).__name__}")
    else:
        layout = build_layout(tree, group, pad_to_multiple, align)
    return FlatParams(layout.ravel(tree), layout)

