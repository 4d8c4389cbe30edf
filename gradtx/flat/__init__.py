"""Flat params: a params tree held as a few contiguous 1-D buffers, one per bucket.

    flat = gradtx.flat.ravel(params)          # FlatParams: leaves are the bucket buffers
    loss, grads = jax.value_and_grad(lambda f: loss_fn(f.unravel(), batch))(flat)
    state = tx.init(flat)                     # every elementwise transform runs once per bucket
    updates, state = tx.update(grads, state, flat)
    flat = gradtx.apply_updates(flat, updates)

``grads`` is a ``FlatParams`` of the same layout, made by one concatenate per
bucket. The [`Layout`][gradtx.flat.Layout] (static, hashable) says where each leaf lives, views
one bucket's buffer as its leaves and back, and gives ``segment_ids`` for
per-leaf reductions. [`state_to_tree`][gradtx.flat.state_to_tree] and
[`state_from_tree`][gradtx.flat.state_from_tree] convert optimizer states between the flat
path and the per-leaf path.

Buckets are keyed by (dtype, sharding, group); the sharding rule is in
``gradtx/flat/_layout.py`` and ``docs/flat-views.md``.
"""

from gradtx.flat._flatten import FlattenState, flatten
from gradtx.flat._layout import BucketSpec, Layout, LeafSpec
from gradtx.flat._params import FlatParams, ravel
from gradtx.flat._state import state_from_tree, state_to_tree

__all__ = [
    "FlatParams",
    "Layout",
    "LeafSpec",
    "BucketSpec",
    "ravel",
    "state_to_tree",
    "state_from_tree",
    "flatten",
    "FlattenState",
]
