"""The core protocol: ``GradientTransformation``, ``chain`` and the step counter.

A transformation is a pure pair::

    state = tx.init(params)
    updates, state = tx.update(updates, state, params=None, **extra_args)

Extra keyword arguments (for example ``value=loss``) reach every gradtx
transform in a chain; transforms ignore the ones they do not use.

**One step counter per optimizer.** Building blocks that need the step t
(bias correction, schedules) do not count for themselves: the outermost
``chain`` owns a single int32 counter, ``ChainState.count``, and passes it to
its parts as the keyword ``step`` (the number of updates already applied, so
the first update sees ``step = 0``). Such a block used on its own is a chain of
one. Chains nested in chains share the outermost counter.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from gradtx.core.tree import check_same_structure

PyTree = Any
Params = PyTree
Updates = PyTree
OptState = Any

__all__ = [
    "GradientTransformation",
    "ChainState",
    "EmptyState",
    "chain",
    "named_chain",
    "identity",
    "stateless",
    "apply_updates",
    "expect_state",
    "stepped",
    "make_chain",
    "Part",
]

_INT32_MAX = jnp.iinfo(jnp.int32).max
_RAW = "__gradtx_raw__"


class InitFn(Protocol):
    def __call__(self, params: Params) -> OptState: ...


class UpdateFn(Protocol):
    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """A pure pair of functions ``(init, update)``.

    ``init(params) -> state`` and
    ``update(updates, state, params=None, **extra_args) -> (updates, state)``.
    Compatible with ``optax.GradientTransformation`` wherever optax expects one.
    """

    init: InitFn
    update: UpdateFn


class EmptyState(NamedTuple):
    """The state of a stateless transformation."""


class ChainState(NamedTuple):
    """The state of a chain: one step counter and the state of every part.

    ``states`` is a tuple (``chain``) or a dict (``named_chain``); index the
    chain state directly: ``state[0]``, ``state["adam"]``. A building block used
    on its own is a chain of one, whose ``states`` is that block's state, and
    whose fields are forwarded (``state.mu``).
    """

    count: jax.Array
    states: Any

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        return self.states[key]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.states, name)


def expect_state(state: Any, cls: type, owner: str) -> None:
    """Raises ``TypeError`` unless ``state`` is a ``cls`` (a state from another transform)."""
    if type(state) is not cls:
        raise TypeError(
            f"{owner}: expected a state of type {cls.__name__}, got {type(state).__name__}; "
            "was this state made by a different transformation?"
        )


def _increment(count: jax.Array) -> jax.Array:
    """count + 1, saturating at the int32 maximum instead of wrapping."""
    return jnp.where(count < _INT32_MAX, count + 1, count).astype(jnp.int32)


def _counted(raw: GradientTransformation, owner: str) -> GradientTransformation:
    """Wraps a step-consuming transform with the step counter that owns it."""

    def init(params: Params) -> ChainState:
        return ChainState(count=jnp.zeros([], jnp.int32), states=raw.init(params))

    def update(updates, state, params=None, **extra):
        expect_state(state, ChainState, owner)
        extra.pop("step", None)
        updates, inner = raw.update(updates, state.states, params, step=state.count, **extra)
        return updates, ChainState(count=_increment(state.count), states=inner)

    setattr(update, _RAW, raw)
    return GradientTransformation(init, update)


def stepped(
    init: Callable[[Params], OptState],
    update: Callable[..., tuple[Updates, OptState]],
    owner: str,
) -> GradientTransformation:
    """Builds a public transform from an update that reads the keyword ``step``.

    ``update(updates, state, params=None, *, step, **extra)``. On its own the
    result counts steps itself (a chain of one); inside a chain it uses the
    chain's counter.
    """
    return _counted(GradientTransformation(init, update), owner)


def _accepts_kwargs(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class Part:
    """A transform held by a combinator (a chain or a wrapper), called as a chain calls it.

    A step-consuming gradtx transform is called through its raw update with the
    combinator's ``step``, so its state sits in the combinator's state without
    a second counter; other gradtx transforms get the extra keyword arguments
    too; optax transforms get the user's extra arguments when their update
    accepts ``**kwargs`` (``GradientTransformationExtraArgs``), else none.
    """

    def __init__(self, tx: Any, where: str):
        if not (hasattr(tx, "init") and hasattr(tx, "update")):
            raise TypeError(f"{where} must be a GradientTransformation, got {type(tx).__name__}")
        raw = getattr(tx.update, _RAW, None)
        self.uses_step = raw is not None
        self.tx = raw if raw is not None else tx
        self.is_gradtx = raw is not None or isinstance(tx, GradientTransformation)
        self.forwards_extra = self.is_gradtx or _accepts_kwargs(tx.update)

    def init(self, params: Params) -> OptState:
        return self.tx.init(params)

    def update(
        self, updates: Updates, state: OptState, params: Params | None, step: Any,
        extra: Mapping[str, Any],
    ) -> tuple[Updates, OptState]:
        if self.is_gradtx:
            return self.tx.update(updates, state, params, step=step, **extra)
        if self.forwards_extra:
            return self.tx.update(updates, state, params, **extra)
        return self.tx.update(updates, state, params)


def make_chain(parts: Mapping[Any, Any] | tuple, owner: str) -> GradientTransformation:
    """A chain of ``parts`` (a tuple, or a dict for a named chain) whose errors name ``owner``."""
    named = isinstance(parts, Mapping)
    keys = list(parts.keys()) if named else list(range(len(parts)))
    where = "named_chain: argument {!r}" if named else "chain: argument {}"
    calls = {k: Part(parts[k], where.format(k)) for k in keys}

    def pack(values):
        return dict(zip(keys, values, strict=True)) if named else tuple(values)

    def init(params):
        return pack(calls[k].init(params) for k in keys)

    def update(updates, state, params=None, **extra):
        if named:
            if not isinstance(state, Mapping) or set(state.keys()) != set(keys):
                got = sorted(state.keys()) if isinstance(state, Mapping) else type(state).__name__
                raise TypeError(f"{owner}: expected states for parts {sorted(keys)}, got {got}")
        elif not isinstance(state, tuple) or len(state) != len(keys):
            got = f"{len(state)} states" if isinstance(state, tuple) else type(state).__name__
            raise TypeError(f"{owner}: expected a tuple of {len(keys)} states, got {got}")
        step = extra.pop("step", None)
        new_states = []
        for k in keys:
            updates, s = calls[k].update(updates, state[k], params, step, extra)
            new_states.append(s)
        return updates, pack(new_states)

    return _counted(GradientTransformation(init, update), owner)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Applies ``transforms`` in order: ``chain(t1, t2)`` runs t1 first.

    The state is a :class:`ChainState` holding one step counter and a tuple of
    the parts' states (``state[i]``). Parts may be optax transforms: those of
    optax's ``GradientTransformationExtraArgs`` type receive the extra keyword
    arguments, plain ones do not.
    """
    return make_chain(tuple(transforms), "chain")


