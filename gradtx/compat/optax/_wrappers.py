"""optax 0.2.8's wrappers and combinators: its names, signatures and state layout, on
gradtx's wrappers.

An inner transform keeps its own step counter, as in optax (``_layout.own_counter``): a
gradtx transform that needs the step, passed here, counts its own updates.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jax.tree_util import PyTreeDef

import gradtx as gt
from gradtx.compat.optax import _states as st
from gradtx.compat.optax._layout import (
    GradientTransformationExtraArgs,
    optax_layout,
    own_counter,
    scalar_probe,
)
from gradtx.compat.optax._numerics import safe_increment
from gradtx.compat.optax._types import Schedule, StatefulSchedule
from gradtx.compat.optax.tree_utils import _ParamsPlaceholder
from gradtx.core.base import EmptyState, GradientTransformation, Part, expect_state
from gradtx.wrappers.groups import MaskedNode, MaskedState, is_spec_function
from gradtx.wrappers.optax_extras import InjectHyperparamsState, MultiSteps
from gradtx.wrappers.optax_extras import inject_hyperparams as _inject_hyperparams

__all__ = [
    "MultiSteps",
    "WrappedSchedule",
    "apply_if_finite",
    "conditionally_mask",
    "conditionally_transform",
    "flatten",
    "freeze",
    "init_empty_state",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
    "lookahead",
    "masked",
    "multi_transform",
    "partition",
    "selective_transform",
    "stateless",
    "stateless_with_tree_map",
    "with_extra_args_support",
]

GT = GradientTransformationExtraArgs


def init_empty_state(params: Any) -> EmptyState:
    """optax.init_empty_state: the ``init`` of a stateless transform."""
    del params
    return EmptyState()


def with_extra_args_support(tx: GradientTransformation) -> GT:
    """optax.with_extra_args_support: ``tx`` with an update that accepts (and passes on only
    what it takes of) extra keyword arguments."""
    return own_counter(tx, "with_extra_args_support: tx")


def stateless(f: Callable[[Any, Any], Any]) -> GradientTransformation:
    """optax.stateless: the transform u ← f(u, params) with an ``EmptyState``."""
    return gt.stateless(f, getattr(f, "__name__", "stateless"))


def stateless_with_tree_map(f: Callable[[jax.Array, Any], jax.Array]
                            ) -> GradientTransformation:
    """optax.stateless_with_tree_map: u ← f(u_i, θ_i) leaf by leaf (θ_i ``None`` without
    params)."""

    def over_tree(updates: Any, params: Any) -> Any:
        if params is None:
            return jax.tree.map(lambda u: f(u, None), updates)
        return jax.tree.map(f, updates, params)

    return gt.stateless(over_tree, getattr(f, "__name__", "stateless_with_tree_map"))


def _mask_tree(tree: Any, mask: Any) -> Any:
    """``tree`` with the leaves ``mask`` (a prefix tree of bools) deselects as ``MaskedNode``."""
    return jax.tree.map(lambda on, sub: sub if on else jax.tree.map(lambda _: MaskedNode(), sub),
                        mask, tree)


def masked(inner: GradientTransformation, mask: Any, *,
           mask_compatible_extra_args: bool = False) -> GT:
    """optax.masked: ``inner`` on the leaves where ``mask`` is True (state
    ``MaskedState(inner_state)``, the deselected leaves ``MaskedNode``). With
    ``mask_compatible_extra_args`` an extra argument with the updates' tree structure is
    masked the same way before ``inner`` sees it."""
    held = own_counter(inner, "masked: inner")
    tx = gt.masked(held, mask)

    def init(params):
        if isinstance(params, _ParamsPlaceholder):  # tree_map_params looking for the params
            return MaskedState(held.init(params))
        return tx.init(params)

    if not mask_compatible_extra_args:
        return GradientTransformationExtraArgs(init, tx.update)

    def update(updates, state, params=None, **extra):
        selection = mask(updates) if is_spec_function(mask) else mask
        structure: PyTreeDef = jax.tree.structure(updates)
        extra = {k: _mask_tree(v, selection) if jax.tree.structure(v) == structure else v
                 for k, v in extra.items()}
        return tx.update(updates, state, params, **extra)

    return GradientTransformationExtraArgs(init, update)


def partition(transforms: Mapping[Hashable, GradientTransformation], param_labels: Any, *,
              mask_compatible_extra_args: bool = False) -> GT:
    """optax.partition: each leaf transformed by the transform of its label; the state is
    ``PartitionState(inner_states={label: MaskedState(...)})``, one ``masked`` per label."""
    parts = {label: masked(tx, _label_mask(param_labels, label),
                           mask_compatible_extra_args=mask_compatible_extra_args)
             for label, tx in transforms.items()}

    def init(params):
        labels = param_labels(params) if is_spec_function(param_labels) else param_labels
        missing = set(jax.tree.leaves(labels)) - set(parts)
        if missing:
            raise ValueError(f"partition: labels {sorted(map(str, missing))} have no "
                             f"transform; transforms are given for {sorted(map(str, parts))}")
        return st.PartitionState({label: tx.init(params) for label, tx in parts.items()})

    def update(updates, state, params=None, **extra):
        inner_states = {}
        for label, tx in parts.items():
            updates, inner_states[label] = tx.update(updates, state.inner_states[label],
                                                     params, **extra)
        return updates, st.PartitionState(inner_states)

    return GradientTransformationExtraArgs(init, update)


def _label_mask(param_labels: Any, label: Hashable) -> Any:
    if is_spec_function(param_labels):
        return lambda tree: jax.tree.map(lambda x: x == label, param_labels(tree))
    return jax.tree.map(lambda x: x == label, param_labels)


multi_transform = partition


def freeze(mask: Any) -> GradientTransformation:
    """optax.freeze: updates set to 0 where ``mask`` is True (``masked(set_to_zero(), mask)``)."""
    return masked(gt.set_to_zero(), mask)


def selective_transform(optimizer: GradientTransformation, *, freeze_mask: Any
                        ) -> GradientTransformation:
    """optax.selective_transform: ``optimizer`` on the leaves where ``freeze_mask`` is
    False, 0 elsewhere (a ``partition`` with labels ``"train"`` and ``"freeze"``)."""
    return partition({"train": optimizer, "freeze": gt.set_to_zero()},
                     param_labels=lambda _: jax.tree.map(lambda m: "freeze" if m else "train",
                                                         freeze_mask))


class WrappedSchedule:
    """optax.WrappedSchedule: a schedule of the step count as a stateful schedule. Its state
    is a ``WrappedScheduleState(count)`` (int32, from 0); ``update`` adds 1 (saturating at
    2³¹ − 1) and ``self(state)`` is ``schedule_fn(state.count)``. Extra arguments are
    accepted and ignored. ``inject_hyperparams`` wraps every plain schedule in one."""

    def __init__(self, schedule_fn: Schedule) -> None:
        if not callable(schedule_fn):
            raise TypeError(f"WrappedSchedule: schedule_fn must be callable, got "
                            f"{type(schedule_fn).__name__} {schedule_fn!r}")
        self.schedule_fn = schedule_fn

    def init(self) -> st.WrappedScheduleState:
        """The state before the first update: count 0."""
        return st.WrappedScheduleState(count=jnp.zeros([], jnp.int32))

    def update(self, state: st.WrappedScheduleState, **extra_args: Any
               ) -> st.WrappedScheduleState:
        """count ← count + 1 (saturating)."""
        del extra_args
        return st.WrappedScheduleState(count=safe_increment(state.count))

    def __call__(self, state: st.WrappedScheduleState, **extra_args: Any) -> Any:
        """schedule_fn(count)."""
        del extra_args
        return self.schedule_fn(state.count)


def inject_hyperparams(inner_factory: Callable[..., GradientTransformation],
                       static_args: str | Iterable[str] = (), hyperparam_dtype: Any = None
                       ) -> Callable[..., GT]:
    """optax.inject_hyperparams: the numeric arguments of ``inner_factory`` held in
    ``state.hyperparams`` (settable between steps), its callable ones (not named in
    ``static_args``, not bools) read as schedules. The state is optax 0.2.8's
    ``InjectStatefulHyperparamsState(count, hyperparams, hyperparams_states, inner_state)``.

    A stateful schedule (optax's ``StatefulSchedule``: an object with ``init``, ``update``
    and ``__call__``) keeps its state in ``hyperparams_states``; any
    other callable is wrapped in a [`WrappedSchedule`][gradtx.compat.optax.WrappedSchedule]
    (its state the count it is called with). At every update, for each schedule f with
    state s:

        h ← f(s, **extra_args),   s ← f.update(s, **extra_args),   (u, inner) ← inner(u; h)

    the value from the state *before* its update, the update's extra keyword arguments
    passed to both (and, those it accepts, to the inner transform). The numeric values are
    traced under ``jit``, floating ones stored in ``hyperparam_dtype`` (default: the
    params' widest floating dtype); see gradtx.inject_hyperparams for the rest.
    """
    owner = "inject_hyperparams"
    native = _inject_hyperparams(inner_factory, static_args, hyperparam_dtype)  # checks args
    statics = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    factory_name = getattr(inner_factory, "__name__", "inner_factory")

    @functools.wraps(inner_factory)
    def wrapped(*args: Any, **kwargs: Any) -> GT:
        try:
            given = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{owner}({factory_name}): {e}") from None
        full = signature.bind(*args, **kwargs)
        full.apply_defaults()
        schedules: dict[str, Any] = {}
        for name, value in full.arguments.items():
            if name in statics or isinstance(value, bool) or not callable(value):
                continue
            schedules[name] = value if isinstance(value, StatefulSchedule) \
                else WrappedSchedule(value)
        # The gradtx wrapper holds each schedule's value as a numeric hyperparameter (the
        # value at the schedule's initial state, so the factory's checks run now); before
        # each update it is set to the schedule's value for its current state.
        for name, f in schedules.items():
            given.arguments[name] = f(f.init())
        tx = native(*given.args, **given.kwargs)

        def init(params):
            state = tx.init(params)
            return st.InjectStatefulHyperparamsState(
                count=state.count, hyperparams=state.hyperparams,
                hyperparams_states={k: f.init() for k, f in schedules.items()},
                inner_state=state.inner_state)

        def update(updates, state, params=None, **extra):
            expect_state(state, st.InjectStatefulHyperparamsState, owner)
            if not isinstance(state.hyperparams_states, Mapping) or \
                    not set(schedules) <= set(state.hyperparams_states):
                got = sorted(state.hyperparams_states) \
                    if isinstance(state.hyperparams_states, Mapping) \
                    else type(state.hyperparams_states).__name__
                raise TypeError(f"{owner}: state.hyperparams_states must be a dict holding "
                                f"{sorted(schedules)}, got {got}")
            hyperparams = dict(state.hyperparams)
            for k, f in schedules.items():
                hyperparams[k] = f(state.hyperparams_states[k], **extra)
            schedule_states = {k: f.update(state.hyperparams_states[k], **extra)
                               for k, f in schedules.items()}
            updates, inner = tx.update(updates, InjectHyperparamsState(
                count=state.count, hyperparams=hyperparams, inner_state=state.inner_state),
                params, **extra)
            return updates, st.InjectStatefulHyperparamsState(
                count=inner.count, hyperparams=inner.hyperparams,
                hyperparams_states=schedule_states, inner_state=inner.inner_state)

        return GradientTransformationExtraArgs(init, update)

    return wrapped


def inject_stateful_hyperparams(inner_factory: Callable[..., GradientTransformation],
                                static_args: str | Iterable[str] = (),
                                hyperparam_dtype: Any = None) -> Callable[..., GT]:
    """optax.inject_stateful_hyperparams (deprecated in optax since 0.1.9): warns with a
    ``DeprecationWarning`` and returns ``inject_hyperparams(inner_factory, static_args,
    hyperparam_dtype)``, which takes stateful schedules as well."""
    warnings.warn("inject_stateful_hyperparams is deprecated (as in optax); use "
                  "inject_hyperparams, which takes stateful schedules too",
                  DeprecationWarning, stacklevel=2)
    return inject_hyperparams(inner_factory, static_args, hyperparam_dtype)


def apply_if_finite(inner: GradientTransformation, max_consecutive_errors: int
                    ) -> GradientTransformation:
    """optax.apply_if_finite: skips (zero update, state kept) a step whose updates are not
    all finite, unless that has happened ``max_consecutive_errors`` times in a row."""
    return optax_layout(gt.apply_if_finite(own_counter(inner), max_consecutive_errors),
                        st.ApplyIfFiniteState, "apply_if_finite", step=None)


def conditionally_transform(inner: GradientTransformation,
                            should_transform_fn: Callable[..., Any],
                            forward_extra_args: bool = False) -> GradientTransformation:
    """optax.conditionally_transform: ``inner`` where ``should_transform_fn(step)``, the
    updates unchanged elsewhere."""
    return optax_layout(gt.conditionally_transform(own_counter(inner), should_transform_fn,
                                                   forward_extra_args),
                        st.ConditionallyTransformState, "conditionally_transform", step=None)


def conditionally_mask(inner: GradientTransformation, should_transform_fn: Callable[..., Any],
                       forward_extra_args: bool = False) -> GradientTransformation:
    """optax.conditionally_mask: ``inner`` where ``should_transform_fn(step)``, 0 elsewhere."""
    return optax_layout(gt.conditionally_mask(own_counter(inner), should_transform_fn,
                                              forward_extra_args),
                        st.ConditionallyMaskState, "conditionally_mask", step=None)


def flatten(inner: GradientTransformation) -> GT:
    """optax.flatten: ``inner`` on all params raveled into one vector (its state is
    ``inner``'s on that vector)."""
    tx = own_counter(inner, "flatten: inner")

    def init(params):
        return tx.init(ravel_pytree(params)[0])

    def update(updates, state, params=None, **extra):
        flat, unravel = ravel_pytree(updates)
        flat_params = None if params is None else ravel_pytree(params)[0]
        flat, state = tx.update(flat, state, flat_params, **extra)
        return unravel(flat), state

    return GradientTransformationExtraArgs(init, update)


def lookahead(fast_optimizer: GradientTransformation, sync_period: int,
              slow_step_size: float, reset_state: bool = False) -> GradientTransformation:
    """optax.lookahead (Zhang et al. 2019) on
    [`LookaheadParams`][gradtx.compat.optax.LookaheadParams] (fast θ, slow φ): every call
    the fast params take a step of ``fast_optimizer`` (gradients at the fast params); every
    k-th call the slow ones move, φ ← φ + α (θ − φ), and the fast ones restart there
    (θ ← φ), the fast state too with ``reset_state``. The update is a ``LookaheadParams``
    of both params' updates.

    gradtx.lookahead does the same on plain params (the slow ones in its state).
    """
    owner = "lookahead"
    if not isinstance(reset_state, bool):
        raise TypeError(f"{owner}: reset_state must be a bool, got {reset_state!r}")
    fast = own_counter(fast_optimizer, "lookahead: fast_optimizer")
    part = Part(gt.lookahead(fast, sync_period, slow_step_size), owner)

    def init(params):
        if not (hasattr(params, "fast") and hasattr(params, "slow")):
            raise TypeError(f"{owner}: params must be a LookaheadParams(fast, slow), got "
                            f"{type(params).__name__}; use LookaheadParams.init_synced(params)")
        return st.LookaheadState(fast_state=fast.init(params.fast),
                                 steps_since_sync=jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, **extra):
        if not (hasattr(params, "fast") and hasattr(params, "slow")):
            raise TypeError(f"{owner}: update needs the params, a LookaheadParams(fast, slow), "
                            f"got {type(params).__name__}")
        template = part.init(scalar_probe(params.fast))
        native_state = template._replace(slow=params.slow, inner_state=state.fast_state)
        fast_updates, native_state = part.update(updates, native_state, params.fast,
                                                 state.steps_since_sync, extra)
        fast_state = native_state.inner_state
        if reset_state:
            sync = state.steps_since_sync == sync_period - 1
            fast_state = jax.tree.map(lambda now, new: jnp.where(sync, new, now), fast_state,
                                      fast.init(params.fast))
        slow_updates = jax.tree.map(jnp.subtract, native_state.slow, params.slow)
        return st.LookaheadParams(fast=fast_updates, slow=slow_updates), st.LookaheadState(
            fast_state=fast_state,
            steps_since_sync=((state.steps_since_sync + 1) % sync_period).astype(jnp.int32))

    return GradientTransformation(init, update)

