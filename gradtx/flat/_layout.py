"""The static layout of a flat view of a pytree: buckets, offsets, and the views between them.

A [`Layout`][gradtx.flat.Layout] says where every leaf of a params tree lives in a few 1-D
buffers, one per *bucket*. Leaves share a bucket when they have the same dtype,
the same mesh axes sharding them (see below) and the same user-given group.

Within a bucket the leaves follow each other in tree order; each leaf starts at
a multiple of ``align`` elements, and the bucket's length is padded to a
multiple of ``pad_to_multiple``; all padding holds zeros.

**Sharding rule.** A leaf with a ``NamedSharding`` is keyed by its mesh and the
set of mesh axes its ``PartitionSpec`` uses, ``U``. The buffer of a bucket with
``U`` non-empty is sharded along its one axis over ``U`` (in the mesh's axis
order): it is made of ``shards = Π_{a ∈ U} |a|`` contiguous equal shards, and
the shard held by a device is the concatenation of that device's shards of the
bucket's leaves (each flattened, in tree order, with the alignment padding,
then padded to the shard's length). Raveling and unravelling are therefore
local to each device (a ``shard_map`` of a concatenate and a split): no
communication, and each view comes back with its leaf's own sharding. Leaves
replicated over a mesh (an empty spec) go to a bucket replicated over that
mesh; leaves without a ``NamedSharding`` (single device, or traced under
``jit``) go to buckets with no sharding.

Views are one ``lax.split`` per bucket (XLA slices, which fuse into their
consumers where the consumer can take them) and their gradient is, by
autodiff, one ``concatenate`` per bucket; ``docs/flat-views.md`` has the
measurements behind this choice.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable, Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jax.tree_util import KeyPath, PyTreeDef, keystr, tree_flatten_with_path

from gradtx.core.tree import check_same_structure

PyTree = Any

__all__ = ["BucketSpec", "Layout", "LeafSpec", "build_layout"]


class LeafSpec(NamedTuple):
    """Where one leaf of the tree lives.

    ``offset`` and ``size`` count elements within one shard of the bucket's
    buffer (the whole buffer when ``buckets[bucket].shards == 1``); ``size`` is
    the number of elements of the leaf held by one shard, ``prod(shape) // shards``.
    """

    path: KeyPath[Any]
    shape: tuple[int, ...]
    dtype: np.dtype
    sharding: NamedSharding | None
    bucket: int
    offset: int
    size: int

    @property
    def name(self) -> str:
        """The key path as text, ``"['block_0']['dense']['kernel']"``."""
        return keystr(self.path) or "<root>"


class BucketSpec(NamedTuple):
    """One 1-D buffer: its dtype, sharding, group, leaves and length.

    ``leaves`` are indices into ``Layout.leaves``, in buffer order. The buffer
    has ``size = shards * shard_size`` elements (padding included).
    """

    dtype: np.dtype
    sharding: NamedSharding | None
    group: Hashable | None
    leaves: tuple[int, ...]
    shards: int
    shard_size: int

    @property
    def size(self) -> int:
        """The buffer's length, padding included."""
        return self.shards * self.shard_size


