"""Argument checks shared by the initializers: every message names the caller,
the argument, the value received and what was expected."""

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np


def check_positive(caller: str, arg: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value > 0`` (NaN is rejected too)."""
    if not value > 0:
        raise ValueError(f"{caller}: {arg} must be > 0, got {value!r}")


def check_open_unit(caller: str, arg: str, value: float) -> None:
    """Raise ``ValueError`` unless ``0 < value < 1``."""
    if not 0 < value < 1:
        raise ValueError(f"{caller}: {arg} must be in the open interval (0, 1), got {value!r}")


def check_choice(caller: str, arg: str, value: Any, choices: Sequence[str]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        accepted = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{caller}: {arg} must be one of {accepted}, got {value!r}")


def float_dtypes(caller: str, dtype: Any) -> tuple[np.dtype, np.dtype]:
    """Return ``(target, working)`` dtypes for a random draw.

    ``target`` is the requested real floating dtype (None means float32, the default
    of every initializer here). ``working`` is float64 for
    float64 and float32 for everything narrower: low-precision samples are drawn
    in float32 and rounded once, because drawing directly in bfloat16 quantises the
    underlying uniform variates (a bfloat16 ``jax.random.normal`` takes only 128
    distinct values and its variance is about 0.7% low).
    """
    target = jnp.dtype(jnp.float32 if dtype is None else dtype)
    if not jnp.issubdtype(target, jnp.floating):
        raise ValueError(f"{caller}: dtype must be a real floating-point dtype, got {target}")
    working = jnp.dtype(jnp.float64) if target.itemsize >= 8 else jnp.dtype(jnp.float32)
    return target, working
