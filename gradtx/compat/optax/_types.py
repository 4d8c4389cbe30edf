"""optax 0.2.8's type names, for annotations in code written against optax."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import jax

__all__ = [
    "MaskOrFn",
    "OptState",
    "Params",
    "ScalarOrSchedule",
    "Schedule",
    "ShouldSkipUpdateFunction",
    "StatefulSchedule",
    "TransformInitFn",
    "TransformUpdateExtraArgsFn",
    "TransformUpdateFn",
    "Updates",
]

Params = Any
"""A pytree of parameters."""

Updates = Any
"""A pytree of updates (gradients, or what a transform made of them), shaped like the params."""

OptState = Any
"""An optimizer state: a pytree of NamedTuples."""

Schedule = Callable[[Any], Any]
"""A function of the step count returning a number."""

ScalarOrSchedule = float | jax.Array | Schedule
"""A number, or a schedule."""

MaskOrFn = Any | Callable[[Params], Any]
"""A tree of bools like the params, or a function of the params returning one."""


class TransformInitFn(Protocol):
    """``init(params) -> state``."""

    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    """``update(updates, state, params=None) -> (updates, state)``."""

    def __call__(self, updates: Updates, state: OptState, params: Params | None = None
                 ) -> tuple[Updates, OptState]: ...


class TransformUpdateExtraArgsFn(Protocol):
    """``update(updates, state, params=None, **extra_args) -> (updates, state)``."""

    def __call__(self, updates: Updates, state: OptState, params: Params | None = None,
                 **extra_args: Any) -> tuple[Updates, OptState]: ...


class ShouldSkipUpdateFunction(Protocol):
    """``MultiSteps``' ``should_skip_update_fn(updates, gradient_step, params) ->
    (should_skip, skip_state)``."""

    def __call__(self, updates: Updates, gradient_step: jax.Array, params: Params | None
                 ) -> tuple[jax.Array, Any]: ...


@runtime_checkable
class StatefulSchedule(Protocol):
    """optax.schedules.StatefulSchedule: a schedule with a state of its own (any object with
    these three methods): ``init() -> state``, ``update(state, **extra_args) -> state``,
    and ``schedule(state, **extra_args)``, the value for that state. ``inject_hyperparams``
    keeps the state in ``hyperparams_states`` and passes the update's extra arguments."""

    def init(self) -> Any: ...

    def update(self, state: Any, **extra_args: Any) -> Any: ...

    def __call__(self, state: Any, **extra_args: Any) -> Any: ...
