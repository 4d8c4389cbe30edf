"""optax 0.2.8's ``optax.tree_utils``: the tree helpers optimizer code uses.

Arithmetic leaf by leaf (``tree_add``, ``tree_scale``, ...), reductions over all entries
(``tree_sum``, ``tree_norm``, ``tree_vdot``), trees like another (``tree_zeros_like``,
``tree_cast_like``, ...), the moment updates optax's transforms are written with, and
access to a state by field name (``tree_get``, ``tree_set``, ``tree_map_params``).
Reductions over a tree use |x|² for complex leaves, as optax does. The same functions
without the ``tree_`` prefix are ``gradtx.compat.optax.tree``.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import DictKey, PyTreeDef, SequenceKey

from gradtx.core.numerics import abs_sq
from gradtx.core.tree import tree_zeros_like as _zeros_like

__all__ = [
    "NamedTupleKey",
    "tree_add",
    "tree_add_scale",
    "tree_allclose",
    "tree_bias_correction",
    "tree_cast",
    "tree_cast_like",
    "tree_clip",
    "tree_conj",
    "tree_div",
    "tree_dtype",
    "tree_full_like",
    "tree_get",
    "tree_get_all_with_path",
    "tree_map_params",
    "tree_max",
    "tree_min",
    "tree_mul",
    "tree_norm",
    "tree_ones_like",
    "tree_random_like",
    "tree_real",
    "tree_scale",
    "tree_set",
    "tree_size",
    "tree_split_key_like",
    "tree_sub",
    "tree_sum",
    "tree_update_infinity_moment",
    "tree_update_moment",
    "tree_update_moment_per_elem_norm",
    "tree_vdot",
    "tree_where",
    "tree_zeros_like",
]

PyTree = Any


def _is_none(x: Any) -> bool:
    return x is None


# ------------------------------------------------------------------- leafwise arithmetic


def tree_add(tree_x: PyTree, tree_y: PyTree, *other_trees: PyTree) -> PyTree:
    """x + y (+ each of ``other_trees``), leaf by leaf."""
    return jax.tree.map(lambda *xs: functools.reduce(operator.add, xs), tree_x, tree_y,
                        *other_trees)


def tree_sub(tree_x: PyTree, tree_y: PyTree) -> PyTree:
    """x − y, leaf by leaf."""
    return jax.tree.map(operator.sub, tree_x, tree_y)


def tree_mul(tree_x: PyTree, tree_y: PyTree) -> PyTree:
    """x ⊙ y, leaf by leaf."""
    return jax.tree.map(operator.mul, tree_x, tree_y)


def tree_div(tree_x: PyTree, tree_y: PyTree) -> PyTree:
    """x / y, leaf by leaf."""
    return jax.tree.map(operator.truediv, tree_x, tree_y)


def tree_scale(scalar: Any, tree: PyTree) -> PyTree:
    """c · x, leaf by leaf."""
    return jax.tree.map(lambda x: scalar * x, tree)


def tree_add_scale(tree_x: PyTree, scalar: Any, tree_y: PyTree) -> PyTree:
    """x + c · y, leaf by leaf."""
    return jax.tree.map(lambda x, y: x + scalar * y, tree_x, tree_y)


def tree_where(condition: Any, tree_x: PyTree, tree_y: PyTree) -> PyTree:
    """x where the scalar (or broadcastable) ``condition`` holds, else y, leaf by leaf."""
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), tree_x, tree_y)


def tree_clip(tree: PyTree, min_value: Any = None, max_value: Any = None) -> PyTree:
    """Every entry clipped to [min_value, max_value] (``None``: unbounded)."""
    return jax.tree.map(lambda x: jnp.clip(x, min_value, max_value), tree)


def tree_conj(tree: PyTree) -> PyTree:
    """The complex conjugate of every leaf."""
    return jax.tree.map(jnp.conj, tree)


def tree_real(tree: PyTree) -> PyTree:
    """The real part of every leaf."""
    return jax.tree.map(jnp.real, tree)


# ---------------------------------------------------------------------------- reductions


def tree_sum(tree: PyTree, associative_reduction: bool = False) -> Any:
    """Σ of all entries of all leaves (``associative_reduction`` adds the per-leaf sums as a
    balanced tree rather than left to right)."""
    sums = [jnp.sum(x) for x in jax.tree.leaves(tree)]
    if not associative_reduction:
        return functools.reduce(operator.add, sums, 0)
    while len(sums) > 1:
        sums = [sums[i] + sums[i + 1] if i + 1 < len(sums) else sums[i]
                for i in range(0, len(sums), 2)]
    return sums[0] if sums else 0


def tree_max(tree: PyTree) -> Any:
    """The largest entry of all leaves (−inf for an empty tree)."""
    return functools.reduce(jnp.maximum, [jnp.max(x) for x in jax.tree.leaves(tree)],
                            jnp.asarray(-jnp.inf))


def tree_min(tree: PyTree) -> Any:
    """The smallest entry of all leaves (inf for an empty tree)."""
    return functools.reduce(jnp.minimum, [jnp.min(x) for x in jax.tree.leaves(tree)],
                            jnp.asarray(jnp.inf))


def tree_size(tree: PyTree) -> int:
    """The number of entries of all leaves."""
    return sum(int(np.size(x)) for x in jax.tree.leaves(tree))


def tree_vdot(tree_x: PyTree, tree_y: PyTree) -> Any:
    """⟨x, y⟩ = Σ_leaves Σ conj(x) y."""
    vdots = jax.tree.map(lambda a, b: jnp.vdot(jnp.asarray(a), jnp.asarray(b),
                                               precision=jax.lax.Precision.HIGHEST),
                         tree_x, tree_y)
    return functools.reduce(operator.add, jax.tree.leaves(vdots), 0)


def tree_norm(tree: PyTree, ord: int | str | float | None = None,  # noqa: A002 (optax's name)
              squared: bool = False) -> jax.Array:
    """‖x‖ over all entries: ``ord`` None or 2 (√Σ|x|²), 1 (Σ|x|) or inf (max |x|);
    ``squared`` returns its square."""
    if ord is None or ord == 2:
        sq = tree_sum(jax.tree.map(abs_sq, tree))
        return jnp.asarray(sq if squared else jnp.sqrt(sq))
    if ord == 1:
        value = tree_sum(jax.tree.map(jnp.abs, tree))
    elif ord in (jnp.inf, "inf", "infinity"):
        value = tree_max(jax.tree.map(jnp.abs, tree))
    else:
        raise ValueError(f"tree_norm: ord must be None, 1, 2 or inf, got {ord!r}")
    return jnp.asarray(value**2 if squared else value)


def tree_allclose(a: PyTree, b: PyTree, rtol: Any = 1e-5, atol: Any = 1e-8,
                  equal_nan: bool = False) -> Any:
    """Whether every pair of leaves is ``jnp.allclose``."""
    close = jax.tree.map(lambda x, y: jnp.allclose(x, y, rtol=rtol, atol=atol,
                                                   equal_nan=equal_nan), a, b)
    return functools.reduce(operator.and_, jax.tree.leaves(close), True)


# ----------------------------------------------------------------------- trees like trees


def tree_zeros_like(tree: PyTree, dtype: Any = None) -> PyTree:
    """Zeros like every leaf (in ``dtype`` when given)."""
    return _zeros_like(tree, dtype)


def tree_ones_like(tree: PyTree, dtype: Any = None) -> PyTree:
    """Ones like every leaf (in ``dtype`` when given)."""
    return jax.tree.map(lambda x: jnp.ones_like(x, dtype=dtype), tree)


def tree_full_like(tree: PyTree, fill_value: Any, dtype: Any = None) -> PyTree:
    """``fill_value`` like every leaf (in ``dtype`` when given)."""
    return jax.tree.map(lambda x: jnp.full_like(x, fill_value, dtype=dtype), tree)


def tree_cast(tree: PyTree, dtype: Any) -> PyTree:
    """Every leaf cast to ``dtype``; ``dtype=None`` returns ``tree`` unchanged."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: x.astype(dtype), tree)


