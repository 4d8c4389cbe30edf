"""Wrappers and helpers with optax's names and signatures: ``apply_every``,
``conditionally_mask``, ``conditionally_transform``, ``MultiSteps`` (with
``skip_not_finite`` and ``skip_large_updates``), ``inject_hyperparams``,
``incremental_update`` and ``periodic_update``.

They hold their inner transforms as every gradtx wrapper does (through
``gradtx.core.base.Part``): an inner transform receives the extra keyword
arguments its update accepts, and a step-consuming gradtx transform receives as
its step the number of times it has actually run, so its schedules and bias
corrections advance only with real updates. Counters are int32 and saturate at
2³¹ − 1.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gradtx.core import hyperparams
from gradtx.core.base import GradientTransformation, Part, _increment, expect_state
from gradtx.core.hyperparams import ScheduledValue
from gradtx.core.lift import per_array
from gradtx.core.numerics import abs_sq, is_trainable
from gradtx.core.tree import tree_zeros_like
from gradtx.wrappers._inner import _INT32_MAX, increment_if, unaliased, zeros_like_output

__all__ = [
    "ApplyEvery",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "InjectHyperparamsState",
    "MultiSteps",
    "MultiStepsState",
    "apply_every",
    "conditionally_mask",
    "conditionally_transform",
    "incremental_update",
    "inject_hyperparams",
    "periodic_update",
    "skip_large_updates",
    "skip_not_finite",
]


def _check_int(owner: str, name: str, value: Any, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{owner}: {name} must be in [{low}, inf), got {value!r}")
    if int(value) > _INT32_MAX:
        raise ValueError(f"{owner}: {name} must be at most 2**31 - 1 (counters are int32), "
                         f"got {value!r}")


def _check_callable(owner: str, name: str, value: Any, none_ok: bool = False) -> None:
    if (value is None and none_ok) or callable(value):
        return
    kind = "callable or None" if none_ok else "callable"
    raise TypeError(f"{owner}: {name} must be {kind}, got {type(value).__name__} {value!r}")


def _check_bool(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a bool, got {type(value).__name__} {value!r}")


# --------------------------------------------------------------------------- apply_every


class ApplyEvery(NamedTuple):
    """The state of ``apply_every``: ``count`` in [0, k) and the running sum ``grad_acc``."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    grad_acc: Any


def apply_every(k: int = 1) -> GradientTransformation:
    """Sums the updates of k consecutive calls and emits the sum on the k-th:

        c = count mod k,   A ← [c ≠ 0] · A + u,   u ← A if c = k − 1 else 0

    Unlike [`MultiSteps`][gradtx.MultiSteps] (or [`gradtx.accumulate_gradients`][]) it
    does not hold the rest of the optimizer: transforms chained before it
    still update their state on every call. ``A`` is stored in the params' dtypes.

    Args:
      k: the number of calls per emitted update, an int in [1, 2³¹ − 1].
    """
    owner = "apply_every"
    _check_int(owner, "k", k)

    def init(params):
        return unaliased(ApplyEvery(count=jnp.zeros([], jnp.int32),
                                    grad_acc=tree_zeros_like(params)), params)

    def update(updates, state, params=None, **extra):
        del params, extra
        expect_state(state, ApplyEvery, owner)
        c = state.count % k
        emit = c == k - 1

        def rule(g, ga):
            acc = jnp.where(c != 0, ga, jnp.zeros_like(ga)) + g
            return jnp.where(emit, acc, jnp.zeros_like(acc)), acc

        updates, grad_acc = per_array(rule, updates, state.grad_acc, what=owner)
        return updates, ApplyEvery(count=(_increment(state.count) % k).astype(jnp.int32),
                                   grad_acc=grad_acc)

    return GradientTransformation(init, update)


# ----------------------------------------------------------- conditional transformations


class ConditionallyTransformState(NamedTuple):
    """The state of ``conditionally_transform``: ``step`` counts the calls (the argument
    of ``should_transform_fn``); ``count`` the calls on which the inner transform ran —
    its step (a gradtx addition; optax's state has the first two fields)."""

    inner_state: Any
    step: jax.Array
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count


