"""The ``Schedule`` base class: a learning rate as a pure function of the step."""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from gradtx._optional import optional_import
from gradtx.schedules import _checks

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ScheduleLike = Callable[[ArrayLike], ArrayLike]
"""Anything composable with a schedule: a ``Schedule`` or any callable step -> value."""


# --- step arithmetic --------------------------------------------------------------------
#
# A step is normalized by ``as_step`` to either a Python int (any size: from a Python or
# NumPy integer) or an array (a traced or concrete jax integer array, or a float array).
# The helpers below do the integer part of every formula (comparisons with boundaries,
# min(t, T), ⌊t / k⌋, t mod k) exactly: in Python for a Python int, in the array's own
# integer dtype otherwise, where an integer hyperparameter larger than the dtype's maximum
# is never reached by the step. Only then are the results converted to floats, by
# ``to_float`` and ``fraction``, which never overflow. So a step of 2³¹ − 1 (the saturated
# int32 counter) or 10**30 gets the right value, and a float32 never has to hold a count
# exactly.

Step = int | jax.Array
"""A step as normalized by ``as_step``: a Python int ≥ 0, or an array (clamped at 0)."""


def default_float() -> np.dtype:
    """jnp's default float dtype: float64 with ``jax_enable_x64``, float32 otherwise."""
    return np.dtype(jnp.result_type(float))


def as_step(step: ArrayLike) -> Step:
    """Normalize a step: Python and NumPy integers (0-d arrays too) to a Python int ≥ 0.

    Anything else becomes a jax array: a signed integer array is clamped at 0; an
    unsigned one, or a NumPy integer array wider than jnp's default integer, is taken
    as jnp's default integer, saturating at its maximum (as the optimizer's counter
    does) rather than wrapping; a float array (not a step count, but accepted) is cast
    to the default float dtype and clamped at 0.
    """
    if isinstance(step, np.ndarray | np.generic) and np.dtype(step.dtype).kind in "iub":
        if step.shape == ():
            step = int(step)
        else:
            signed = np.dtype(jnp.result_type(int))
            step = np.clip(step, 0, np.iinfo(signed).max).astype(signed)
    if isinstance(step, int | np.integer):  # bool included: True is step 1
        return max(int(step), 0)
    array = jnp.asarray(step)
    if jnp.issubdtype(array.dtype, jnp.unsignedinteger):
        signed = jnp.result_type(int)
        return jnp.minimum(array, np.iinfo(signed).max).astype(signed)
    if jnp.issubdtype(array.dtype, jnp.signedinteger):
        return jnp.maximum(array, 0)
    if jnp.issubdtype(array.dtype, jnp.bool_):
        return array.astype(jnp.result_type(int))
    return jnp.maximum(array.astype(default_float()), 0.0)


def step_limit(step: Step) -> float:
    """The largest step ``step``'s type can hold: ∞ for a Python int."""
    if isinstance(step, int):
        return math.inf
    if jnp.issubdtype(step.dtype, jnp.integer):
        return int(np.iinfo(step.dtype).max)
    return float(np.finfo(step.dtype).max)


def _lift(n: int, step: jax.Array) -> int | float:
    """An integer constant ``n`` ≤ ``step_limit(step)`` in a form jnp combines with ``step``."""
    return n if jnp.issubdtype(step.dtype, jnp.integer) else float(n)


def step_before(step: Step, boundary: int) -> bool | jax.Array:
    """Whether step < boundary, exactly (a Python bool for a Python int step)."""
    if isinstance(step, int):
        return step < boundary
    if boundary > step_limit(step):
        return jnp.ones(step.shape, bool)
    return step < _lift(boundary, step)


def step_min(step: Step, bound: int) -> Step:
    """min(step, bound), exactly."""
    if isinstance(step, int):
        return min(step, bound)
    if bound >= step_limit(step):
        return step
    return jnp.minimum(step, _lift(bound, step))


def step_minus(step: Step, offset: int) -> Step:
    """step − offset, exactly, for offset ≤ ``step_limit(step)`` (negative before offset)."""
    if isinstance(step, int):
        return step - offset
    return step - _lift(offset, step)


def step_divmod(step: Step, k: int) -> tuple[Step, Step]:
    """(⌊step / k⌋, step mod k) for a positive integer k, exactly."""
    if isinstance(step, int):
        return divmod(step, k)
    if k > step_limit(step):
        return jnp.zeros_like(step), step
    divisor = _lift(k, step)
    return jnp.floor_divide(step, divisor), jnp.remainder(step, divisor)


def to_float(x: Step | float) -> jax.Array:
    """``x`` as an array of the default float dtype; a Python number beyond its range is ±∞.

    Formulas receive ∞ only for steps past every float (e.g. 10**400), and are written
    to give their limit there (0 for the decays), never NaN.
    """
    dtype = default_float()
    if isinstance(x, int | float):
        try:
            value = float(x)
        except OverflowError:
            value = math.inf if x > 0 else -math.inf
        if abs(value) > float(np.finfo(dtype).max):
            value = math.copysign(math.inf, value)
        return jnp.asarray(value, dtype)
    return jnp.asarray(x).astype(dtype)