def tree_cast_like(tree: PyTree, other_tree: PyTree) -> PyTree:
    """Every leaf cast to the dtype of the matching leaf of ``other_tree``."""
    return jax.tree.map(lambda t, o: t.astype(o.dtype) if hasattr(o, "dtype") else t,
                        tree, other_tree)


def tree_dtype(tree: PyTree,
               mixed_dtype_handler: Literal["promote", "highest", "lowest"] | None = None
               ) -> Any:
    """The dtype of the leaves: their common dtype (``None``, else ``ValueError``), their
    promotion (``"promote"``), or the highest / lowest in promotion order. An empty tree
    gives JAX's default float dtype."""
    dtypes = [jnp.asarray(x).dtype for x in jax.tree.leaves(tree)]
    if not dtypes:
        return jnp.asarray(0.0).dtype
    if mixed_dtype_handler is None:
        if len(set(dtypes)) > 1:
            found = sorted(map(str, set(dtypes)))
            raise ValueError(f"tree_dtype: the leaves have several dtypes, {found}; pass "
                             "mixed_dtype_handler")
        return dtypes[0]
    if mixed_dtype_handler == "promote":
        return functools.reduce(jnp.promote_types, dtypes)

    def pick(a: Any, b: Any) -> Any:
        wide = jnp.promote_types(a, b)
        if wide not in (a, b):
            raise ValueError(f"tree_dtype: {a} and {b} cannot be ordered (neither promotes "
                             "to the other)")
        high, low = (a, b) if wide == a else (b, a)
        return high if mixed_dtype_handler == "highest" else low

    if mixed_dtype_handler not in ("highest", "lowest"):
        raise ValueError(f"tree_dtype: mixed_dtype_handler must be None, 'promote', 'highest' "
                         f"or 'lowest', got {mixed_dtype_handler!r}")
    return functools.reduce(pick, dtypes)


