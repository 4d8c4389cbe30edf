"""Numeric hyperparameters held in the optimizer state, readable and settable by name.

Every gradtx building block stores its numeric hyperparameters (learning rate,
decays, eps, weight decay, ...) in a ``hyperparams`` dict inside its state, as
scalar arrays of float32 — float64 when the params are float64 — and never in
the params' dtype. Two consequences:

* changing a value between steps ([`set_hyperparams`][gradtx.set_hyperparams]) reuses the compiled
  step, since only an array's value changes;
* low-precision params do not round the hyperparameters (Adam's b2 = 0.999 is
  exactly representable in float32, while in bfloat16 it rounds to 1.0).

A hyperparameter given as a schedule is stored as [`ScheduledValue`][gradtx.ScheduledValue], the
value used by the most recent update; it is read like the others but cannot be
set, since the schedule recomputes it every step.

Each hyperparameter is declared with its accepted ``Interval``;
the check runs when the transform is built and again in [`set_hyperparams`][gradtx.set_hyperparams].
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.core.base import _RAW, GradientTransformation, _counted
from gradtx.core.validate import Interval, _is_traced, check_number, is_schedule

__all__ = [
    "ScheduledValue",
    "HyperParams",
    "hyperparam_dtype",
    "get_hyperparams",
    "set_hyperparams",
    "Entry",
    "Path",
    "entries",
    "replace",
    "StaticValue",
    "static_hyperparams",
    "fold_hyperparams",
    "unfold_hyperparams",
]


class ScheduledValue(NamedTuple):
    """A hyperparameter that follows a schedule; ``value`` is the last one used."""

    value: jax.Array


@jax.tree_util.register_static
class StaticValue:
    """A hyperparameter folded into the compiled step (see
    [`static_hyperparams`][gradtx.static_hyperparams]): a pytree node without leaves whose
    value and dtype are static data, so that ``jit`` traces it as a constant.

    ``value`` is a Python number, or a tuple of them (``ns_coeffs``), holding exactly the
    value the state's scalar array held; ``array()`` gives it back as a NumPy array of
    ``dtype``, bit for bit.
    """

    __slots__ = ("value", "dtype")

    def __init__(self, value: Any, dtype: Any) -> None:
        self.value = value
        self.dtype = np.dtype(dtype)

    @classmethod
    def of(cls, stored: Any) -> StaticValue:
        """The static form of a state's hyperparameter array."""
        arr = np.asarray(stored)
        return cls(arr.item() if arr.ndim == 0 else tuple(arr.tolist()), arr.dtype)

    def array(self) -> np.ndarray:
        return np.asarray(self.value, self.dtype)

    def __eq__(self, other: object) -> bool:
        return (type(other) is StaticValue and self.dtype == other.dtype
                and _same_bits(self.value, other.value))

    def __hash__(self) -> int:  # of the bits, as __eq__ compares (each nan object hashes apart)
        return hash((np.asarray(self.value).tobytes(), self.dtype))

    def __repr__(self) -> str:
        return f"StaticValue({self.value!r}, {self.dtype.name})"


def _same_bits(a: Any, b: Any) -> bool:
    """Equal numbers, with nan equal to nan (so a state with a static nan still hits the
    ``jit`` cache) and 0.0 distinct from -0.0."""
    return np.asarray(a).tobytes() == np.asarray(b).tobytes() and np.shape(a) == np.shape(b)


def hyperparam_dtype(params: Any) -> np.dtype:
    """float64 when any floating leaf of ``params`` is 64-bit (or complex128), else float32."""
    for leaf in jax.tree.leaves(params):
        dtype = getattr(leaf, "dtype", None)
        if dtype is not None and jnp.issubdtype(dtype, jnp.inexact) and (
                np.dtype(dtype).itemsize > (8 if jnp.issubdtype(dtype, jnp.complexfloating)
                                            else 4)):
            return np.dtype(jnp.float64)
    return np.dtype(jnp.float32)


Spec = tuple[Any, Interval]
"""A hyperparameter's declaration: ``(value, accepted interval)``; the value is a number,
a schedule of the step, or (``ns_coeffs``) a tuple of numbers."""


def _check_value(owner: str, name: str, value: Any, interval: Interval) -> None:
    if isinstance(value, tuple):
        for v in value:
            interval.check(owner, name, v, allow_schedule=False)
    else:
        interval.check(owner, name, value)