@dataclasses.dataclass(frozen=True, eq=False)
class Layout:
    """The static layout of a [`FlatParams`][gradtx.flat.FlatParams]: hashable and comparable.

    Attributes:
      treedef: the structure of the params tree.
      leaves: one [`LeafSpec`][gradtx.flat.LeafSpec] per leaf, in ``jax.tree.leaves`` order.
      buckets: one [`BucketSpec`][gradtx.flat.BucketSpec] per buffer.
    """

    treedef: PyTreeDef
    leaves: tuple[LeafSpec, ...]
    buckets: tuple[BucketSpec, ...]
    _hash: int = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.treedef, self.leaves, self.buckets)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Layout) or self._hash != other._hash:
            return False
        return (self.treedef, self.leaves, self.buckets) == (
            other.treedef, other.leaves, other.buckets)

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{b.dtype}[{b.size}]x{len(b.leaves)} leaves"
            + (f" group={b.group!r}" if b.group is not None else "")
            + (f" {b.sharding.spec}" if b.sharding is not None else "")
            for b in self.buckets
        )
        return f"Layout({len(self.leaves)} leaves in {len(self.buckets)} buckets: {parts})"

    # ------------------------------------------------------------------ one bucket

    def bucket_to_leaves(self, bucket: int, buffer: jax.Array) -> list[jax.Array]:
        """Views of bucket ``bucket``'s buffer as its leaves, in ``buckets[bucket].leaves`` order.

        Each view has its leaf's shape and the buffer's dtype (so a state buffer
        kept in another dtype gives leaves in that dtype).
        """
        spec = self.buckets[bucket]
        _check_buffer(spec, buffer, bucket)
        leaves = [self.leaves[i] for i in spec.leaves]
        sharding = _split_sharding(spec)
        if sharding is None:
            return _split_chunk(leaves, spec.shard_size, _unsharded(buffer))
        split = jax.shard_map(
            partial(_split_chunk, leaves, spec.shard_size), mesh=sharding.mesh,
            in_specs=sharding.spec, out_specs=[_pspec(leaf.sharding) for leaf in leaves],
        )
        return list(split(buffer))

    def bucket_from_leaves(self, bucket: int, leaves: Sequence[jax.Array]) -> jax.Array:
        """Bucket ``bucket``'s buffer made from its leaves (in ``buckets[bucket].leaves`` order).

        The inverse of [`bucket_to_leaves`][gradtx.flat.Layout.bucket_to_leaves]; padding is
        filled with zeros, and the buffer takes the leaves' dtype.
        """
        spec = self.buckets[bucket]
        specs = [self.leaves[i] for i in spec.leaves]
        if len(leaves) != len(specs):
            raise ValueError(
                f"bucket_from_leaves: bucket {bucket} has {len(specs)} leaves, got {len(leaves)}")
        for leaf, x in zip(specs, leaves, strict=True):
            if tuple(jnp.shape(x)) != leaf.shape:
                raise ValueError(f"bucket_from_leaves: leaf {leaf.name} of bucket {bucket}: "
                                 f"expected shape {leaf.shape}, got {tuple(jnp.shape(x))}")
        sharding = _split_sharding(spec)
        if sharding is None:
            return _concat_chunk(specs, spec.shard_size, *map(_unsharded, leaves))
        concat = jax.shard_map(
            partial(_concat_chunk, specs, spec.shard_size), mesh=sharding.mesh,
            in_specs=tuple(_pspec(leaf.sharding) for leaf in specs), out_specs=sharding.spec,
        )
        return concat(*leaves)

    def segment_ids(self, bucket: int) -> np.ndarray:
        """For every element of bucket ``bucket``'s buffer, the position of its leaf in the bucket.

        An int32 NumPy array of length ``buckets[bucket].size``: element ``e``
        belongs to leaf ``layout.leaves[buckets[bucket].leaves[ids[e]]]``;
        padding elements get the dummy segment ``len(buckets[bucket].leaves)``.
        So ``jax.ops.segment_sum(x, ids, num_segments=n + 1)[:n]`` sums each leaf.
        """
        spec = self.buckets[bucket]
        ids = np.full(spec.shard_size, len(spec.leaves), np.int32)
        for j, i in enumerate(spec.leaves):
            leaf = self.leaves[i]
            ids[leaf.offset:leaf.offset + leaf.size] = j
        return np.tile(ids, spec.shards)

    # ------------------------------------------------------------------ whole tree

    def unravel(self, buffers: Sequence[jax.Array]) -> PyTree:
        """The params tree viewed from the bucket buffers (see
        [`bucket_to_leaves`][gradtx.flat.Layout.bucket_to_leaves])."""
        if len(buffers) != len(self.buckets):
            raise ValueError(f"unravel: the layout has {len(self.buckets)} buckets, "
                             f"got {len(buffers)} buffers")
        return _unravel(self, tuple(buffers))

    def ravel(self, tree: PyTree, *, what: str = "ravel(tree, like=flat)") -> tuple[jax.Array, ...]:
        """The bucket buffers of ``tree``, which must match the layout in structure, shape, dtype.

        Raises ``ValueError`` naming the first key path where ``tree`` differs.
        """
        leaves = self._checked_leaves(tree, what)
        return _ravel(self, tuple(leaves))

    def _checked_leaves(self, tree: PyTree, what: str) -> list[Any]:
        """The leaves of ``tree``, after checking its structure, shapes and dtypes."""
        if jax.tree.structure(tree) != self.treedef:
            check_same_structure(self._abstract_tree(), tree, what=what, expected_name="layout")
        leaves = self.treedef.flatten_up_to(tree)
        for leaf, x in zip(self.leaves, leaves, strict=True):
            shape = tuple(jnp.shape(x))
            if shape != leaf.shape:
                raise ValueError(f"{what} does not match the layout at {leaf.name}: "
                                 f"expected shape {leaf.shape}, got {shape}")
            if _dtype(x) != leaf.dtype:
                raise ValueError(f"{what} does not match the layout at {leaf.name}: "
                                 f"expected dtype {leaf.dtype}, got {_dtype(x)}")
        return leaves

    def _abstract_tree(self) -> PyTree:
        """The params tree as ``jax.ShapeDtypeStruct`` leaves (with their shardings)."""
        return self.treedef.unflatten(
            [jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=leaf.sharding)
             for leaf in self.leaves])


# ---------------------------------------------------------------------- views