def tree_split_key_like(rng_key: jax.Array, target_tree: PyTree) -> PyTree:
    """One key per leaf of ``target_tree``, split from ``rng_key``."""
    treedef: PyTreeDef = jax.tree.structure(target_tree)
    return treedef.unflatten(list(jax.random.split(rng_key, treedef.num_leaves)))


def tree_random_like(rng_key: jax.Array, target_tree: PyTree,
                     sampler: Callable[..., jax.Array] = jax.random.normal,
                     dtype: Any = None) -> PyTree:
    """A random tree like ``target_tree``: leaf i is ``sampler(key_i, shape, dtype)`` with
    the keys of ``tree_split_key_like``."""
    keys = tree_split_key_like(rng_key, target_tree)
    return jax.tree.map(lambda x, k: sampler(k, jnp.shape(x), dtype or jnp.asarray(x).dtype),
                        target_tree, keys)


# ------------------------------------------------------------------------------- moments


def tree_update_moment(updates: PyTree, moments: PyTree, decay: Any, order: int) -> PyTree:
    """m ← (1 − ρ) gᵏ + ρ m (``None`` leaves kept)."""
    return jax.tree.map(lambda g, m: None if g is None else (1 - decay) * g**order + decay * m,
                        updates, moments, is_leaf=_is_none)


def tree_update_moment_per_elem_norm(updates: PyTree, moments: PyTree, decay: Any,
                                     order: int) -> PyTree:
    """m ← (1 − ρ) |g|ᵏ + ρ m, |g|ᵏ = (|g|²)^(k/2) for complex g."""

    def power(g: jax.Array) -> jax.Array:
        if jnp.isrealobj(g):
            return g**order
        half = order / 2
        return abs_sq(g) ** (int(half) if float(half).is_integer() else half)

    return jax.tree.map(lambda g, m: None if g is None else (1 - decay) * power(g) + decay * m,
                        updates, moments, is_leaf=_is_none)


def tree_update_infinity_moment(updates: PyTree, moments: PyTree, decay: Any, eps: Any
                                ) -> PyTree:
    """m ← max(|g| + ε, ρ m) (AdaMax's)."""
    return jax.tree.map(lambda g, m: None if g is None else jnp.maximum(jnp.abs(g) + eps,
                                                                        decay * m),
                        updates, moments, is_leaf=_is_none)


def tree_bias_correction(moment: PyTree, decay: Any, count: Any) -> PyTree:
    """m̂ = m / (1 − ρ^t), the correction computed in ρ's precision and the division in m's."""
    correction = 1 - decay**count
    return jax.tree.map(lambda m: m / jnp.asarray(correction).astype(m.dtype), moment)


# -------------------------------------------------------------------- states by field name


@dataclass(frozen=True)
class NamedTupleKey:
    """A path entry for field ``name`` of a NamedTuple class named ``tuple_name`` (how
    ``tree_get_all_with_path`` names fields, so a filter can tell states apart)."""

    tuple_name: str
    name: str

    def __str__(self) -> str:
        return f"{self.tuple_name}.{self.name}"


def _children(node: Any) -> list[tuple[Any, Any]] | None:
    """(path entry, child) of a container node, or None for a leaf."""
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        return [(NamedTupleKey(type(node).__name__, f), getattr(node, f)) for f in node._fields]
    if isinstance(node, Mapping):
        return [(DictKey(k), v) for k, v in node.items()]
    if isinstance(node, list | tuple):
        return [(SequenceKey(i), v) for i, v in enumerate(node)]
    flat, _ = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    if len(flat) == 1 and flat[0][0] == ():
        return None
    return [(path[0], child) for path, child in flat]


def _key_name(entry: Any) -> Any:
    for attr in ("name", "key", "idx"):
        if hasattr(entry, attr):
            return getattr(entry, attr)
    return entry


