"""Construction-time validation of schedule hyperparameters.

Each check reads one field of a frozen schedule dataclass, raises if it is
wrong, and writes the normalized value back (a Python ``float``, ``int`` or
``tuple``), so that every schedule's ``repr`` and equality see plain values.
Messages name the schedule, the argument, the value and the accepted range.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np


def _scalar(value: Any) -> Any:
    """Unwrap a 0-d numpy or jax array of a numeric dtype to a Python number."""
    if getattr(value, "shape", None) == () and hasattr(value, "dtype"):
        if np.dtype(value.dtype).kind in "iuf":
            return value.item()
    return value


def _type_name(value: Any) -> str:
    return type(value).__name__


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if high is None:
        if low == 0:
            return "a positive number" if low_open else "a non-negative number"
        return f"a number {'>' if low_open else '>='} {low:g}"
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    return f"in {left}{low:g}, {high:g}{right}"


def fail(schedule: object, name: str, value: Any, expected: str) -> NoReturn:
    """Raise the standard ``ValueError`` for an argument outside its accepted range."""
    raise ValueError(f"{type(schedule).__name__}: {name} must be {expected}, got {value!r}")


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (or a 0-d numeric array), bools excluded."""
    value = _scalar(value)
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def as_real(owner: str, name: str, value: Any) -> float:
    """Return ``value`` as a float; ``TypeError`` unless it is a real, non-bool number."""
    value = _scalar(value)
    if not is_real(value):
        raise TypeError(
            f"{owner}: {name} must be a real number, got {value!r} ({_type_name(value)})"
        )
    return float(value)


def as_int(owner: str, name: str, value: Any) -> int:
    """Return ``value`` as an int; ``TypeError`` unless it is an integer (bools excluded)."""
    value = _scalar(value)
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer, got {value!r} ({_type_name(value)})")
    return int(value)


def real(
    schedule: object,
    name: str,
    *,
    low: float | None = 0.0,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Check that field ``name`` is a finite real in the given interval; store it as a float."""
    owner = type(schedule).__name__
    value = as_real(owner, name, getattr(schedule, name))
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        fail(schedule, name, value, _interval(low, high, low_open, high_open))
    object.__setattr__(schedule, name, value)
    return value


def integer(schedule: object, name: str, *, low: int = 1, high: int | None = None) -> int:
    """Check that field ``name`` is an integer ``>= low`` (0 or 1) and ``<= high``; store it."""
    owner = type(schedule).__name__
    value = as_int(owner, name, getattr(schedule, name))
    expected = "a positive integer" if low == 1 else "a non-negative integer"
    if value < low:
        fail(schedule, name, value, expected)
    if high is not None and value > high:
        fail(schedule, name, value, f"{expected} <= {high:.4g}")
    object.__setattr__(schedule, name, value)
    return value


def choice(schedule: object, name: str, options: tuple[str, ...]) -> str:
    """Check that field ``name`` is one of the strings ``options``."""
    owner = type(schedule).__name__
    value = getattr(schedule, name)
    if not isinstance(value, str):
        raise TypeError(f"{owner}: {name} must be a string, got {value!r} ({_type_name(value)})")
    if value not in options:
        fail(schedule, name, value, "one of " + ", ".join(repr(o) for o in options))
    return value


def flag(schedule: object, name: str) -> bool:
    """Check that field ``name`` is a bool."""
    value = getattr(schedule, name)
    if not isinstance(value, bool | np.bool_):
        raise TypeError(
            f"{type(schedule).__name__}: {name} must be a bool, got {value!r} ({_type_name(value)})"
        )
    object.__setattr__(schedule, name, bool(value))
    return bool(value)


def sequence(schedule: object, name: str, label: str | None = None) -> tuple[Any, ...]:
    """Check that field ``name`` is a list, tuple or 1-d array; store it as a tuple.

    ``label`` is the argument's name in messages, where it differs from the field's.
    """
    label = label or name
    value = getattr(schedule, name)
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(
            f"{type(schedule).__name__}: {label} must be a list or tuple, got {value!r} "
            f"({_type_name(value)})"
        )
    value = tuple(value)
    object.__setattr__(schedule, name, value)
    return value


def boundaries(schedule: object, name: str) -> tuple[int, ...]:
    """Check that field ``name`` holds strictly increasing non-negative integers."""
    owner = type(schedule).__name__
    items = sequence(schedule, name)
    ints = tuple(as_int(owner, f"{name}[{i}]", b) for i, b in enumerate(items))
    if any(b < 0 for b in ints):
        fail(schedule, name, list(ints), "non-negative integers")
    if any(a >= b for a, b in zip(ints, ints[1:], strict=False)):
        fail(schedule, name, list(ints), "strictly increasing")
    object.__setattr__(schedule, name, ints)
    return ints


def rates(schedule: object, name: str, label: str | None = None) -> tuple[float, ...]:
    """Check that field ``name`` holds finite non-negative reals; store a tuple of floats.

    ``label`` is the argument's name in messages, where it differs from the field's.
    """
    label = label or name
    owner = type(schedule).__name__
    items = sequence(schedule, name, label)
    values = tuple(as_real(owner, f"{label}[{i}]", v) for i, v in enumerate(items))
    for i, v in enumerate(values):
        if not (math.isfinite(v) and v >= 0):
            fail(schedule, f"{label}[{i}]", v, "a non-negative number")
    object.__setattr__(schedule, name, values)
    return values
