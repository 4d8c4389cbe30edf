"""``flatten(tx)``: the flat path for users who keep tree params."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax

from gradtx.core.base import GradientTransformation, expect_state
from gradtx.flat._layout import Layout, build_layout
from gradtx.flat._params import FlatParams

PyTree = Any

__all__ = ["FlattenState", "flatten"]


class FlattenState(NamedTuple):
    """The state of ``flatten(tx)``: ``tx``'s state, made from (and kept in) flat params."""

    inner_state: Any


def _layout_in(state: Any) -> Layout | None:
    for leaf in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, FlatParams)):
        if isinstance(leaf, FlatParams):
            return leaf.layout
    return None


def _flat_extra(extra: dict[str, Any], layout: Layout) -> dict[str, Any]:
    """The extra arguments of a line search, seen from the flat buffers: ``grad`` raveled
    into the layout, ``value_fn`` (written for the tree) called on the unraveled params."""
    extra = dict(extra)
    grad = extra.get("grad")
    if grad is not None and not isinstance(grad, FlatParams):
        extra["grad"] = FlatParams(layout.ravel(grad, what="flatten: grad"), layout)
    value_fn = extra.get("value_fn")
    if value_fn is not None:

        @functools.wraps(value_fn)  # keeps value_fn's signature for its keyword arguments
        def flat_value_fn(flat: FlatParams, *args: Any, **kwargs: Any) -> Any:
            return value_fn(flat.unravel(), *args, **kwargs)

        extra["value_fn"] = flat_value_fn
    return extra


def flatten(tx: GradientTransformation, *, group: Any = None) -> GradientTransformation:
    """``tx`` run on flat buffers for tree params: tree in, tree out, state flat.

        state = flatten(tx).init(params)             # tx's state, in flat buffers
        updates, state = flatten(tx).update(grads, state, params)   # a tree, like grads

    Each update concatenates the gradients (and params) into one buffer per
    bucket, runs ``tx`` once per bucket, and splits the updates back into the
    tree. The per-parameter state is flat: a jitted step passes a few arrays
    instead of one per leaf and state. ``group`` is [`gradtx.flat.ravel`][]'s.
    Extra keyword arguments reach ``tx``.
    """

    def init(params):
        layout = build_layout(params, group)
        return FlattenState(tx.init(FlatParams(layout.ravel(params), layout)))

    def update(updates, state, params=None, **extra):
        expect_state(state, FlattenState, "flatten")
        if not jax.tree.leaves(updates):
            out, inner = tx.update(updates, state.inner_state, params, **extra)
            return out, FlattenState(inner)
        layout = _layout_in(state.inner_state)
        if layout is None or layout.treedef != jax.tree.structure(updates):
            layout = build_layout(updates, group)
        flat_u = FlatParams(layout.ravel(updates, what="flatten: updates"), layout)
        flat_p = None if params is None else FlatParams(
            layout.ravel(params, what="flatten: params"), layout)
        out, inner = tx.update(flat_u, state.inner_state, flat_p, **_flat_extra(extra, layout))
        return out.unravel(), FlattenState(inner)

    return GradientTransformation(init, update)
