"""optax 0.2.8's monitoring transforms (``optax.transforms._monitoring``): measurements of
the updates kept in the state, the updates passed through unchanged.

``snapshot`` keeps one measurement, ``monitor`` several (each a function of the updates or
a transform whose output is the measurement), ``measure_with_ema`` a moving average of
one. Read them back with ``optax.tree_utils.tree_get(state, name)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gradtx as gt
from gradtx.compat.optax._layout import GradientTransformationExtraArgs, chain, own_counter
from gradtx.compat.optax._transforms import ema
from gradtx.core.base import GradientTransformation, expect_state

__all__ = ["MonitorState", "SnapshotState", "measure_with_ema", "monitor", "snapshot"]

Measure = Callable[[Any], Any]
"""A function of the updates (a tree of arrays) returning a measurement (a tree of arrays)."""


class SnapshotState(NamedTuple):
    """``snapshot``: ``{measure_name: measurement}``, of the last updates (of the params
    after ``init``)."""

    measurement: dict[str, Any]


class MonitorState(NamedTuple):
    """``monitor``: the last measurements by name (empty after ``init``, as in optax), and
    the state of each measuring transform, in the order of ``measures``."""

    measurements: dict[str, Any]
    measure_states: tuple[Any, ...]


def _check_measure(owner: str, name: str, measure: Any) -> None:
    if not callable(measure):
        raise TypeError(f"{owner}: {name} must be a function of the updates, got "
                        f"{type(measure).__name__} {measure!r}")


def snapshot(measure_name: str, measure: Measure) -> GradientTransformation:
    """optax.snapshot: u ← u, and ``state.measurement = {measure_name: measure(u)}``: a copy
    of what the chain has made of the gradients up to here (``measure(params)`` after
    ``init``), for debugging; ``tree_get(state, measure_name)`` reads it."""
    owner = "snapshot"
    if not isinstance(measure_name, str):
        raise TypeError(f"{owner}: measure_name must be a str, got "
                        f"{type(measure_name).__name__} {measure_name!r}")
    _check_measure(owner, "measure", measure)

    def init(params):
        return SnapshotState({measure_name: measure(params)})

    def update(updates, state, params=None, **extra):
        del params, extra
        expect_state(state, SnapshotState, owner)
        return updates, SnapshotState({measure_name: measure(updates)})

    return GradientTransformation(init, update)


def _of_updates(measure: Measure, name: str) -> GradientTransformation:
    """The stateless transform whose output is ``measure(updates)``."""

    def measured(updates: Any, params: Any) -> Any:
        del params
        return measure(updates)

    return gt.stateless(measured, name)


def monitor(measures: dict[str, GradientTransformationExtraArgs | Measure]
            ) -> GradientTransformationExtraArgs:
    """optax.monitor: u ← u, and for each ``name: m`` of ``measures`` the measurement
    ``state.measurements[name]``: m(u) for a function m, or for a transform m the output of
    its update on u (whose state it keeps in ``state.measure_states``; the update's extra
    arguments are passed on, as far as m accepts them). ``measure_with_ema`` makes such a
    transform. As in optax the measurements are ``{}`` until the first update, so the
    state's tree changes there (a jitted step traces twice)."""
    owner = "monitor"
    if not isinstance(measures, Mapping) or not all(isinstance(k, str) for k in measures):
        raise TypeError(f"{owner}: measures must be a dict from names (str) to functions or "
                        f"transforms, got {measures!r}")
    parts = {}
    for name, measure in measures.items():
        if callable(measure):
            parts[name] = own_counter(_of_updates(measure, name), f"{owner}: {name!r}")
        elif hasattr(measure, "init") and hasattr(measure, "update"):
            parts[name] = own_counter(measure, f"{owner}: {name!r}")
        else:
            raise TypeError(f"{owner}: measures[{name!r}] must be a function of the updates "
                            f"or a transform, got {type(measure).__name__} {measure!r}")

    def init(params):
        return MonitorState({}, tuple(part.init(params) for part in parts.values()))

    def update(updates, state, params=None, **extra):
        expect_state(state, MonitorState, owner)
        if len(state.measure_states) != len(parts):
            raise TypeError(f"{owner}: expected {len(parts)} measure states, got "
                            f"{len(state.measure_states)}")
        measurements, measure_states = {}, []
        for (name, part), measure_state in zip(parts.items(), state.measure_states,
                                               strict=True):
            measurements[name], measure_state = part.update(updates, measure_state, params,
                                                            **extra)
            measure_states.append(measure_state)
        return updates, MonitorState(measurements, tuple(measure_states))

    return GradientTransformationExtraArgs(init, update)


def _as_inexact(tree: Any) -> Any:
    """``tree`` with each leaf an array, bools and ints in the default float dtype (the
    dtype optax's moving average of them takes: float64 under ``jax_enable_x64``)."""
    default = jax.dtypes.canonicalize_dtype(np.float64)

    def leaf(x: Any) -> jax.Array:
        x = jnp.asarray(x)
        return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(default)

    return jax.tree.map(leaf, tree)


def measure_with_ema(measure: Measure, decay: Any, debias: bool = True,
                     accumulator_dtype: Any | None = None) -> GradientTransformationExtraArgs:
    """optax.measure_with_ema: a transform whose output is the moving average of
    ``measure(u)`` (for ``monitor``):

        x = measure(u),   m ← ρ m + (1 − ρ) x,   output m / (1 − ρ^t) (m without ``debias``)

    It is ``chain(stateless(measure), ema(decay, debias, accumulator_dtype))`` with the
    ``ema`` made from ``measure(params)``: its state is ``(EmptyState(), EmaState(count,
    ema))``, as in optax. A bool or int measurement is averaged in the default float
    dtype, in which its ``ema`` is also made (optax's starts in the measurement's dtype and
    changes at the first update)."""
    owner = "measure_with_ema"
    _check_measure(owner, "measure", measure)
    average = ema(decay, debias, accumulator_dtype)

    def init_on_measurement(params):
        return average.init(_as_inexact(measure(params)))

    def update_on_measurement(updates: Any, state: Any, params: Any = None,
                              **extra: Any) -> tuple[Any, Any]:
        del params  # the average is of the measurement (the updates here), not of the params
        state = state._replace(ema=_as_inexact(state.ema)) if hasattr(state, "ema") else state
        return average.update(updates, state, None, **extra)

    measured = GradientTransformationExtraArgs(init_on_measurement, update_on_measurement)
    return chain(gt.stateless(lambda u, _: _as_inexact(measure(u)), owner), measured)
