"""Parameter groups: ``masked``, ``partition`` and ``freeze``.

Polarity (the same everywhere in gradtx): ``True`` in a mask selects a leaf.

* ``masked(inner, mask)`` — ``inner`` transforms the selected leaves; the
  others pass through unchanged (a later part of the chain still sees them);
* ``freeze(mask)`` — the selected leaves are frozen: their updates are zero;
* ``partition(transforms_by_label, labels)`` — every leaf is transformed by
  the transform of its label.

The transforms held by ``masked`` and ``partition`` see only their own leaves:
the others are replaced by [`MaskedNode`][gradtx.MaskedNode], an empty subtree, so no state
is allocated for them. They all read the one step counter of the chain they
sit in (schedules in different groups stay in step).

The usual parameter groups — no weight decay on biases and norm scales::

    decay = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)
    tx = gradtx.chain(gradtx.scale_by_adam(),
                      gradtx.masked(gradtx.add_decayed_weights(1e-2), decay),
                      gradtx.scale_by_learning_rate(1e-3))

A frozen part of a model, with no optimizer state for it::

    tx = gradtx.chain(gradtx.freeze(frozen), gradtx.masked(gradtx.adam(1e-3), trainable))
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple

import numpy as np
from jax.tree_util import (
    PyTreeDef,
    keystr,
    tree_flatten_with_path,
    tree_structure,
    treedef_is_leaf,
)

from gradtx.core.base import EmptyState, GradientTransformation, Part, expect_state, stepped
from gradtx.core.lift import leaf_structs
from gradtx.core.subsets import merge, per_leaf_values, restrict
from gradtx.core.tree import tree_zeros_like
from gradtx.flat._params import FlatParams
from gradtx.wrappers._inner import unaliased

__all__ = [
    "MaskedNode",
    "MaskedState",
    "PartitionState",
    "masked",
    "partition",
    "freeze",
    "is_spec_function",
]

Mask = Any  # a tree of bools (the params' structure or a prefix of it), or params -> such a tree
Labels = Any  # a tree of labels in the same forms


def is_spec_function(spec: Any) -> bool:
    """Whether a mask or labels spec is a function of the params rather than a tree.

    It is a function when it is callable **and** a pytree leaf. A callable that
    is a pytree with children — an equinox-style module, or any class registered
    with ``jax.tree_util`` that also defines ``__call__`` — is read as a tree
    (its leaves are the mask values or labels), not called.
    """
    return callable(spec) and treedef_is_leaf(tree_structure(spec))


class MaskedNode(NamedTuple):
    """An empty subtree: stands for the leaves a wrapped transform does not see."""


class MaskedState(NamedTuple):
    """The state of ``masked``: the inner transform's state, for the selected leaves only."""

    inner_state: Any


class PartitionState(NamedTuple):
    """The state of ``partition``: each label's transform state, by label (``state["adam"]``)."""

    states: dict[Hashable, Any]

    def __getitem__(self, label: Any) -> Any:
        return self.states[label]


class _Groups:
    """A mask or labels tree resolved against a reference tree (the params or updates).

    ``values[i]`` is the mask value or label of the i-th subtree of the
    reference; ``split`` and ``join`` go between a tree and those subtrees.
    """

    _treedef: PyTreeDef

    def __init__(self, spec: Any, ref: Any, owner: str, what: str) -> None:
        tree = spec(ref) if is_spec_function(spec) else spec
        flat, self._treedef = tree_flatten_with_path(tree)
        self.paths = [keystr(path) or "<root>" for path, _ in flat]
        self.values = [value for _, value in flat]
        try:
            self._treedef.flatten_up_to(ref)
        except (ValueError, TypeError):
            raise ValueError(_mismatch(tree, ref, owner, what)) from None

    def split(self, tree: Any) -> list[Any]:
        return self._treedef.flatten_up_to(tree)

    def join(self, subtrees: list[Any]) -> Any:
        return self._treedef.unflatten(subtrees)

    def select(self, tree: Any, keep: list[bool]) -> Any:
        """``tree`` with the subtrees not kept replaced by [`MaskedNode`][gradtx.MaskedNode]."""
        return self.join([s if k else MaskedNode() for s, k in zip(self.split(tree), keep,
                                                                    strict=True)])


