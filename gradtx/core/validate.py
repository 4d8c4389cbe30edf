"""Construction-time argument checks: each error names the transform, the argument,
the value received and the accepted range."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

__all__ = ["check_number", "check_interval", "check_bool", "is_schedule"]


def is_schedule(value: Any) -> bool:
    """True for a callable of the step (a schedule), False for a number."""
    return callable(value)


def check_number(owner: str, name: str, value: Any, *, allow_schedule: bool = True) -> None:
    """Raises ``TypeError`` unless ``value`` is a real number (or, if allowed, a schedule)."""
    if allow_schedule and is_schedule(value):
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if hasattr(value, "shape") and getattr(value, "shape", None) == ():
            return
        kind = "a number or a schedule" if allow_schedule else "a number"
        raise TypeError(f"{owner}: {name} must be {kind}, got {type(value).__name__} {value!r}")


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
    """Raises ``ValueError`` unless ``low (<|<=) value (<|<=) high``; schedules are not checked."""
    check_number(owner, name, value, allow_schedule=allow_schedule)
    if is_schedule(value):
        return
    v = float(value)
    bad = v != v  # NaN
    if low is not None:
        bad |= v <= low if low_open else v < low
    if high is not None:
        bad |= v >= high if high_open else v > high
    if bad:
        lo = "(" if low_open or low is None else "["
        hi = ")" if high_open or high is None else "]"
        rng = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
        raise ValueError(f"{owner}: {name} must be in {rng}, got {value!r}")


def check_bool(owner: str, name: str, value: Any) -> None:
    """Raises ``TypeError`` unless ``value`` is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a bool, got {type(value).__name__} {value!r}")


def check_callable_or_none(owner: str, name: str, value: Callable | None) -> None:
    """Raises ``TypeError`` unless ``value`` is callable or None."""
    if value is not None and not callable(value):
        raise TypeError(f"{owner}: {name} must be callable or None, got {type(value).__name__}")