class ConditionallyMaskState(NamedTuple):
    """The state of ``conditionally_mask``; fields as in
    [`ConditionallyTransformState`][gradtx.wrappers.ConditionallyTransformState]."""

    step: jax.Array
    inner_state: Any
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count


def _conditional(owner: str, inner: Any, should_transform_fn: Any, forward_extra_args: Any,
                 state_cls: type, mask: bool) -> GradientTransformation:
    _check_callable(owner, "should_transform_fn", should_transform_fn)
    _check_bool(owner, "forward_extra_args", forward_extra_args)
    part = Part(inner, f"{owner}: inner")

    def init(params):
        return unaliased(state_cls(step=jnp.zeros([], jnp.int32), inner_state=part.init(params),
                                   count=jnp.zeros([], jnp.int32)), params)

    def update(updates, state, params=None, **extra):
        expect_state(state, state_cls, owner)
        extra.pop("step", None)
        cond_kwargs = extra if forward_extra_args else {}
        apply = jnp.asarray(should_transform_fn(state.step, **cond_kwargs))
        if apply.shape != ():
            raise ValueError(f"{owner}: should_transform_fn must return a scalar, got an array "
                             f"of shape {apply.shape}")

        def run():
            return part.update(updates, state.inner_state, params, state.count, extra)

        def skip():
            out = zeros_like_output(run, updates) if mask else updates
            return out, state.inner_state

        out, inner_state = lax.cond(apply.astype(bool), run, skip)
        return out, state_cls(step=_increment(state.step), inner_state=inner_state,
                              count=increment_if(apply.astype(bool), state.count))

    return GradientTransformation(init, update)


def conditionally_transform(
    inner: GradientTransformation,
    should_transform_fn: Callable[..., Any],
    forward_extra_args: bool = False,
) -> GradientTransformation:
    """Runs ``inner`` on the calls where ``should_transform_fn(step)`` is true:

        (u, s) ← inner(u, s)   if f(step) else   (u, s)   (updates passed through)

    ``step`` is the number of previous calls (int32); with
    ``forward_extra_args`` the extra keyword arguments of ``update`` are passed
    to ``f`` as well. The inner update runs only when applied (``lax.cond``).
    To emit zeros instead of the updates, use [`conditionally_mask`][gradtx.conditionally_mask].
    """
    return _conditional("conditionally_transform", inner, should_transform_fn,
                        forward_extra_args, ConditionallyTransformState, mask=False)


def conditionally_mask(
    inner: GradientTransformation,
    should_transform_fn: Callable[..., Any],
    forward_extra_args: bool = False,
) -> GradientTransformation:
    """Runs ``inner`` on the calls where ``should_transform_fn(step)`` is true, else emits 0:

        (u, s) ← inner(u, s)   if f(step) else   (0, s)

    Arguments as in [`conditionally_transform`][gradtx.conditionally_transform]; the zeros
    have the dtypes of the updates ``inner`` would return.
    """
    return _conditional("conditionally_mask", inner, should_transform_fn,
                        forward_extra_args, ConditionallyMaskState, mask=True)


# --------------------------------------------------------------------------- target nets


def incremental_update(new_tensors: Any, old_tensors: Any, step_size: Any) -> Any:
    """Polyak averaging: old ← α · new + (1 − α) · old, leaf by leaf (``None`` leaves kept).

    ``step_size`` α is a number in [0, 1] or an array (unchecked when traced).
    """
    owner = "incremental_update"
    if isinstance(step_size, bool) or not (isinstance(step_size, numbers.Real)
                                           or hasattr(step_size, "dtype")):
        raise TypeError(f"{owner}: step_size must be a number, got "
                        f"{type(step_size).__name__} {step_size!r}")
    if isinstance(step_size, numbers.Real) and not 0 <= float(step_size) <= 1:
        raise ValueError(f"{owner}: step_size must be in [0.0, 1.0], got {step_size!r}")
    return jax.tree.map(
        lambda new, old: None if new is None else step_size * new + (1.0 - step_size) * old,
        new_tensors, old_tensors, is_leaf=lambda x: x is None)


