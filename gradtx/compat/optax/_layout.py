"""optax's state layout on gradtx transforms, and optax's ``chain``.

optax keeps one NamedTuple per component, with that component's own step ``count``
where it needs one and nothing else: ``optax.adam(lr)``'s state is
``(ScaleByAdamState(count, mu, nu), EmptyState())``. A gradtx block keeps its
hyperparameters in its state and reads the step from its chain. ``optax_layout``
bridges the two: the public state is the optax NamedTuple, and each update rebuilds
the gradtx state from it (the per-parameter statistics from the optax fields, the
hyperparameters from a gradtx ``init`` on one scalar per leaf, compiled away under
``jit``), runs the gradtx block with the optax ``count`` as its step, and reads the
optax fields back. No formula is involved: the numbers are the gradtx block's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core.base import EmptyState, GradientTransformation, Part, _increment, expect_state

__all__ = [
    "Field",
    "GradientTransformationExtraArgs",
    "Step",
    "at",
    "chain",
    "named_chain",
    "optax_layout",
    "own_counter",
    "scalar_probe",
    "stateless_layout",
]


class GradientTransformationExtraArgs(GradientTransformation):
    """A [`GradientTransformation`][gradtx.GradientTransformation] whose ``update`` takes
    extra keyword arguments, ``update(updates, state, params=None, **extra_args)``
    (optax's type of the same name; every gradtx transform accepts extra arguments)."""


class Field(NamedTuple):
    """How one optax state field is read from (``get``) and written into (``put``) the
    state of the gradtx transform behind it."""

    get: Callable[[Any], Any]
    put: Callable[[Any, Any], Any]


class Step(NamedTuple):
    """An optax field that holds the step in another form than an int32 ``count``:
    ``read(value)`` is the step, ``write(step)`` the field's value for a step."""

    name: str
    read: Callable[[Any], Any]
    write: Callable[[Any], Any]


def _child(node: Any, key: Any) -> Any:
    return node[key] if isinstance(node, Mapping | list) or (
        isinstance(node, tuple) and not hasattr(node, "_fields")) else getattr(node, key)


def _with_child(node: Any, key: Any, value: Any) -> Any:
    if hasattr(node, "_fields"):
        return node._replace(**{key: value})
    if isinstance(node, Mapping):
        mapping_type: Any = type(node)
        return mapping_type({**node, key: value})
    items = list(node)
    items[key] = value
    return type(node)(items)


def at(*path: Any) -> Field:
    """The gradtx field at ``path`` (attribute names, dict keys, tuple positions)."""

    def get(state: Any) -> Any:
        for key in path:
            state = _child(state, key)
        return state

    def put(state: Any, value: Any) -> Any:
        if not path:
            return value
        head, *rest = path
        return _with_child(state, head, at(*rest).put(_child(state, head), value))

    return Field(get, put)


def scalar_probe(tree: Any) -> Any:
    """``tree`` with every array leaf replaced by a zero scalar of its dtype."""
    return jax.tree.map(lambda x: jnp.zeros((), x.dtype) if hasattr(x, "dtype") else x, tree)


def optax_layout(
    tx: GradientTransformation,
    state_cls: type[Any],
    owner: str,
    *,
    step: str | Step | None = "count",
    **fields: str | Field,
) -> GradientTransformationExtraArgs:
    """``tx`` (a gradtx transform) with a state of ``state_cls`` (optax's NamedTuple).

    Each field of ``state_cls`` is the gradtx state's field of the same name, or the one a
    keyword names (``e_g="e_g2"``) or a ``Field`` maps; ``step`` names the field that
    holds the step (an int32 ``count`` incremented by each update, or a
    ``Step``), ``None`` when optax keeps none. The gradtx transform gets that step.
    """
    part = Part(tx, owner)
    step_field = Step(step, lambda c: c, lambda c: c) if isinstance(step, str) else step
    if part.uses_step and step_field is None:
        raise TypeError(f"{owner}: the gradtx transform needs the step, which "
                        f"{state_cls.__name__} does not keep")
    names = [f for f in state_cls._fields if step_field is None or f != step_field.name]
    how = {f: (at(value) if isinstance(value, str) else value)
           for f in names for value in [fields.get(f, f)]}

    def to_optax(gradtx_state: Any, count: Any) -> Any:
        values = {f: how[f].get(gradtx_state) for f in names}
        if step_field is not None:
            values[step_field.name] = step_field.write(count)
        return state_cls(**values)

    def init(params):
        return to_optax(part.init(params), jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, **extra):
        expect_state(state, state_cls, owner)
        gradtx_state = part.init(scalar_probe(params if params is not None else updates))
        for f in names:
            gradtx_state = how[f].put(gradtx_state, getattr(state, f))
        count = None
        if step_field is not None:
            count = jnp.asarray(step_field.read(getattr(state, step_field.name)), jnp.int32)
        updates, gradtx_state = part.update(updates, gradtx_state, params, count, extra)
        return updates, to_optax(gradtx_state, None if count is None else _increment(count))

    return GradientTransformationExtraArgs(init, update)


def stateless_layout(tx: GradientTransformation, owner: str
                     ) -> GradientTransformationExtraArgs:
    """``tx`` (a gradtx transform that keeps only hyperparameters) with optax's
    ``EmptyState``."""
    return optax_layout(tx, EmptyState, owner, step=None)


class _Inner:
    """A transform held by an optax combinator: called with what its update accepts; a
    step-consuming gradtx transform counts its own steps (as every optax transform does)."""

    def __init__(self, tx: Any, where: str):
        self._part = Part(tx, where)
        self.tx = tx

    def init(self, params: Any) -> Any:
        return self.tx.init(params)

    def update(self, updates: Any, state: Any, params: Any, extra: Mapping[str, Any]
               ) -> tuple[Any, Any]:
        if self._part.uses_step:
            return self.tx.update(updates, state, params, **extra)
        return self._part.update(updates, state, params, None, extra)


def own_counter(tx: GradientTransformation, where: str = "inner"
                ) -> GradientTransformationExtraArgs:
    """``tx`` as optax holds an inner transform: a gradtx transform that needs the step
    keeps its own counter instead of reading the wrapper's."""
    inner = _Inner(tx, where)

    def update(updates, state, params=None, **extra):
        return inner.update(updates, state, params, extra)

    return GradientTransformationExtraArgs(inner.init, update)


def chain(*args: GradientTransformation) -> GradientTransformationExtraArgs:
    """optax.chain: applies ``args`` in order; the state is the tuple of their states.

    Each part receives the extra keyword arguments its update accepts; a gradtx
    transform that needs the step keeps its own counter (its state is its own
    [`ChainState`][gradtx.ChainState]).
    """
    parts = [_Inner(tx, f"chain: argument {i}") for i, tx in enumerate(args)]

    def init(params):
        return tuple(p.init(params) for p in parts)

    def update(updates, state, params=None, **extra):
        if not isinstance(state, tuple) or len(state) != len(parts):
            got = f"{len(state)} states" if isinstance(state, tuple) else type(state).__name__
            raise TypeError(f"chain: expected a tuple of {len(parts)} states, got {got}")
        new_states = []
        for p, s in zip(parts, state, strict=True):
            updates, s = p.update(updates, s, params, extra)
            new_states.append(s)
        return updates, tuple(new_states)

    return GradientTransformationExtraArgs(init, update)


def named_chain(*args: tuple[str, GradientTransformation]) -> GradientTransformationExtraArgs:
    """optax.named_chain: ``chain`` of ``(name, transform)`` pairs; the state is an
    ``OrderedDict`` from each name to its transform's state."""
    for item in args:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise TypeError(f"named_chain: each argument must be a (name, transform) pair, "
                            f"got {item!r}")
    names = [name for name, _ in args]
    if len(set(names)) != len(names):
        raise ValueError(f"named_chain: names must be unique, got {names}")
    parts = {name: _Inner(tx, f"named_chain: {name!r}") for name, tx in args}

    def init(params):
        return OrderedDict((name, p.init(params)) for name, p in parts.items())

    def update(updates, state, params=None, **extra):
        if not isinstance(state, Mapping) or list(state) != names:
            got = list(state) if isinstance(state, Mapping) else type(state).__name__
            raise TypeError(f"named_chain: expected the states of {names}, got {got}")
        new_state = OrderedDict()
        for name, p in parts.items():
            updates, new_state[name] = p.update(updates, state[name], params, extra)
        return updates, new_state

    return GradientTransformationExtraArgs(init, update)