def _split_chunk(leaves: Sequence[LeafSpec], shard_size: int, chunk: jax.Array) -> list[jax.Array]:
    """One shard of a bucket buffer cut into its leaves (shard-local shapes), by one split."""
    sizes, keep = [], []
    pos = 0
    for leaf in leaves:
        if leaf.offset > pos:
            sizes.append(leaf.offset - pos)
            keep.append(False)
        sizes.append(leaf.size)
        keep.append(True)
        pos = leaf.offset + leaf.size
    if shard_size > pos:
        sizes.append(shard_size - pos)
        keep.append(False)
    pieces = lax.split(chunk, sizes) if len(sizes) > 1 else [chunk]
    kept = [p for p, k in zip(pieces, keep, strict=True) if k]
    return [p.reshape(_local_shape(leaf)) for p, leaf in zip(kept, leaves, strict=True)]


def _concat_chunk(leaves: Sequence[LeafSpec], shard_size: int, *arrays: jax.Array) -> jax.Array:
    """The inverse of ``_split_chunk``: one concatenate, zeros in the padding."""
    dtype = jnp.result_type(*arrays) if arrays else leaves[0].dtype
    pieces = []
    pos = 0
    for leaf, x in zip(leaves, arrays, strict=True):
        if leaf.offset > pos:
            pieces.append(jnp.zeros(leaf.offset - pos, dtype))
        pieces.append(jnp.reshape(x, -1).astype(dtype))
        pos = leaf.offset + leaf.size
    if shard_size > pos:
        pieces.append(jnp.zeros(shard_size - pos, dtype))
    return pieces[0] if len(pieces) == 1 else lax.concatenate(pieces, 0)


@partial(jax.jit, static_argnums=0)
def _unravel(layout: Layout, buffers: tuple[jax.Array, ...]) -> PyTree:
    out: list[Any] = [None] * len(layout.leaves)
    for b, buffer in enumerate(buffers):
        for i, view in zip(layout.buckets[b].leaves, layout.bucket_to_leaves(b, buffer),
                           strict=True):
            out[i] = view
    return layout.treedef.unflatten(out)