def periodic_update(new_tensors: Any, old_tensors: Any, steps: Any, update_period: Any) -> Any:
    """A target copy updated every K steps: new if steps mod K = 0, else old.

    ``update_period`` K is an int ≥ 1 (or an array); ``steps`` an int or an int array.
    """
    owner = "periodic_update"
    if isinstance(update_period, numbers.Number) or not hasattr(update_period, "dtype"):
        _check_int(owner, "update_period", update_period)
    return lax.cond(jnp.mod(steps, update_period) == 0,
                    lambda: new_tensors, lambda: old_tensors)


# ---------------------------------------------------------------------------- MultiSteps


def skip_not_finite(
    updates: Any, gradient_step: Any, params: Any
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Skip a mini-step whose updates hold an inf or a NaN (for ``MultiSteps``).

    Returns ``(should_skip, {"should_skip", "num_not_finite"})`` where
    num_not_finite = Σ_leaves #{entries that are not finite} (floating leaves only).
    """
    del gradient_step, params
    counts = [jnp.sum(~jnp.isfinite(p)).astype(jnp.int32)
              for p in jax.tree.leaves(updates) if is_trainable(p)]
    num = sum(counts, jnp.zeros([], jnp.int32))
    should_skip = num > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num}


def skip_large_updates(updates: Any, gradient_step: Any, params: Any,
                       max_squared_norm: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Skip a mini-step unless ‖u‖² = Σ |u|² < ``max_squared_norm`` (NaN ‖u‖² skips too).

    Returns ``(should_skip, {"should_skip", "norm_squared"})``.
    """
    del gradient_step, params
    sq = [jnp.sum(abs_sq(p)) for p in jax.tree.leaves(updates) if is_trainable(p)]
    norm_sq = sum(sq, jnp.zeros([], jnp.float32))
    should_skip = jnp.logical_not(norm_sq < max_squared_norm)
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_sq}


class MultiStepsState(NamedTuple):
    """The state of ``MultiSteps`` (optax's fields).

    ``mini_step``: position in the current cycle; ``gradient_step``: updates
    emitted so far (the inner transform's step); ``inner_opt_state``;
    ``acc_grads``: the running mean (or sum) of this cycle's gradients;
    ``skip_state``: what ``should_skip_update_fn`` returned last.
    """

    mini_step: jax.Array
    gradient_step: jax.Array
    inner_opt_state: Any
    acc_grads: Any
    skip_state: Any = ()


def _no_skip(*args: Any, **kwargs: Any) -> tuple[jax.Array, tuple[()]]:
    del args, kwargs
    return jnp.array(False), ()