class HyperParams:
    """A transform's numeric hyperparameters, each a number or a schedule of the step.

    Built from ``name=(value, interval)`` declarations, each checked at once.
    Used by the building blocks: ``init`` puts them in the state, ``current``
    reads the values for this step (evaluating schedules), ``store`` writes
    them back.
    """

    def __init__(self, owner: str, **specs: Spec):
        self.owner = owner
        self.values: dict[str, Any] = {}
        self.intervals: dict[str, Interval] = {}
        for name, spec in specs.items():
            if not (isinstance(spec, tuple) and len(spec) == 2
                    and isinstance(spec[1], Interval)):
                raise TypeError(f"{owner}: hyperparameter {name} must be declared as "
                                f"(value, Interval), got {spec!r}")
            value, interval = spec
            _check_value(owner, name, value, interval)
            self.values[name] = value
            self.intervals[name] = interval

    @property
    def scheduled(self) -> bool:
        """True when some hyperparameter follows a schedule (the step is then needed)."""
        return any(callable(v) for v in self.values.values())

    def init(self, params: Any) -> dict[str, Any]:
        dtype = hyperparam_dtype(params)
        folding = _FOLDING.get()
        out: dict[str, Any] = {}
        for name, v in self.values.items():
            if callable(v):
                out[name] = ScheduledValue(jnp.array(v(0), dtype))
            elif (folding is not None and folding.wants(name)
                  and not any(map(_is_traced, jax.tree.leaves(v)))):
                out[name] = StaticValue.of(np.asarray(v, dtype))
            else:
                out[name] = jnp.array(v, dtype)  # a copy: no state leaf aliases a user's array
        return out

    def current(self, stored: Mapping[str, Any], step: Any) -> dict[str, jax.Array]:
        if not isinstance(stored, Mapping) or set(stored) != set(self.values):
            got = sorted(stored) if isinstance(stored, Mapping) else type(stored).__name__
            raise TypeError(
                f"{self.owner}: state holds hyperparameters {got}, expected {sorted(self.values)}"
            )
        out: dict[str, Any] = {}
        for name, v in self.values.items():
            if callable(v):
                if step is None:
                    raise ValueError(f"{self.owner}: {name} follows a schedule and needs the step")
                dtype = stored[name].value.dtype
                out[name] = jnp.asarray(v(step), dtype)
            elif isinstance(stored[name], StaticValue):
                out[name] = stored[name].array()  # a constant of the compiled step
            else:
                out[name] = stored[name]
        return out

    def store(self, current: Mapping[str, jax.Array],
              stored: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The state's ``hyperparams`` after a step: this step's values, except that a
        [`StaticValue`][gradtx.StaticValue] of ``stored`` stays as it was."""
        out: dict[str, Any] = {}
        for name, v in self.values.items():
            if callable(v):
                out[name] = ScheduledValue(current[name])
            elif stored is not None and isinstance(stored.get(name), StaticValue):
                out[name] = stored[name]
            else:
                out[name] = current[name]
        return out


class _Folding(NamedTuple):
    names: frozenset[str] | None  # None: every hyperparameter given as a number

    def wants(self, name: str) -> bool:
        return self.names is None or name in self.names


_FOLDING: contextvars.ContextVar[_Folding | None] = contextvars.ContextVar(
    "gradtx_folding", default=None)


@contextlib.contextmanager
def _folding(names: frozenset[str] | None) -> Iterator[None]:
    token = _FOLDING.set(_Folding(names))
    try:
        yield
    finally:
        _FOLDING.reset(token)


def _names_argument(owner: str, names: str | Iterable[str] | None) -> frozenset[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        names = (names,)
    try:
        out = tuple(names)
    except TypeError:
        raise TypeError(f"{owner}: names must be a hyperparameter name, an iterable of names "
                        f"or None, got {type(names).__name__}") from None
    for n in out:
        if not isinstance(n, str) or not n or "/" in n:
            raise TypeError(f"{owner}: names must be bare hyperparameter names such as "
                            f"'learning_rate' or 'b1', got {n!r}")
    return frozenset(out)


def static_hyperparams(tx: GradientTransformation,
                       names: str | Iterable[str] | None = None) -> GradientTransformation:
    """``tx`` with its numeric hyperparameters compiled in as constants.

    By default every hyperparameter is a
    float32 scalar array in the state, so that
    [`set_hyperparams`][gradtx.set_hyperparams] changes it without recompiling. In the
    compiled step such a scalar is a runtime operand of every per-leaf kernel, and XLA
    cannot fold expressions of it (``1 − β₁``, ``−α``). Here the hyperparameters named
    in ``names`` (bare names as the blocks declare them, e.g. ``"b1"``,
    ``"learning_rate"``; ``None``: all) that are given as numbers are held in the state as
    [`StaticValue`][gradtx.StaticValue] nodes without leaves: ``jit``
    traces them as constants of the same dtype and value, so the results are those of
    ``tx`` bit for bit wherever XLA folds the constants exactly (IEEE arithmetic on the
    same float32 numbers) — tested for the library's optimizers — and the step compiles
    faster on many-leaf models. Scheduled hyperparameters stay in the state (they change
    every step).

    Changing a static hyperparameter means building a new transform (and compiling a new
    step); ``set_hyperparams`` refuses it. ``get_hyperparams`` reads it as before. The
    state has fewer leaves than ``tx``'s:
    [`unfold_hyperparams`][gradtx.unfold_hyperparams] and
    [`fold_hyperparams`][gradtx.fold_hyperparams] convert between the two, e.g. to resume
    a checkpoint written by the other. Transforms whose state holds no gradtx
    hyperparameters (optax's, ``gradtx.compat.optax``'s) are unchanged in effect. A name
    no block of ``tx`` declares raises ``KeyError`` at ``init``.
    """
    owner = "static_hyperparams"
    if not (hasattr(tx, "init") and hasattr(tx, "update")):
        raise TypeError(f"{owner}: tx must be a GradientTransformation, got "
                        f"{type(tx).__name__}")
    wanted = _names_argument(owner, names)

    def folded_init(inner_init: Any) -> Any:
        def init(params: Any) -> Any:
            with _folding(wanted):
                state = inner_init(params)
            _check_names_found(owner, state, wanted)
            return state
        return init

    raw = getattr(tx.update, _RAW, None)
    if raw is not None:
        return _counted(GradientTransformation(folded_init(raw.init), raw.update), owner)
    return GradientTransformation(folded_init(tx.init), tx.update)


def _check_names_found(owner: str, state: Any, wanted: frozenset[str] | None) -> None:
    if wanted is None:
        return
    found = {p[-1] for p, e in entries(state).items() if isinstance(e.value, StaticValue)}
    missing = sorted(wanted - found)
    if missing:
        known = sorted({p[-1] for p, e in entries(state).items()
                        if not isinstance(e.value, ScheduledValue)})
        raise KeyError(f"{owner}: no hyperparameter given as a number is named {missing}; "
                       f"the transform's are {known}")


def fold_hyperparams(state: Any, names: str | Iterable[str] | None = None) -> Any:
    """A copy of ``state`` (made without [`static_hyperparams`][gradtx.static_hyperparams])
    whose hyperparameters named in ``names`` (``None``: all that hold a number) are
    [`StaticValue`][gradtx.StaticValue] nodes: the state
    ``static_hyperparams(tx, names).init`` would have made, with the values this state
    holds. Needs concrete values (call it outside ``jit``)."""
    wanted = _names_argument("fold_hyperparams", names)
    targets: dict[Path, Any] = {}
    for path, (value, holder) in entries(state).items():
        if isinstance(value, ScheduledValue | StaticValue) or (holder, path[-1]) not in _RANGES:
            continue
        if wanted is not None and path[-1] not in wanted:
            continue
        if _is_traced(value):
            raise ValueError(f"fold_hyperparams: hyperparameter {'/'.join(path)} is traced; "
                             "fold a concrete state, outside jit")
        targets[path] = StaticValue.of(value)
    folded = _replace(state, (), targets)
    _check_names_found("fold_hyperparams", folded, wanted)
    return folded


def unfold_hyperparams(state: Any, paths: Iterable[Path] | None = None) -> Any:
    """A copy of ``state`` whose [`StaticValue`][gradtx.StaticValue]
    hyperparameters (those at ``paths``, as ``gradtx.core.hyperparams.entries``
    gives them; ``None``: all) are scalar arrays again: the state of the transform without
    [`static_hyperparams`][gradtx.static_hyperparams]."""
    only = None if paths is None else set(paths)
    targets = {path: jnp.asarray(value.array()) for path, (value, _) in entries(state).items()
               if isinstance(value, StaticValue) and (only is None or path in only)}
    return _replace(state, (), targets)


_RANGES: dict[tuple[type, str], tuple[str, Interval]] = {}


def register_ranges(state_cls: type, hyper: HyperParams) -> None:
    """Records, for [`set_hyperparams`][gradtx.set_hyperparams], the intervals of the
    hyperparameters that states of ``state_cls`` hold (called by
    ``gradtx.core.block.block``)."""
    for name, interval in hyper.intervals.items():
        known = _RANGES.get((state_cls, name))
        if known is not None and known[1] != interval:
            raise TypeError(f"{state_cls.__name__}.hyperparams[{name!r}] is declared with two "
                            f"ranges, {known[1]} ({known[0]}) and {interval} ({hyper.owner})")
        _RANGES[(state_cls, name)] = (hyper.owner, interval)


_STRUCTURAL_FIELDS = frozenset({"states", "inner", "inner_state"})


def _walk(node: Any, path: tuple[str, ...]
          ) -> Iterator[tuple[tuple[str, ...], tuple[Any, type]]]:
    """Yields ``(path, (value, class of the state holding it))`` for every hyperparameter."""
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        for field in node._fields:
            child = getattr(node, field)
            if field == "hyperparams" and isinstance(child, Mapping):
                for key, value in child.items():
                    yield (*path, key), (value, type(node))
            elif field in _STRUCTURAL_FIELDS:
                yield from _walk(child, path)
            else:
                yield from _walk(child, (*path, field))
    elif isinstance(node, tuple | list):
        for i, child in enumerate(node):
            yield from _walk(child, (*path, str(i)))
    elif isinstance(node, Mapping):
        for key, child in node.items():
            yield from _walk(child, (*path, str(key)))


Path = tuple[str, ...]
"""Where a hyperparameter sits in a state: the chain positions or names and state fields
leading to it, then its name (``("adam", "b1")``, ``("0", "learning_rate")``)."""


class Entry(NamedTuple):
    """One hyperparameter found in a state: its stored ``value`` (a scalar array, or a
    [`ScheduledValue`][gradtx.ScheduledValue]) and the class of the state that holds it."""

    value: Any
    holder: type


def entries(state: Any) -> dict[Path, Entry]:
    """Every hyperparameter stored in ``state``, by its full path, in traversal order.

    The typed, unchecked view behind [`get_hyperparams`][gradtx.get_hyperparams] (which
    shortens the paths to unambiguous names); wrappers that set hyperparameters of an inner
    state by name (``inject_hyperparams``) read it. Wrapper states are looked through
    at their fields named ``states``, ``inner`` or ``inner_state``.
    """
    return {path: Entry(*found) for path, found in _walk(state, ())}


def replace(state: Any, values: Mapping[Path, Any]) -> Any:
    """A copy of ``state`` whose hyperparameters at the paths in ``values`` (paths as
    ``entries`` gives them) hold the new values, as given: unchecked and not cast (cast
    them to the stored dtype to keep the compiled step).
    [`set_hyperparams`][gradtx.set_hyperparams] is the checked form, by name.

    Raises ``KeyError`` for a path the state does not hold.
    """
    unknown = sorted("/".join(p) for p in set(values) - set(entries(state)))
    if unknown:
        raise KeyError(f"replace: the state holds no hyperparameter at {unknown}")
    return _replace(state, (), dict(values))


def _short_names(paths: list[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    """The shortest path suffix that names each entry unambiguously."""
    names = {}
    for p in paths:
        for k in range(1, len(p) + 1):
            suffix = p[-k:]
            if sum(1 for q in paths if q[-k:] == suffix) == 1:
                names[p] = "/".join(suffix)
                break
        else:
            names[p] = "/".join(p)
    return names


def _resolve(entries: dict[tuple[str, ...], Any], name: str) -> tuple[str, ...]:
    parts = tuple(name.split("/"))
    matches = [p for p in entries if p[-len(parts) :] == parts]
    if not matches:
        known = sorted(_short_names(list(entries)).values())
        raise KeyError(f"no hyperparameter named {name!r}; the state holds {known}")
    if len(matches) > 1:
        full = sorted("/".join(p) for p in matches)
        raise KeyError(f"hyperparameter name {name!r} is ambiguous: qualify it as one of {full}")
    return matches[0]


def get_hyperparams(state: Any) -> dict[str, jax.Array]:
    """Every numeric hyperparameter in an optimizer state, by its shortest unambiguous name.

    Scheduled hyperparameters give the value used by the most recent update.
    Names are qualified with the chain position or name ("0/learning_rate",
    "adam/b1") only where a bare name would be ambiguous.

    >>> tx = gradtx.adam(1e-3)
    >>> gradtx.get_hyperparams(tx.init(params))["b2"]
    Array(0.999, dtype=float32)
    """
    found = entries(state)
    names = _short_names(list(found))
    return {
        names[p]: (v.value if isinstance(v, ScheduledValue)
                   else jnp.asarray(v.array()) if isinstance(v, StaticValue) else v)
        for p, (v, _) in found.items()
    }


def set_hyperparams(
    state: Any, values: Mapping[str, Any] | None = None, /, **kwargs: Any
) -> Any:
    """A copy of ``state`` with the named hyperparameters replaced.

    Names are as in [`get_hyperparams`][gradtx.get_hyperparams] (a qualified name such as
    ``"adam/b1"`` may be passed in the ``values`` mapping). The stored dtype is
    kept, so the new state has the same structure and the jitted step does not
    recompile. Setting a scheduled hyperparameter raises ``ValueError``.

    A new value is checked as the transform's constructor checks it (a real
    number in the hyperparameter's range, with the same messages); a traced
    scalar (inside ``jit``) is accepted unchecked, since its value is unknown.
    """
    updates = {**(values or {}), **kwargs}
    found = entries(state)
    targets: dict[tuple[str, ...], Any] = {}
    for name, new in updates.items():
        path = _resolve(found, name)
        old, holder = found[path]
        if isinstance(old, ScheduledValue):
            raise ValueError(
                f"hyperparameter {name!r} follows a schedule and is recomputed every step; "
                "build the optimizer with a different schedule instead"
            )
        if isinstance(old, StaticValue):
            raise ValueError(
                f"hyperparameter {name!r} is static (compiled into the step by "
                "static_hyperparams); build the transform with the new value instead"
            )
        targets[path] = _checked(name, path[-1], new, old, holder)
    return _replace(state, (), targets)


def _checked(name: str, key: str, new: Any, old: jax.Array, holder: type) -> jax.Array:
    """``new`` as an array like ``old``, after the constructor's check of hyperparameter ``key``."""
    owner, interval = _RANGES.get((holder, key), (holder.__name__, None))
    who = f"{owner} (via set_hyperparams)"
    where = f"{who}: {key}"
    shape = jnp.shape(old)
    if isinstance(new, jax.core.Tracer):
        if jnp.shape(new) != shape or is_schedule(new):
            raise TypeError(f"{where} must have shape {shape}, got a traced value of shape "
                            f"{jnp.shape(new)}")
        return jnp.asarray(new, old.dtype)
    if is_schedule(new):
        raise TypeError(f"{where} must be a number; a schedule is fixed when the optimizer is "
                        f"built, got {type(new).__name__}")
    if shape == ():
        check_number(who, key, new, allow_schedule=False)
        values = [new]
    else:
        arr = np.asarray(new) if not isinstance(new, str) else None
        if arr is None or arr.shape != shape or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{where} must be {shape[0]} numbers, got {new!r}")
        values = list(arr.tolist())
    if interval is not None:
        for v in values:
            interval.check(who, key, v, allow_schedule=False)
    return jnp.array(new, old.dtype).reshape(shape)


def _replace(node: Any, path: tuple[str, ...], targets: dict[tuple[str, ...], Any]) -> Any:
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        fields = {}
        for field in node._fields:
            child = getattr(node, field)
            if field == "hyperparams" and isinstance(child, Mapping):
                fields[field] = {
                    k: targets.get((*path, k), v) for k, v in child.items()
                }
            elif field in _STRUCTURAL_FIELDS:
                fields[field] = _replace(child, path, targets)
            else:
                fields[field] = _replace(child, (*path, field), targets)
        return type(node)(**fields)
    if isinstance(node, tuple | list):
        return type(node)(_replace(c, (*path, str(i)), targets) for i, c in enumerate(node))
    if isinstance(node, Mapping):
        mapping_type: Any = type(node)  # dict, FrozenDict, ...: each is built from a dict
        return mapping_type({k: _replace(c, (*path, str(k)), targets) for k, c in node.items()})
    return node
