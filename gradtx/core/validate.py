"""Construction-time argument checks: each error names the transform, the argument,
the value received and the accepted range.

A numeric hyperparameter is declared once with its ``Interval``; the same
check runs when the transform is built and when [`gradtx.set_hyperparams`][]
changes the value later, so both give the same message. Hyperparameters are
stored as float32 arrays (float64 for float64 params), so a value is also
rejected when it is not finite, overflows float32, or rounds in float32 onto an
excluded end of its range (``b2 = 1 − 1e-8`` is 1.0 in float32: Adam would
divide by 1 − β2^t = 0).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

__all__ = [
    "Interval",
    "NONNEGATIVE",
    "POSITIVE",
    "REAL",
    "UNIT",
    "UNIT_OPEN",
    "check_bool",
    "check_callable_or_none",
    "check_interval",
    "check_number",
    "is_schedule",
]


def is_schedule(value: Any) -> bool:
    """True for a callable of the step (a schedule), False for a number."""
    return callable(value)


def _is_traced(value: Any) -> bool:
    """True for an abstract value (under ``jit``): its range cannot be checked, as in
    [`gradtx.set_hyperparams`][], so it is accepted unchecked."""
    return isinstance(value, jax.core.Tracer)


def _is_scalar_array(value: Any) -> bool:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    return shape == () and dtype is not None and np.issubdtype(np.dtype(dtype), np.number) \
        and not np.issubdtype(np.dtype(dtype), np.complexfloating)


def check_number(owner: str, name: str, value: Any, *, allow_schedule: bool = True) -> None:
    """Raises ``TypeError`` unless ``value`` is a real number (or, if allowed, a schedule).

    A real number is a Python or NumPy real (not a bool, not a string) or a real
    scalar array.
    """
    if allow_schedule and is_schedule(value):
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if _is_scalar_array(value):
            return
        kind = "a number or a schedule" if allow_schedule else "a number"
        raise TypeError(f"{owner}: {name} must be {kind}, got {type(value).__name__} {value!r}")


@dataclasses.dataclass(frozen=True)
class Interval:
    """The accepted range of a number: ``low (<|<=) value (<|<=) high``; ``None`` is unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __str__(self) -> str:
        lo = "(" if self.low_open or self.low is None else "["
        hi = ")" if self.high_open or self.high is None else "]"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{lo}{low}, {high}{hi}"

    def contains(self, v: float) -> bool:
        if v != v:  # NaN
            return False
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return not (self.high is not None and (v >= self.high if self.high_open else v > self.high))

    def check(self, owner: str, name: str, value: Any, *, allow_schedule: bool = True) -> None:
        """Raises ``TypeError``/``ValueError`` unless ``value`` is a finite number in range.

        Schedules (when allowed) are not checked: their values are the schedule's; nor
        are traced scalars (a transform built inside ``jit``), whose values are unknown.
        """
        check_number(owner, name, value, allow_schedule=allow_schedule)
        if is_schedule(value) or _is_traced(value):
            return
        v = float(value)
        if not self.contains(v):
            raise ValueError(f"{owner}: {name} must be in {self}, got {value!r}")
        if not math.isfinite(v):
            raise ValueError(f"{owner}: {name} must be a finite number in {self}, got {value!r}")
        largest = float(np.finfo(np.float32).max)
        rounded = float(np.float32(v)) if abs(v) <= largest else math.inf
        if not math.isfinite(rounded):
            raise ValueError(
                f"{owner}: {name} must be in {self} and at most {largest:.4g} in magnitude "
                f"(hyperparameters are stored in float32), got {value!r}"
            )
        if not self.contains(rounded):
            raise ValueError(
                f"{owner}: {name} must be in {self}, got {value!r}, which rounds to {rounded!r} "
                "in float32, the dtype hyperparameters are stored in"
            )


REAL = Interval()
NONNEGATIVE = Interval(low=0.0)
POSITIVE = Interval(low=0.0, low_open=True)
UNIT = Interval(low=0.0, high=1.0)
UNIT_OPEN = Interval(low=0.0, high=1.0, high_open=True)


def check_interval(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_schedule: bool = True,
) -> None:
    """Raises ``ValueError`` unless ``low (<|<=) value (<|<=) high`` (see ``Interval``)."""
    Interval(low, high, low_open, high_open).check(owner, name, value,
                                                   allow_schedule=allow_schedule)


def check_bool(owner: str, name: str, value: Any) -> None:
    """Raises ``TypeError`` unless ``value`` is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a bool, got {type(value).__name__} {value!r}")


def check_callable_or_none(owner: str, name: str, value: Callable[..., Any] | None) -> None:
    """Raises ``TypeError`` unless ``value`` is callable or None."""
    if value is not None and not callable(value):
        raise TypeError(f"{owner}: {name} must be callable or None, got {type(value).__name__}")