def _mismatch(tree: Any, ref: Any, owner: str, what: str) -> str:
    """The message for a mask/labels tree that is not a prefix of the params tree."""
    spec_paths = [p for p, _ in tree_flatten_with_path(tree)[0]]
    ref_paths = [p for p, _ in tree_flatten_with_path(ref)[0]]
    for p in spec_paths:
        if not any(q[: len(p)] == p for q in ref_paths):
            return f"{owner}: the {what} has {keystr(p) or '<root>'}, which the params do not"
    for q in ref_paths:
        if not any(q[: len(p)] == p for p in spec_paths):
            return (f"{owner}: the params have {keystr(q) or '<root>'}, which the {what} "
                    "does not cover")
    return (f"{owner}: the {what} is not a prefix of the params tree: the paths agree but the "
            f"node types differ ({tree_structure(tree)} vs {tree_structure(ref)})")


def _mask(spec: Mask, ref: Any, owner: str) -> _Groups:
    groups = _Groups(spec, ref, owner, "mask")
    for path, value in zip(groups.paths, groups.values, strict=True):
        if not isinstance(value, bool | np.bool_):
            raise TypeError(
                f"{owner}: mask leaves must be Python bools (a mask is static), "
                f"got {type(value).__name__} at {path}"
            )
    return groups


def _labels(spec: Labels, ref: Any, known: Mapping[Hashable, Any], owner: str) -> _Groups:
    groups = _Groups(spec, ref, owner, "labels")
    for path, label in zip(groups.paths, groups.values, strict=True):
        if not isinstance(label, Hashable) or label not in known:
            raise ValueError(
                f"{owner}: label {label!r} at {path} has no transform; "
                f"transforms_by_label has {list(known)}"
            )
    return groups


class _Selection:
    """A mask or labels spec resolved to one value per subtree of the params (or per leaf
    of flat params), with the two operations the wrappers need: ``select`` the part of
    a tree with some values, and ``merge`` transformed parts back into the updates.

    On a tree the unselected subtrees become [`MaskedNode`][gradtx.MaskedNode]; on
    [`FlatParams`][gradtx.flat.FlatParams] the selection is a ``FlatParams`` of the kept
    leaves (free when the buckets follow the selection, see ``gradtx.core.subsets``).
    """

    def __init__(self, groups_of: Callable[[Any], _Groups], ref: Any):
        self.flat = isinstance(ref, FlatParams)
        if self.flat:
            structs = leaf_structs(ref)
            groups = groups_of(structs)
            self.values = per_leaf_values(groups.values, groups.split(structs))
        else:
            self._groups = groups_of(ref)
            self.values = self._groups.values

    def select(self, tree: Any, keep: list[bool]) -> Any:
        if tree is None:
            return None
        if self.flat:
            return restrict(tree, keep)
        return self._groups.select(tree, keep)

    def merge(self, updates: Any, parts: list[tuple[list[bool], Any]]) -> Any:
        if self.flat:
            return merge(updates, parts)
        merged = self._groups.split(updates)
        for keep, out in parts:
            for i, (o, k) in enumerate(zip(self._groups.split(out), keep, strict=True)):
                if k:
                    merged[i] = o
        return self._groups.join(merged)


def _check_spec(owner: str, name: str, spec: Any) -> None:
    if spec is None:
        raise TypeError(f"{owner}: {name} must be a tree or a function of the params, got None")


def _wrapper(init: Callable[..., Any], update: Callable[..., Any], owner: str, uses_step: bool
             ) -> GradientTransformation:
    return stepped(init, update, owner) if uses_step else GradientTransformation(init, update)


