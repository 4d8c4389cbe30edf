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

from gradtx.core.tree import check_same_structure, on_params_mesh

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
    "expect_params",
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

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    states: Any

    def __getitem__(self, key: Any) -> Any:
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


def expect_params(owner: str, params: Any, updates: Any) -> None:
    """Raises ``ValueError`` when a transform that reads the params got none, unless the
    updates are empty (an empty model has nothing to update)."""
    if params is None and jax.tree.leaves(updates):
        raise ValueError(f"{owner}: needs the params; call update(updates, state, params)")


def _increment(count: jax.Array) -> jax.Array:
    """count + 1, saturating at the int32 maximum instead of wrapping."""
    return jnp.where(count < _INT32_MAX, count + 1, count).astype(jnp.int32)


def _counted(raw: GradientTransformation, owner: str) -> GradientTransformation:
    """Wraps a step-consuming transform with the step counter that owns it."""

    def init(params: Params) -> ChainState:
        state = ChainState(count=jnp.zeros([], jnp.int32), states=raw.init(params))
        return on_params_mesh(state, params)  # the counter too, on sharded params

    def update(updates, state, params=None, **extra):
        expect_state(state, ChainState, owner)
        extra.pop("step", None)
        updates, inner = raw.update(updates, state.states, params, step=state.count, **extra)
        return updates, ChainState(count=_increment(state.count), states=inner)

    setattr(update, _RAW, raw)
    return GradientTransformation(init, update)


def stepped(
    init: InitFn,
    update: Callable[..., tuple[Updates, OptState]],
    owner: str,
) -> GradientTransformation:
    """Builds a public transform from an update that reads the keyword ``step``.

    ``update(updates, state, params=None, *, step, **extra)``. On its own the
    result counts steps itself (a chain of one); inside a chain it uses the
    chain's counter.
    """
    return _counted(GradientTransformation(init, update), owner)


class _Signature(NamedTuple):
    """What an update function accepts: the params, the step, which extra keywords."""

    takes_params: bool
    takes_step: bool
    takes_all: bool  # **kwargs
    keywords: frozenset[str]


def _signature(fn: Callable[..., Any]) -> _Signature:
    try:
        sig = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # not introspectable: optax's plain signature
        return _Signature(True, False, False, frozenset())
    kinds = inspect.Parameter
    positional = [p for p in sig if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    names = {p.name for p in sig if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)}
    return _Signature(
        takes_params=len(positional) >= 3 or any(p.kind is kinds.VAR_POSITIONAL for p in sig),
        takes_step="step" in names,
        takes_all=any(p.kind is kinds.VAR_KEYWORD for p in sig),
        keywords=frozenset(names - {p.name for p in positional[:3]}),
    )


class Part:
    """A transform held by a combinator (a chain or a wrapper), called as a chain calls it.

    A step-consuming gradtx transform is called through its raw update with the
    combinator's ``step``, so its state sits in the combinator's state without
    a second counter. Any other transform — gradtx, optax, or written by the
    user against optax's signature ``update(updates, state, params=None)`` — is
    called with what its update accepts: the params if it takes a third
    argument, the step if it names a ``step`` parameter, and the extra keyword
    arguments it names or all of them if it takes ``**kwargs``
    (optax's ``GradientTransformationExtraArgs``).
    """

    def __init__(self, tx: Any, where: str):
        if not (hasattr(tx, "init") and hasattr(tx, "update")):
            raise TypeError(f"{where} must be a GradientTransformation, got {type(tx).__name__}")
        raw = getattr(tx.update, _RAW, None)
        self.uses_step = raw is not None
        self.tx = raw if raw is not None else tx
        self._sig = None if raw is not None else _signature(tx.update)

    def init(self, params: Params) -> OptState:
        return self.tx.init(params)

    def update(
        self, updates: Updates, state: OptState, params: Params | None, step: Any,
        extra: Mapping[str, Any],
    ) -> tuple[Updates, OptState]:
        sig = self._sig
        if sig is None:
            return self.tx.update(updates, state, params, step=step, **extra)
        kwargs = dict(extra) if sig.takes_all else {
            k: v for k, v in extra.items() if k in sig.keywords}
        if sig.takes_step:
            kwargs["step"] = step
        if sig.takes_params:
            return self.tx.update(updates, state, params, **kwargs)
        return self.tx.update(updates, state, **kwargs)


def make_chain(parts: Mapping[Any, Any] | tuple[Any, ...], owner: str) -> GradientTransformation:
    """A chain of ``parts`` (a tuple, or a dict for a named chain) whose errors name ``owner``."""
    named = isinstance(parts, Mapping)
    keys = list(parts.keys()) if isinstance(parts, Mapping) else list(range(len(parts)))
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

    The state is a [`ChainState`][gradtx.ChainState] holding one step counter and a tuple of
    the parts' states (``state[i]``). Parts may be optax transforms: those of
    optax's ``GradientTransformationExtraArgs`` type receive the extra keyword
    arguments, plain ones do not.
    """
    return make_chain(tuple(transforms), "chain")


def named_chain(**transforms: GradientTransformation) -> GradientTransformation:
    """Like [`chain`][gradtx.chain], in keyword order, with each part's state addressable by name.

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
    owner = name or str(getattr(fn, "__name__", "stateless"))

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

    ``None`` leaves in ``params`` pass through, and ``params=None`` (an empty
    model) gives ``None``. Integer and bool params are not trained: they are
    returned unchanged, whatever their update (for example the float0 gradient
    of ``jax.grad(..., allow_int=True)``). A tree mismatch raises
    ``ValueError`` naming the first differing key path.
    """
    if params is None:
        return None
    check_same_structure(params, updates, what="apply_updates: updates", expected_name="params")

    def apply(p, u):
        if p is None:
            return None
        p = jnp.asarray(p)
        if not jnp.issubdtype(p.dtype, jnp.inexact):
            return p
        return (p + u).astype(p.dtype)

    return jax.tree.map(apply, params, updates, is_leaf=lambda x: x is None)