def named_chain(**transforms: GradientTransformation) -> GradientTransformation:
    """Like :func:`chain`, in keyword order, with each part's state addressable by name.

    ``state["adam"].mu``. Restoring a checkpoint into a chain whose parts were
    reordered or renamed fails loudly instead of loading the wrong state.
    """
    if not transforms:
        raise ValueError("named_chain: needs at least one named transform")
    return make_chain(dict(transforms), "named_chain")


def identity() -> GradientTransformation:
    """Leaves the updates unchanged; the state is empty."""

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra):
        del params, extra
        return updates, state

    return GradientTransformation(init, update)


def stateless(
    fn: Callable[[Updates, Params | None], Updates], name: str | None = None
) -> GradientTransformation:
    """A transformation from a pure function ``fn(updates, params) -> updates``."""
    owner = name or getattr(fn, "__name__", "stateless")

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra):
        del extra
        expect_state(state, EmptyState, owner)
        return fn(updates, params), state

    return GradientTransformation(init, update)


def apply_updates(params: Params, updates: Updates) -> Params:
    """θ ← θ + Δθ, leaf by leaf, each result cast to its param's dtype.

    ``None`` leaves in ``params`` pass through. A tree mismatch raises
    ``ValueError`` naming the first differing key path.
    """
    check_same_structure(params, updates, what="apply_updates: updates", expected_name="params")
    return jax.tree.map(
        lambda p, u: None if p is None else (jnp.asarray(p) + u).astype(jnp.result_type(p)),
        params,
        updates,
        is_leaf=lambda x: x is None,
    )