def tree_get_all_with_path(tree: PyTree, key: Any,
                           filtering: Callable[[tuple[Any, ...], Any], bool] | None = None
                           ) -> list[tuple[tuple[Any, ...], Any]]:
    """Every ``(path, value)`` in ``tree`` at a dict key or NamedTuple field named ``key``,
    or a NamedTuple whose class is named ``key``, in traversal order (kept only where
    ``filtering(path, value)`` when given). NamedTuple fields appear in paths as
    ``NamedTupleKey``."""
    found: list[tuple[tuple[Any, ...], Any]] = []

    def walk(path: tuple[Any, ...], node: Any) -> None:
        if isinstance(node, tuple) and hasattr(node, "_fields") and type(node).__name__ == key:
            found.append((path, node))
        children = _children(node)
        for entry, child in children or []:
            if _key_name(entry) == key and not isinstance(entry, SequenceKey):
                found.append(((*path, entry), child))
            walk((*path, entry), child)

    walk((), tree)
    if filtering is not None:
        found = [(p, v) for p, v in found if filtering(p, v)]
    return found


def tree_get(tree: PyTree, key: Any, default: Any = None,
             filtering: Callable[[tuple[Any, ...], Any], bool] | None = None) -> Any:
    """The one value of ``tree`` named ``key`` (see ``tree_get_all_with_path``), ``default``
    if there is none; ``KeyError`` if there are several."""
    found = tree_get_all_with_path(tree, key, filtering)
    if len(found) > 1:
        paths = [jax.tree_util.keystr(tuple(p)) for p, _ in found]
        raise KeyError(f"tree_get: found {len(found)} values for {key!r}, at {paths}; pass a "
                       "filtering function")
    return found[0][1] if found else default


def tree_set(tree: PyTree, filtering: Callable[[tuple[Any, ...], Any], bool] | None = None,
             /, **kwargs: Any) -> PyTree:
    """A copy of ``tree`` in which every dict key, NamedTuple field or NamedTuple class
    named by a keyword (and accepted by ``filtering``) holds that keyword's value.
    ``KeyError`` for a keyword found nowhere."""
    for key in kwargs:
        if not tree_get_all_with_path(tree, key, filtering):
            raise KeyError(f"tree_set: found no value named {key!r}"
                           + (" given the filtering" if filtering else ""))

    def accepted(path: tuple[Any, ...], value: Any) -> bool:
        return filtering is None or filtering(path, value)

    def rebuild(path: tuple[Any, ...], node: Any) -> Any:
        is_nt = isinstance(node, tuple) and hasattr(node, "_fields")
        if is_nt and type(node).__name__ in kwargs and accepted(path, node):
            return kwargs[type(node).__name__]
        children = _children(node)
        if children is None:
            return node
        new = []
        for entry, child in children:
            name = _key_name(entry)
            child_path = (*path, entry)
            if not isinstance(entry, SequenceKey) and name in kwargs and \
                    accepted(child_path, child):
                new.append(kwargs[name])
            else:
                new.append(rebuild(child_path, child))
        if is_nt:
            return type(node)(*new)
        if isinstance(node, Mapping):
            mapping_type: Any = type(node)
            return mapping_type(zip(node.keys(), new, strict=True))
        if isinstance(node, list | tuple):
            return type(node)(new)
        node_def: PyTreeDef = jax.tree.structure(node, is_leaf=lambda x: x is not node)
        return node_def.unflatten(new)

    return rebuild((), tree)


class _ParamsPlaceholder:
    """Stands for the params in a state built by ``init`` (a pytree node with no leaves)."""


jax.tree_util.register_pytree_node(_ParamsPlaceholder, lambda _: ((), None),
                                   lambda aux, children: _ParamsPlaceholder())


def tree_map_params(initable: Any, f: Callable[..., Any], state: PyTree, /, *rest: Any,
                    transform_non_params: Callable[..., Any] | None = None,
                    is_leaf: Callable[[Any], bool] | None = None) -> PyTree:
    """``f`` mapped over the parts of ``state`` that are trees like the params (moments,
    traces, ...), found by running ``initable.init`` (or ``initable``) on a placeholder:
    each such part p becomes ``jax.tree.map(f, p, *rest)``; every other part is left as is,
    or mapped by ``transform_non_params``. For example, to shard a state like its params.
    """
    init = initable.init if hasattr(initable, "init") else initable
    skeleton = init(_ParamsPlaceholder())

    def map_part(marker: Any, value: Any) -> Any:
        if isinstance(marker, _ParamsPlaceholder):
            return jax.tree.map(f, value, *rest, is_leaf=is_leaf)
        return value if transform_non_params is None else transform_non_params(value)

    return jax.tree.map(map_part, skeleton, state,
                        is_leaf=lambda v: isinstance(v, _ParamsPlaceholder))