class MultiSteps:
    """Gradient accumulation over k mini-steps (optax's ``MultiSteps``).

    For mini-steps j = 0 … k − 1 of a cycle (k = ``every_k_schedule(gradient_step)``):

        A ← A + (g − A) / (j + 1)     (Welford mean; A ← A + g with use_grad_mean=False)
        emits 0 for j < k − 1;  at j = k − 1 emits inner(A), then A ← 0

    The inner update runs only on the emitting mini-step (``lax.cond``), with
    ``gradient_step`` as its step. A mini-step for which
    ``should_skip_update_fn(updates, gradient_step, params)`` returns True
    emits 0 and leaves the state as it was (except ``skip_state``).

    Args:
      opt: the wrapped optimizer (any transform).
      every_k_schedule: k, an int in [1, 2³¹ − 1], or a function of the gradient step.
      use_grad_mean: average (True) or sum (False) the mini-step gradients.
      should_skip_update_fn: ``None``, [`skip_not_finite`][gradtx.skip_not_finite], a partial of
        [`skip_large_updates`][gradtx.skip_large_updates], or any function returning
        ``(bool scalar, skip_state)``.
      accumulator_dtype: storage dtype of A for the floating leaves (float32, as optax).
    """

    _owner = "MultiSteps"

    def __init__(
        self,
        opt: GradientTransformation,
        every_k_schedule: int | Callable[[Any], Any],
        use_grad_mean: bool = True,
        should_skip_update_fn: Callable[..., Any] | None = None,
        accumulator_dtype: Any = jnp.float32,
    ) -> None:
        owner = self._owner
        if not callable(every_k_schedule):
            _check_int(owner, "every_k_schedule", every_k_schedule)
        _check_bool(owner, "use_grad_mean", use_grad_mean)
        _check_callable(owner, "should_skip_update_fn", should_skip_update_fn, none_ok=True)
        try:
            acc_dtype = jax.dtypes.canonicalize_dtype(np.dtype(accumulator_dtype))
        except TypeError as e:
            raise TypeError(f"{owner}: accumulator_dtype must be a dtype, got "
                            f"{accumulator_dtype!r}") from e
        if not jnp.issubdtype(acc_dtype, jnp.inexact):
            raise TypeError(f"{owner}: accumulator_dtype must be a floating dtype, got "
                            f"{acc_dtype}")
        self._part = Part(opt, f"{owner}: opt")
        self._opt = opt
        k = every_k_schedule
        self._every_k_schedule = k if callable(k) else (lambda step: k)
        self._use_grad_mean = use_grad_mean
        self._should_skip = should_skip_update_fn or _no_skip
        self._acc_dtype = acc_dtype

    @property
    def inner_opt(self) -> GradientTransformation:
        return self._opt

    def init(self, params: Any) -> MultiStepsState:
        acc = jax.tree.map(
            lambda p: tree_zeros_like(p, self._acc_dtype if is_trainable(p) else None), params)
        gradient_step = jnp.zeros([], jnp.int32)
        _, skip_state = self._should_skip(tree_zeros_like(params), gradient_step, params)
        return unaliased(MultiStepsState(
            mini_step=jnp.zeros([], jnp.int32),
            gradient_step=gradient_step,
            inner_opt_state=self._part.init(params),
            acc_grads=acc,
            skip_state=skip_state,
        ), params)

    def update(self, updates: Any, state: MultiStepsState, params: Any = None,
               **extra: Any) -> tuple[Any, MultiStepsState]:
        owner = self._owner
        expect_state(state, MultiStepsState, owner)
        extra.pop("step", None)
        k = jnp.asarray(self._every_k_schedule(state.gradient_step)).astype(jnp.int32)
        should_skip, skip_state = self._should_skip(updates, state.gradient_step, params)
        should_skip = jnp.asarray(should_skip)
        if (should_skip.dtype, should_skip.shape) != (jnp.bool_, ()):
            raise ValueError(
                "The `should_skip_update_fn` function should return a boolean scalar "
                f"array, but it returned an array of dtype {should_skip.dtype}"
                f" and shape {should_skip.shape}")
        emit = state.mini_step == k - 1
        n = state.mini_step

        def acc_rule(g, a):
            wide = jnp.promote_types(g.dtype, a.dtype)
            g, a = g.astype(wide), a.astype(wide)
            return a + (g - a) / (n + 1).astype(wide) if self._use_grad_mean else a + g

        def inner_call(grads):
            return self._part.update(grads, state.inner_opt_state, params,
                                     state.gradient_step, extra)

        def accept():
            # the new running mean (or sum): handed to the inner transform in the updates'
            # dtypes, stored in the accumulator's (per_array casts each output to its input's)
            mean, stored = per_array(lambda g, a: (acc_rule(g, a),) * 2, updates,
                                     state.acc_grads, what=owner)

            def emitting():
                out, inner = inner_call(mean)
                return out, inner, tree_zeros_like(stored)

            def accumulating():
                return zeros_like_output(lambda: inner_call(mean), updates), \
                    state.inner_opt_state, stored

            out, inner, acc = lax.cond(emit, emitting, accumulating)
            return out, MultiStepsState(
                mini_step=(_increment(state.mini_step) % k).astype(jnp.int32),
                gradient_step=increment_if(emit, state.gradient_step),
                inner_opt_state=inner, acc_grads=acc, skip_state=skip_state)

        def reject():
            zeros = zeros_like_output(lambda: inner_call(updates), updates)
            return zeros, state._replace(skip_state=skip_state)

        return lax.cond(should_skip, reject, accept)

    def has_updated(self, state: Any) -> jax.Array:
        """True right after an emitting mini-step: mini_step = 0 and gradient_step > 0."""
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """This wrapper as a plain ``GradientTransformation`` (``init``, ``update``)."""
        return GradientTransformation(init=self.init, update=self.update)


# ---------------------------------------------------------------------- inject_hyperparams