def masked(inner: GradientTransformation, mask: Mask) -> GradientTransformation:
    """Applies ``inner`` to the leaves where ``mask`` is ``True``; the others pass unchanged.

        u_i ← inner(u)_i  where mask_i,      u_i ← u_i  elsewhere

    ``inner`` sees only the selected leaves (the others are [`MaskedNode`][gradtx.MaskedNode]),
    so its state exists for them alone; global quantities it computes (a
    global norm, for example) are over the selected leaves. Inside a chain,
    ``inner`` reads the chain's step.

    Args:
      inner: the transform to apply (gradtx or optax).
      mask: a tree of bools like the params (or a prefix of it), or a function
        of the params returning one (see
        [`is_spec_function`][gradtx.wrappers.is_spec_function]); ``True`` selects.
    """
    owner = "masked"
    _check_spec(owner, "mask", mask)
    part = Part(inner, f"{owner}: inner")

    def selection(ref):
        return _Selection(lambda r: _mask(mask, r, owner), ref)

    def init(params):
        groups = selection(params)
        return unaliased(MaskedState(part.init(groups.select(params, groups.values))), params)

    def update(updates, state, params=None, *, step=None, **extra):
        expect_state(state, MaskedState, owner)
        groups = selection(updates if params is None else params)
        keep = groups.values
        out, inner_state = part.update(
            groups.select(updates, keep), state.inner_state, groups.select(params, keep), step,
            extra,
        )
        return groups.merge(updates, [(keep, out)]), MaskedState(inner_state)

    return _wrapper(init, update, owner, part.uses_step)


def partition(
    transforms_by_label: Mapping[Hashable, GradientTransformation], labels: Labels
) -> GradientTransformation:
    """Transforms each leaf by the transform of its label.

        u_i ← T_{label(i)}(u)_i

    Each transform sees only the leaves with its label (the others are
    [`MaskedNode`][gradtx.MaskedNode]) and keeps state for them alone. All of them read the
    one step counter of the chain, so a schedule in one group and a bias
    correction in another stay in step.

    Args:
      transforms_by_label: ``{label: transform}``.
      labels: a tree of labels like the params (or a prefix of it), or a
        function of the params returning one (see
        [`is_spec_function`][gradtx.wrappers.is_spec_function]). A label without a
        transform raises ``ValueError`` naming its path.

    The state is [`PartitionState`][gradtx.wrappers.PartitionState];
    ``state.states[label]`` is the state of that label's transform.
    """
    owner = "partition"
    if not isinstance(transforms_by_label, Mapping) or not transforms_by_label:
        raise TypeError(f"{owner}: transforms_by_label must be a non-empty mapping "
                        f"{{label: transform}}, got {transforms_by_label!r}")
    _check_spec(owner, "labels", labels)
    parts = {k: Part(tx, f"{owner}: transform for label {k!r}")
             for k, tx in transforms_by_label.items()}

    def selection(ref):
        return _Selection(lambda r: _labels(labels, r, parts, owner), ref)

    def init(params):
        groups = selection(params)
        return unaliased(PartitionState({
            k: part.init(groups.select(params, [v == k for v in groups.values]))
            for k, part in parts.items()
        }), params)

    def update(updates, state, params=None, *, step=None, **extra):
        expect_state(state, PartitionState, owner)
        if set(state.states) != set(parts):
            raise TypeError(f"{owner}: state holds labels {list(state.states)}, "
                            f"expected {list(parts)}")
        groups = selection(updates if params is None else params)
        outs, states = [], {}
        for k, part in parts.items():
            keep = [v == k for v in groups.values]
            out, states[k] = part.update(
                groups.select(updates, keep), state.states[k], groups.select(params, keep), step,
                extra,
            )
            outs.append((keep, out))
        return groups.merge(updates, outs), PartitionState(states)

    return _wrapper(init, update, owner, any(p.uses_step for p in parts.values()))


def freeze(mask: Mask) -> GradientTransformation:
    """Freezes the leaves where ``mask`` is ``True``: their updates become zero.

        u_i ← 0  where mask_i,      u_i ← u_i  elsewhere

    Stateless. Transforms earlier in the chain still keep state for the frozen
    leaves; to avoid that, hold the optimizer in ``masked`` with the opposite
    mask: ``chain(freeze(frozen), masked(adam(1e-3), trainable))``.

    Args:
      mask: a tree of bools like the params (or a prefix of it), or a function
        of the params returning one (see
        [`is_spec_function`][gradtx.wrappers.is_spec_function]); ``True`` freezes.
    """
    owner = "freeze"
    _check_spec(owner, "mask", mask)

    def selection(ref):
        return _Selection(lambda r: _mask(mask, r, owner), ref)

    def init(params):
        selection(params)
        return EmptyState()

    def update(updates, state, params=None, **extra):
        del extra
        expect_state(state, EmptyState, owner)
        groups = selection(updates if params is None else params)
        frozen = groups.values
        zeros = tree_zeros_like(groups.select(updates, frozen))
        return groups.merge(updates, [(frozen, zeros)]), state

    return GradientTransformation(init, update)
