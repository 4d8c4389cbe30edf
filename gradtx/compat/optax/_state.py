"""Optimizer states between optax and gradtx, so that a run checkpointed with optax resumes
with gradtx at the same step (and back).

Both libraries keep the same per-parameter statistics under the same field names (Adam's
``mu`` and ``nu``, momentum's ``trace``, RMSProp's ``nu``, Lion's ``mu``, Adafactor's
``v_row``/``v_col``/``v`` and its momentum's ``ema``); they differ in how the states nest
and in the step counter (optax: one ``count`` per component that needs one; gradtx: one
counter for the whole optimizer). A conversion fills a **target state made by the other
library's ``init``** with the statistics of the source, field name by field name in the
order they appear, and sets the step counters.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.tree_util import PyTreeDef

__all__ = ["state_from_optax", "state_to_optax"]

MOMENT_FIELDS = ("mu", "nu", "trace", "ema", "v_row", "v_col", "v", "sum_of_squares")


def _is_named_tuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _moments(state: Any) -> dict[str, list[Any]]:
    """Every per-parameter statistic of ``state`` by field name, in traversal order."""
    found: dict[str, list[Any]] = {}

    def walk(node: Any) -> None:
        if _is_named_tuple(node):
            for field in node._fields:
                child = getattr(node, field)
                if field in MOMENT_FIELDS and child is not None:
                    found.setdefault(field, []).append(child)
                elif field != "hyperparams":
                    walk(child)
        elif isinstance(node, tuple | list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            for child in node.values():
                walk(child)

    walk(state)
    return found


def _counts(state: Any) -> list[Any]:
    out = []

    def walk(node: Any) -> None:
        if _is_named_tuple(node):
            for field in node._fields:
                child = getattr(node, field)
                if field == "count" and jnp.ndim(child) == 0:
                    out.append(child)
                elif field not in MOMENT_FIELDS and field != "hyperparams":
                    walk(child)
        elif isinstance(node, tuple | list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            for child in node.values():
                walk(child)

    walk(state)
    return out


def _fill(target: Any, source: dict[str, list[Any]], count: Any, what: str) -> Any:
    used = {name: 0 for name in source}

    def take(field: str, old: Any) -> Any:
        values = source.get(field, [])
        if used.get(field, 0) >= len(values):
            raise ValueError(f"{what}: the target state has {used.get(field, 0) + 1} "
                             f"{field!r} statistic(s), the source {len(values)}; were both "
                             "states made for the same optimizer?")
        new = values[used[field]]
        used[field] += 1
        new_treedef: PyTreeDef = jax.tree.structure(new)
        if new_treedef != jax.tree.structure(old) or any(
                jnp.shape(a) != jnp.shape(b)
                for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(old), strict=True)):
            raise ValueError(f"{what}: {field!r} of the source does not match the target's "
                             "tree or shapes")
        return jax.tree.map(lambda a, b: jnp.asarray(a, b.dtype), new, old)

    def walk(node: Any) -> Any:
        if _is_named_tuple(node):
            fields = {}
            for field in node._fields:
                child = getattr(node, field)
                if field in MOMENT_FIELDS and child is not None:
                    fields[field] = take(field, child)
                elif field == "count" and jnp.ndim(child) == 0:
                    fields[field] = jnp.asarray(count, child.dtype)
                elif field == "hyperparams":
                    fields[field] = child
                else:
                    fields[field] = walk(child)
            return type(node)(**fields)
        if isinstance(node, tuple | list):
            return type(node)(walk(c) for c in node)
        if isinstance(node, dict):
            return type(node)({k: walk(c) for k, c in node.items()})
        return node

    out = walk(target)
    left = {name: len(values) - used.get(name, 0) for name, values in source.items()
            if len(values) > used.get(name, 0)}
    if left:
        raise ValueError(f"{what}: the target state has no place for the source's {left}; "
                         "were both states made for the same optimizer?")
    return out


def state_from_optax(optax_state: Any, target: Any, step: int | None = None) -> Any:
    """The gradtx state ``target`` (from ``tx.init(params)``) holding ``optax_state``'s statistics.

    The step counter is optax's ``count`` (the largest one found), or ``step`` when given
    (needed for optax states without a count, such as ``optax.sgd``'s, when the gradtx
    optimizer follows a schedule). Raises ``ValueError`` when the states do not correspond.
    """
    counts = _counts(optax_state)
    count = step if step is not None else (max(int(c) for c in counts) if counts else 0)
    return _fill(target, _moments(optax_state), count, "state_from_optax")


def state_to_optax(gradtx_state: Any, target: Any) -> Any:
    """The optax state ``target`` (from ``optax_tx.init(params)``) holding the gradtx statistics;
    every optax ``count`` is set to gradtx's step counter."""
    counts = _counts(gradtx_state)
    count = max(int(c) for c in counts) if counts else 0
    return _fill(target, _moments(gradtx_state), count, "state_to_optax")