@partial(jax.jit, static_argnums=0)
def _ravel(layout: Layout, leaves: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
    return tuple(layout.bucket_from_leaves(b, [leaves[i] for i in spec.leaves])
                 for b, spec in enumerate(layout.buckets))


def _check_buffer(spec: BucketSpec, buffer: Any, bucket: int) -> None:
    if tuple(jnp.shape(buffer)) != (spec.size,):
        raise ValueError(f"bucket {bucket}: expected a buffer of shape ({spec.size},), "
                         f"got {tuple(jnp.shape(buffer))}")


def _unsharded(x: Any) -> jax.Array:
    """``x`` gathered whole on each device if it is explicitly sharded, as a bucket without a
    sharding needs (a buffer resharded ZeRO-style; a leaf traced under ``jit``).

    Under explicit mesh axes a split or concatenate of a sharded axis at arbitrary
    offsets is not defined; under automatic axes XLA inserts the same all-gather.
    """
    x = jnp.asarray(x)
    if any(entry is not None for entry in jax.typeof(x).sharding.spec):
        return jax.sharding.reshard(x, P())
    return x


def _split_sharding(spec: BucketSpec) -> NamedSharding | None:
    """The bucket's sharding when it splits the buffer across devices, else None."""
    if spec.sharding is not None and _mesh_axes(spec.sharding.spec) != ():
        return spec.sharding
    return None


def _pspec(sharding: NamedSharding | None) -> P:
    """``sharding``'s partition spec; ``P()`` (replicated) for None."""
    return P() if sharding is None else sharding.spec


def _local_shape(leaf: LeafSpec) -> tuple[int, ...]:
    """The shape of one device's shard of the leaf."""
    if leaf.sharding is None:
        return leaf.shape
    counts = _shard_counts(leaf.sharding, len(leaf.shape))
    return tuple(n // k for n, k in zip(leaf.shape, counts, strict=True))


# ---------------------------------------------------------------------- building


def build_layout(
    tree: PyTree,
    group: PyTree | Callable[[PyTree], PyTree] | None = None,
    pad_to_multiple: int = 1,
    align: int = 1,
) -> Layout:
    """The layout of ``tree``: its leaves put in buckets keyed by (dtype, sharding, group).

    Buckets are numbered in the order their first leaf appears in the tree.
    """
    for name, value in (("pad_to_multiple", pad_to_multiple), ("align", align)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise ValueError(f"ravel: {name} must be a positive int, got {value!r}")
    with_path, treedef = tree_flatten_with_path(tree)
    labels = _group_labels(group, tree, treedef, len(with_path))

    keys: dict[Any, int] = {}
    members: list[list[int]] = []
    bucket_info: list[tuple[np.dtype, NamedSharding | None, Hashable | None]] = []
    leaf_info = []
    for i, ((path, x), label) in enumerate(zip(with_path, labels, strict=True)):
        dtype = _dtype(x)
        sharding = _named_sharding(x)
        buffer_sharding = None if sharding is None else _buffer_sharding(sharding)
        key = (dtype, buffer_sharding, label)
        if key not in keys:
            keys[key] = len(members)
            members.append([])
            bucket_info.append(key)
        members[keys[key]].append(i)
        leaf_info.append((path, tuple(int(d) for d in np.shape(x)), dtype, sharding, keys[key]))

    leaves: list[LeafSpec] = [None] * len(leaf_info)  # type: ignore[list-item]  # all set below
    buckets = []
    for b, idx in enumerate(members):
        dtype, buffer_sharding, label = bucket_info[b]
        shards = 1 if buffer_sharding is None else _num_shards(buffer_sharding)
        pos = 0
        for i in idx:
            path, shape, _, sharding, _ = leaf_info[i]
            size = math.prod(shape) // shards
            pos = _round_up(pos, align)
            leaves[i] = LeafSpec(path, shape, dtype, sharding, b, pos, size)
            pos += size
        shard_size = _round_up(pos, pad_to_multiple // math.gcd(pad_to_multiple, shards))
        buckets.append(BucketSpec(dtype, buffer_sharding, label, tuple(idx), shards, shard_size))
    return Layout(treedef, tuple(leaves), tuple(buckets))


def _group_labels(group: Any, tree: PyTree, treedef: PyTreeDef, n: int) -> list[Any]:
    """One group label per leaf, from a tree (or prefix) of labels or a function of the tree."""
    if group is None:
        return [None] * n
    labels_tree = group(tree) if callable(group) else group
    prefix: PyTreeDef = jax.tree.structure(labels_tree)
    try:
        subtrees = prefix.flatten_up_to(tree)
    except (ValueError, TypeError) as e:
        raise ValueError(f"ravel: group= must be a tree of labels, or a prefix of the params "
                         f"tree ({prefix}); {e}") from None
    labels: list[Any] = []
    for label, sub in zip(jax.tree.leaves(labels_tree), subtrees, strict=True):
        try:
            hash(label)
        except TypeError:
            raise ValueError(f"ravel: group labels must be hashable, got {label!r}") from None
        labels.extend([label] * len(jax.tree.leaves(sub)))
    return labels


def _dtype(x: Any) -> np.dtype:
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.dtype(jnp.asarray(x).dtype)


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


# ---------------------------------------------------------------------- shardings


def _named_sharding(x: Any) -> NamedSharding | None:
    """The leaf's ``NamedSharding`` with a normalized spec, or None (no concrete NamedSharding)."""
    if isinstance(x, jax.core.Tracer) or not isinstance(x, jax.Array):
        return None
    s = x.sharding
    if not isinstance(s, NamedSharding) or not isinstance(s.mesh, Mesh):
        return None
    return NamedSharding(s.mesh, _normalize_spec(s.spec), memory_kind=s.memory_kind)


def _spec_entry_axes(entry: Any) -> tuple[str, ...]:
    if entry is None:
        return ()
    return tuple(entry) if isinstance(entry, tuple) else (entry,)


def _normalize_spec(spec: P) -> P:
    """Trailing ``None`` dropped, one-axis tuples unwrapped: equal placements, equal specs."""
    entries = []
    for entry in spec:
        axes = _spec_entry_axes(entry)
        entries.append(None if not axes else axes[0] if len(axes) == 1 else axes)
    while entries and entries[-1] is None:
        entries.pop()
    return P(*entries)


def _mesh_axes(spec: P) -> tuple[str, ...]:
    return tuple(a for entry in spec for a in _spec_entry_axes(entry))


def _buffer_sharding(leaf_sharding: NamedSharding) -> NamedSharding:
    """The sharding of a bucket buffer holding leaves sharded like ``leaf_sharding``.

    Over the leaf's mesh axes, in the mesh's axis order, along the buffer's only axis.
    """
    mesh = leaf_sharding.mesh
    used = set(_mesh_axes(leaf_sharding.spec))
    axes = tuple(a for a in mesh.axis_names if a in used)
    spec = P() if not axes else P(axes[0]) if len(axes) == 1 else P(axes)
    return NamedSharding(mesh, spec, memory_kind=leaf_sharding.memory_kind)


def _num_shards(buffer_sharding: NamedSharding) -> int:
    shape = buffer_sharding.mesh.shape
    return math.prod(shape[a] for a in _mesh_axes(buffer_sharding.spec))


def _shard_counts(sharding: NamedSharding, ndim: int) -> tuple[int, ...]:
    shape = sharding.mesh.shape
    entries = list(sharding.spec) + [None] * (ndim - len(sharding.spec))
    return tuple(math.prod(shape[a] for a in _spec_entry_axes(e)) for e in entries)