def float_step(step: ArrayLike) -> jax.Array:
    """The step t as an array of the default float dtype; steps below 0 count as 0."""
    return to_float(as_step(step))


def quotient(num: Step | float, den: float) -> jax.Array:
    """num / den as a default-float array, for num ≥ 0 and a positive real den of any size.

    A Python ``num`` is divided in Python (ints exactly rounded, however large), then
    converted; an array is divided by den, or multiplied by 1 / den where den itself is
    past the float range (a step array then is a vanishing fraction of it).
    """
    if isinstance(num, int | float):
        try:
            return to_float(num / den)
        except OverflowError:
            return to_float(math.inf)
    x = to_float(num)
    if den <= float(np.finfo(x.dtype).max):
        return x / float(den)
    return x * (1 / den)


def fraction(num: Step | float, den: float) -> jax.Array:
    """num / den clipped to [0, 1], for 0 ≤ num ≤ den: rounding (XLA's x · (1/den)) can't escape."""
    return jnp.clip(quotient(num, den), 0.0, 1.0)


def remaining(step: Step, total: float, end: int | None = None) -> jax.Array:
    """(E − min(t, E)) / T in [0, 1]: the fraction of T steps still to go before step E.

    E = ``end`` ≤ T defaults to T, giving (T − min(t, T)) / T, exactly 0 from T on. The
    numerator is an exact integer, so the value is right for any t and T (for an array
    step and an E past its dtype's maximum, which the step never reaches: E / T − t / T).
    A fractional T (one-cycle's fall) comes with an integer E.
    """
    if end is None:
        end = int(total)
    if isinstance(step, int):
        return fraction(end - min(step, end), total)
    if end > step_limit(step):
        return jnp.clip(end / total - quotient(step, total), 0.0, 1.0)
    return fraction(_lift(end, step) - step_min(step, end), total)


# --- bounded building blocks ------------------------------------------------------------


def decay_factor(base: float, exponent: Step | jax.Array) -> jax.Array:
    """base^e in [0, 1] for 0 < base ≤ 1 and e ≥ 0 (e = ∞ gives 0, or 1 for base = 1).

    Computed as exp(e · ln base) with ln base taken in float64, so that a base close to
    1 keeps its precision in float32 (0.999 is 0.99900001 there, and 0.999^e drifts).
    """
    e = to_float(exponent)
    if base == 1.0:
        return jnp.ones_like(e)
    return jnp.clip(jnp.exp(e * math.log(base)), 0.0, 1.0)


def cosine_share(r: jax.Array) -> jax.Array:
    """½ (1 + cos(π (1 − r))) = sin²(π r / 2) in [0, 1], for the fraction r ∈ [0, 1] still to go.

    The half-cosine of a decay whose progress is 1 − r. In this form it is exactly 0 at
    the end (r = 0), stays ≥ 0 under rounding, and keeps its relative precision near the
    end, where 1 + cos(π p) would cancel.
    """
    return jnp.clip(jnp.square(jnp.sin((0.5 * math.pi) * r)), 0.0, 1.0)


def between(value: jax.Array, a: ArrayLike, b: ArrayLike) -> jax.Array:
    """``value`` clamped into the interval spanned by a and b (in either order).

    Each formula lies there in exact arithmetic; this keeps float rounding (an ulp past
    an end value) from leaving it.
    """
    return jnp.clip(value, jnp.minimum(a, b), jnp.maximum(a, b))


class Schedule(abc.ABC):
    """A learning-rate schedule α_t, a pure and jit-safe function of the step t.

    ``step`` is the number of updates already applied (the first update uses
    step 0); it may be a Python int of any size, a NumPy int or a (traced) integer
    array, and a batch of steps under ``jax.vmap``. The result is a scalar array of jnp's
    default float dtype.

    Concrete schedules are frozen dataclasses named like the functions that
    build them, so their hyperparameters are readable attributes and their
    ``repr`` is the call that rebuilds them, e.g.
    ``cosine(init_value=0.1, decay_steps=100, alpha=0.0)``. They validate their
    arguments when built, never under ``jit``.
    """

    @abc.abstractmethod
    def __call__(self, step: ArrayLike) -> jax.Array:
        """The learning rate for the update that follows ``step`` applied updates."""

    def values(self, n: int) -> np.ndarray:
        """The first ``n`` learning rates (steps ``0 .. n-1``), from one jitted ``vmap``."""
        n = _checks.as_int("Schedule.values", "n", n)
        if n < 0:
            raise ValueError(f"Schedule.values: n must be a non-negative integer, got {n}")
        return np.asarray(jax.jit(jax.vmap(self))(jnp.arange(n)))

    def plot(self, n: int, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Plot ``values(n)`` against the step on ``ax`` (a new figure if None).

        ``kwargs`` go to ``ax.plot``. The axes are labelled "step" and
        "learning rate" and titled with the schedule's ``repr``. Needs
        matplotlib (the ``plot`` extra).
        """
        with optional_import("matplotlib", "Schedule.plot"):
            import matplotlib.pyplot as plt
        values = self.values(n)
        if ax is None:
            _, ax = plt.subplots()
        ax.plot(np.arange(n), values, **kwargs)
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.set_title(repr(self), fontsize="small")
        return ax
