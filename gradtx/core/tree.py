"""Tree helpers built on ``jax.tree_util``, and the structure checks used everywhere."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jax.tree_util import PyTreeDef, keystr, tree_flatten_with_path

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
    "params_mesh",
    "on_params_mesh",
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
    expected_treedef: PyTreeDef = jax.tree.structure(expected)
    if expected_treedef == jax.tree.structure(received):
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
    return jnp.asarray(sum(jnp.sum(abs_sq(x).astype(acc_dtype)) for x in leaves))


def tree_global_norm(tree: PyTree) -> jax.Array:
    """The global L2 norm √(Σ_i ‖x_i‖²) of all leaves of ``tree``."""
    return jnp.sqrt(tree_sum_of_squares(tree))


def tree_vdot(a: PyTree, b: PyTree) -> jax.Array:
    """Σ_i ⟨a_i, b_i⟩ over matching leaves."""
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return jnp.asarray(sum(jnp.vdot(x, y) for x, y in pairs))


def _full_following(x: Any, value: Any, dtype: Any) -> jax.Array | np.ndarray:
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
    that leaf (``gradtx.core.numerics.second_moment_dtype``: float32 for
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
    """Zeros for a second-moment statistic of every leaf (see [`gradtx.tree_full_like`][])."""
    return tree_full_like(tree, 0, dtype, moment=True)


def _dtype(x: Any) -> Any:
    return x.dtype if hasattr(x, "dtype") else jnp.result_type(x)


def tree_cast(tree: PyTree, dtype: Any) -> PyTree:
    """Every leaf cast to ``dtype``; ``None`` leaves stay ``None``."""
    return jax.tree.map(lambda x: x.astype(dtype), tree)


def params_mesh(params: PyTree) -> Mesh | None:
    """The one mesh the leaves of ``params`` are sharded on (``NamedSharding``), else None.

    Concrete arrays and ``jax.ShapeDtypeStruct`` leaves are read; tracers,
    other leaves and leaves on one device are skipped. Leaves on two different
    meshes give None.
    """
    meshes: list[Mesh] = []
    for x in jax.tree.leaves(params):
        if isinstance(x, jax.core.Tracer):
            continue
        s = getattr(x, "sharding", None)
        if isinstance(s, NamedSharding) and isinstance(s.mesh, Mesh) and s.mesh not in meshes:
            meshes.append(s.mesh)
    return meshes[0] if len(meshes) == 1 else None


def on_params_mesh(tree: PyTree, params: PyTree) -> PyTree:
    """``tree`` (a state just made from ``params``) with its arrays on the params' mesh.

    When ``params`` are sharded on one mesh, every concrete array leaf of
    ``tree`` held elsewhere (the scalars an eager ``init`` makes: step
    counters, hyperparameters) is put on that mesh, replicated
    (``NamedSharding(mesh, P())``), so a jitted step, or a checkpoint restored
    with these shardings, finds the whole state on the params' devices. Leaves
    already on the mesh's devices, tracers and non-array leaves are left as they are.
    """
    mesh = params_mesh(params)
    if mesh is None:
        return tree
    devices = set(mesh.devices.flat)
    replicated = NamedSharding(mesh, P())

    def place(x: Any) -> Any:
        if (not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer)
                or x.sharding.device_set == devices):
            return x
        if replicated.is_fully_addressable:
            return jax.device_put(x, replicated)
        value = np.asarray(x)  # several processes: each holds the same value, made the same way
        return jax.make_array_from_callback(value.shape, replicated, lambda index: value[index])

    return jax.tree.map(place, tree)