class InjectHyperparamsState(NamedTuple):
    """The state of an ``inject_hyperparams`` transform.

    ``count``: calls so far (the schedules' argument); ``hyperparams``: a dict of
    the numeric hyperparameters used by the last call (or, before the first,
    the initial ones). Assigning an entry of the dict
    (``state.hyperparams["learning_rate"] = 0.1``) or replacing the dict
    (``state._replace(hyperparams={...})``) changes a constant hyperparameter
    for the next calls; scheduled ones are recomputed every call.
    ``inner_state``: the inner transform's state.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    hyperparams: dict[str, Any]
    inner_state: Any


def _convert_floats(x: Any, dtype: Any) -> Any:
    """Floating values (weakly typed arrays included) in ``dtype``; other values unchanged."""
    if isinstance(x, jax.Array) and not getattr(x, "weak_type", False):
        return x
    current = x.dtype if hasattr(x, "dtype") else type(x)
    if jnp.issubdtype(current, jnp.floating):
        return jnp.asarray(x, dtype=dtype)
    return x


def _highest_float(params: Any) -> Any:
    best = None
    for leaf in jax.tree.leaves(params):
        dtype = getattr(leaf, "dtype", None)
        if dtype is not None and jnp.issubdtype(dtype, jnp.inexact):
            real = jnp.finfo(dtype).dtype
            if best is None or np.dtype(real).itemsize > np.dtype(best).itemsize:
                best = real
    return jnp.float32 if best is None else best


def inject_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any = None,
) -> Callable[..., GradientTransformation]:
    """Makes the numeric arguments of ``inner_factory`` state: settable, or schedules.

    ``inject_hyperparams(f)(**args)`` is ``f(**args)`` with every numeric
    argument (a Python int or float, or an array; not a bool) held in
    ``state.hyperparams`` and every callable argument (not named in
    ``static_args``) read as a schedule of the wrapper's call count:

        h_t = schedule(t)  or the stored value,   (u, s) ← f(**h_t).update(u, s)

    The values are traced under ``jit``, so changing one does not recompile. Floating
    values are stored in ``hyperparam_dtype`` (default: the widest floating
    dtype of the params); ints and arrays with a strong dtype keep theirs.

    Args:
      inner_factory: a function returning a transform (for example ``optax.adam``).
      static_args: names of arguments that are callables but not schedules.
      hyperparam_dtype: storage dtype of the floating hyperparameters.

    The factory is called once when the wrapper is built (with the initial
    values, schedules at step 0), so its own argument checks run then. An
    optax-style inner transform (which reads its arguments when its update
    runs) is rebuilt on every call with the current values. A gradtx inner
    transform keeps its hyperparameters in its state: it is built once, and on
    every call the injected values overwrite the entries of its state with the
    same names (every entry of that name, e.g. both ``learning_rate`` entries of
    ``gradtx.sgd``); an injected name it does not hold raises at ``init``.
    Values written into ``state.hyperparams`` are not range-checked.
    """
    owner = "inject_hyperparams"
    _check_callable(owner, "inner_factory", inner_factory)
    statics = {static_args} if isinstance(static_args, str) else set(static_args)
    try:
        sig = inspect.signature(inner_factory)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{owner}: inner_factory must have an inspectable signature") from e
    unknown = statics - set(sig.parameters)
    if unknown:
        raise ValueError(f"{owner}: static_args must name parameters of inner_factory; "
                         f"unknown {sorted(unknown)}, inner_factory takes "
                         f"{list(sig.parameters)}")
    if hyperparam_dtype is not None:
        try:
            hyperparam_dtype = np.dtype(hyperparam_dtype)
        except TypeError as e:
            raise TypeError(f"{owner}: hyperparam_dtype must be a dtype or None, got "
                            f"{hyperparam_dtype!r}") from e

    def wrapped(*args: Any, **kwargs: Any) -> GradientTransformation:
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{owner}({getattr(inner_factory, '__name__', 'inner_factory')}): "
                            f"{e}") from None
        explicit = set(bound.arguments)
        bound.apply_defaults()
        scheduled, numeric, other = {}, {}, {}
        for name, value in bound.arguments.items():
            if name in statics or isinstance(value, bool):
                other[name] = value
            elif callable(value):
                scheduled[name] = value
            elif isinstance(value, int | float | jax.Array | np.ndarray | np.number):
                numeric[name] = value
            else:
                other[name] = value

        def build(h: dict[str, Any]) -> Part:
            return Part(inner_factory(**other, **h), f"{owner}: inner_factory(...)")

        # Built now with the concrete values (schedules at step 0): the factory's own
        # argument checks run at construction, and a gradtx inner transform, which keeps
        # its hyperparameters in its state, is run with those entries overwritten.
        zero = jnp.zeros([], jnp.int32)
        template = build({**numeric, **{k: f(zero) for k, f in scheduled.items()}})
        names = {**numeric, **scheduled}

        def stored_targets(inner_state: Any) -> dict[str, list[tuple[str, ...]]]:
            """For each injected name, the paths of the gradtx hyperparameters it sets."""
            entries = hyperparams.entries(inner_state)
            if not entries:
                return {}
            targets = {k: [p for p, entry in entries.items()
                           if p[-1] == k and not isinstance(entry.value, ScheduledValue)]
                       for k in names}
            # a default the transform does not hold (gradtx.sgd's momentum=0 builds no
            # momentum block) stays fixed; a value the user passed must be settable
            missing = sorted(k for k, paths in targets.items() if not paths and k in explicit)
            targets = {k: paths for k, paths in targets.items() if paths}
            if missing:
                raise ValueError(
                    f"{owner}: the inner transform keeps its hyperparameters in its state "
                    f"(a gradtx transform) but holds none named {missing}; it holds "
                    f"{sorted({p[-1] for p in entries})}")
            return targets

        def dtype_of(params: Any) -> Any:
            return hyperparam_dtype if hyperparam_dtype is not None else _highest_float(params)

        def init(params):
            dtype = dtype_of(params)
            h = {k: jnp.asarray(_convert_floats(v, dtype)) for k, v in numeric.items()}
            h.update({k: jnp.asarray(_convert_floats(f(zero), dtype))
                      for k, f in scheduled.items()})
            inner_state = template.init(params)
            targets = stored_targets(inner_state)  # raises now if a name cannot be set
            # an injected hyperparameter is set every step: one folded by an enclosing
            # static_hyperparams goes back into the state as an array
            inner_state = hyperparams.unfold_hyperparams(
                inner_state, [p for paths in targets.values() for p in paths])
            if targets:
                h = {k: v for k, v in h.items() if k in targets}
            return unaliased(InjectHyperparamsState(
                count=zero, hyperparams=h, inner_state=inner_state), params)

        def update(updates, state, params=None, **extra):
            expect_state(state, InjectHyperparamsState, owner)
            extra.pop("step", None)
            inner_state = state.inner_state
            targets = stored_targets(inner_state)
            active = [k for k in numeric if not targets or k in targets]
            if not isinstance(state.hyperparams, dict) or \
                    not set(active) <= set(state.hyperparams):
                got = sorted(state.hyperparams) if isinstance(state.hyperparams, dict) \
                    else type(state.hyperparams).__name__
                raise TypeError(f"{owner}: state.hyperparams must be a dict holding "
                                f"{sorted(active)}, got {got}")
            dtype = dtype_of(params if params is not None else updates)
            # a Python number written into the dict is cast as at init; arrays keep their dtype
            h = {k: jnp.asarray(_convert_floats(state.hyperparams[k], dtype)) for k in active}
            h.update({k: jnp.asarray(_convert_floats(f(state.count), dtype))
                      for k, f in scheduled.items() if not targets or k in targets})
            if targets:  # gradtx inner: write this call's values into its state
                entries = hyperparams.entries(inner_state)
                new = {p: jnp.asarray(h[k]).astype(entries[p].value.dtype)
                       for k, paths in targets.items() for p in paths}
                inner_state = hyperparams.replace(inner_state, new)
                part = template
            else:  # optax-style inner: rebuilt with this call's values
                part = build(h)
            updates, inner_state = part.update(updates, inner_state, params, state.count, extra)
            return updates, InjectHyperparamsState(
                count=_increment(state.count), hyperparams=h, inner_state=inner_state)

        return GradientTransformation(init, update)

    wrapped.__name__ = getattr(inner_factory, "__name__", "wrapped")
    wrapped.__doc__ = getattr(inner_factory, "__doc__", None)
    return wrapped
