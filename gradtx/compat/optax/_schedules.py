"""optax's schedule API (as of optax 0.2.8) on gradtx schedules.

Each function has optax's name, signature, defaults and step convention and returns a
``gradtx.schedules.Schedule`` whose values are optax's: at step 0 the schedule returns
its ``init_value`` (optax's warmups start *at* ``init_value``, unlike
``gradtx.schedules.warmup``, whose first update already gets one step of the ramp).

Differences from optax, all at construction or for steps optax gets wrong:

* arguments are validated when the schedule is built, and a bad one raises naming the
  function and the argument (values are learning rates: non-negative, finite);
* integer step arithmetic is exact and values stay in their promised range for any
  step (2³¹ − 1 included); steps below 0 count as 0;
* ``exponential_decay`` with ``decay_rate > 1`` (growth) needs an ``end_value`` (its
  upper bound), so that it never overflows; ``decay_rate = 0`` raises (optax: constant);
* ``piecewise_*_schedule`` boundaries must be non-negative integers.

Kept from optax: ``transition_steps <= 0`` in ``linear_schedule``, ``polynomial_schedule``,
``warmup_constant_schedule`` (and the warmups built on them) and ``exponential_decay`` gives
the constant ``init_value``, as documented there.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx.schedules import Schedule, ScheduleLike, _checks
from gradtx.schedules import constant as _constant
from gradtx.schedules import cosine as _cosine
from gradtx.schedules import join as _join
from gradtx.schedules import linear as _linear
from gradtx.schedules import piecewise_constant as _piecewise_constant
from gradtx.schedules import polynomial as _polynomial
from gradtx.schedules._base import (
    as_step,
    between,
    cosine_share,
    decay_factor,
    quotient,
    remaining,
    step_divmod,
    step_limit,
    step_minus,
    to_float,
)

__all__ = [
    "constant_schedule",
    "linear_schedule",
    "polynomial_schedule",
    "cosine_decay_schedule",
    "exponential_decay",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "join_schedules",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
    "linear_onecycle_schedule",
    "cosine_onecycle_schedule",
    "sgdr_schedule",
]


# --- argument checks, named after the optax function --------------------------------------


def _fail(owner: str, name: str, value: Any, expected: str) -> NoReturn:
    raise ValueError(f"{owner}: {name} must be {expected}, got {value!r}")


def _real(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float | None = 0.0,
    low_open: bool = False,
    high: float | None = None,
) -> float:
    """``value`` as a finite float ≥ ``low`` (> with ``low_open``) and ≤ ``high``."""
    x = _checks.as_real(owner, name, value)
    too_low = low is not None and (x <= low if low_open else x < low)
    if not math.isfinite(x) or too_low or (high is not None and x > high):
        if high is not None:
            expected = f"in {'(' if low_open else '['}{low:g}, {high:g}]"
        elif low == 0.0:
            expected = "a positive number" if low_open else "a non-negative number"
        else:
            expected = f"a number {'>' if low_open else '>='} {low:g}"
        _fail(owner, name, x, expected)
    return x


def _int(owner: str, name: str, value: Any, *, low: int | None = None) -> int:
    """``value`` as an int ≥ ``low`` (0: non-negative, 1: positive)."""
    n = _checks.as_int(owner, name, value)
    if low is not None and n < low:
        _fail(owner, name, n, "a positive integer" if low == 1 else f"an integer >= {low}")
    return n


def _boundaries_and_scales(
    owner: str, init_value: float, boundaries_and_scales: Mapping[int, float] | None
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Sorted boundaries and the accumulated values init · Π scales (one more than them)."""
    name = "boundaries_and_scales"
    if boundaries_and_scales is None:
        return (), (init_value,)
    if not isinstance(boundaries_and_scales, Mapping):
        raise TypeError(
            f"{owner}: {name} must be a dict {{step: scale}} or None, got "
            f"{boundaries_and_scales!r} ({type(boundaries_and_scales).__name__})"
        )
    items = []
    for key, scale in boundaries_and_scales.items():
        b = _int(owner, f"{name} key {key!r}", key, low=0)
        items.append((b, _real(owner, f"{name}[{key!r}]", scale)))
    items.sort()
    values = [init_value]
    for b, scale in items:
        value = values[-1] * scale
        if not math.isfinite(value):
            _fail(owner, name, dict(boundaries_and_scales), f"finite products (overflow at {b})")
        values.append(value)
    return tuple(b for b, _ in items), tuple(values)


def _delayed(init_value: float, schedule: Schedule, begin: int) -> Schedule:
    """``init_value`` for step < begin, then ``schedule(step − begin)``."""
    if begin == 0:
        return schedule
    return _join((_constant(init_value), schedule), (begin,))


# --- schedules gradtx has no formula for -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class cosine_power(Schedule):
    """Cosine decay with an exponent: α_t = α0 · (a + (1 − a) · c_t^p), held after T.

    c_t = ½ (1 + cos(π · min(t, T) / T)) is computed as sin²(π r / 2) from the exact
    integer fraction r = (T − min(t, T)) / T, so c_t ∈ [0, 1] and α_t lies between α0
    and a·α0 (a may exceed 1: the rate then rises to a·α0). Equals
    ``optax.cosine_decay_schedule(α0, T, alpha=a, exponent=p)``.

    Args:
      init_value: α0 ≥ 0.
      decay_steps: T, a positive integer.
      alpha: a ≥ 0, the final rate as a fraction of α0.
      exponent: p > 0.
    """

    init_value: float
    decay_steps: int
    alpha: float = 0.0
    exponent: float = 1.0

    def __post_init__(self) -> None:
        _checks.real(self, "init_value")
        _checks.integer(self, "decay_steps")
        _checks.real(self, "alpha")
        _checks.real(self, "exponent", low_open=True)

    def __call__(self, step: ArrayLike) -> jax.Array:
        share = cosine_share(remaining(as_step(step), self.decay_steps)) ** self.exponent
        value = self.init_value * (self.alpha + (1.0 - self.alpha) * share)
        return between(value, self.init_value, self.init_value * self.alpha)


@dataclasses.dataclass(frozen=True)
class cosine_ramp(Schedule):
    """Half-cosine from ``start`` to ``end`` over T steps, held at ``end`` after T.

    α_t = end + (start − end) · ½ (1 + cos(π · min(t, T) / T)), increasing or
    decreasing; computed as sin²(π r / 2) of the exact fraction r still to go, so it is
    exactly ``end`` from T on and stays between ``start`` and ``end``.

    Args:
      start: the rate at step 0, ≥ 0.
      end: the rate from step T on, ≥ 0.
      steps: T, a positive integer.
    """

    start: float
    end: float
    steps: int

    def __post_init__(self) -> None:
        _checks.real(self, "start")
        _checks.real(self, "end")
        _checks.integer(self, "steps")

    def __call__(self, step: ArrayLike) -> jax.Array:
        share = cosine_share(remaining(as_step(step), self.steps))
        return between(self.end + (self.start - self.end) * share, self.start, self.end)


@dataclasses.dataclass(frozen=True)
class exponential_bounded(Schedule):
    """optax's exponential decay: α0 · β^(s / T) with s = max(t − B, 0), clipped at α_end.

    The exponent is s / T, or ⌊s / T⌋ with ``staircase``, from the exact integer
    s; β^e is exp(e · ln β) with ln β in float64. For β < 1, α_end (if given) is a
    floor: α_t = max(α0 β^e, α_end); for β ≥ 1 it is a ceiling, α_t = min(α0 β^e, α_end),
    required for β > 1 and applied in log space, so the rate never overflows.

    Args:
      init_value: α0 ≥ 0.
      transition_steps: T, a positive integer.
      decay_rate: β > 0.
      transition_begin: B, a non-negative integer: α0 is held until step B.
      staircase: decay in whole multiples of T only.
      end_value: α_end ≥ 0 or None (required when β > 1).
    """

    init_value: float
    transition_steps: int
    decay_rate: float
    transition_begin: int = 0
    staircase: bool = False
    end_value: float | None = None

    def __post_init__(self) -> None:
        _checks.real(self, "init_value")
        _checks.integer(self, "transition_steps")
        rate = _checks.real(self, "decay_rate", low_open=True)
        _checks.integer(self, "transition_begin", low=0)
        _checks.flag(self, "staircase")
        if self.end_value is not None:
            _checks.real(self, "end_value")
        elif rate > 1.0:
            _checks.fail(self, "end_value", None, "given (an upper bound) when decay_rate > 1")

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        begin = self.transition_begin
        shifted: int | jax.Array
        if isinstance(step, int):
            shifted = max(step - begin, 0)
        elif begin > step_limit(step):
            shifted = jnp.zeros_like(step)
        else:
            shifted = jnp.maximum(step_minus(step, begin), 0)
        if self.staircase:
            exponent, _ = step_divmod(shifted, self.transition_steps)
        else:
            exponent = quotient(shifted, self.transition_steps)
        init, rate, end = self.init_value, self.decay_rate, self.end_value
        if rate < 1.0:
            value = init * decay_factor(rate, exponent)
            return value if end is None else jnp.maximum(value, end)
        ones = jnp.ones_like(to_float(exponent))
        if rate == 1.0 or init == 0.0:
            value = init * ones
        else:  # end is given: grow up to end (stay at init if end ≤ init)
            assert end is not None  # __post_init__ requires end_value when decay_rate > 1
            cap = math.log(end / init) if end > init else 0.0
            value = init * jnp.exp(jnp.minimum(to_float(exponent) * math.log(rate), cap))
        return value if end is None else jnp.minimum(value, end)


# --- optax's names ---------------------------------------------------------------------


def constant_schedule(value: float) -> Schedule:
    """``value`` at every step (``optax.constant_schedule``)."""
    return _constant(_real("constant_schedule", "value", value))


def polynomial_schedule(
    init_value: float,
    end_value: float,
    power: float,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    """``init_value`` until ``transition_begin``, then polynomial to ``end_value``.

    α_t = (I − E) (1 − min(t − B, T) / T)^P + E for t ≥ B (``optax.polynomial_schedule``).
    ``transition_steps <= 0`` gives the constant ``init_value``, as in optax.
    """
    owner = "polynomial_schedule"
    init = _real(owner, "init_value", init_value)
    end = _real(owner, "end_value", end_value)
    p = _real(owner, "power", power, low_open=True)
    steps = _int(owner, "transition_steps", transition_steps)
    begin = _int(owner, "transition_begin", transition_begin, low=0)
    if steps <= 0:
        return _constant(init)
    return _delayed(init, _polynomial(init, end, steps, p), begin)


def linear_schedule(
    init_value: float,
    end_value: float,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    """Linear from ``init_value`` to ``end_value`` over steps B .. B + T (optax's).

    ``transition_steps <= 0`` gives the constant ``init_value``, as in optax.
    """
    owner = "linear_schedule"
    init = _real(owner, "init_value", init_value)
    end = _real(owner, "end_value", end_value)
    steps = _int(owner, "transition_steps", transition_steps)
    begin = _int(owner, "transition_begin", transition_begin, low=0)
    if steps <= 0:
        return _constant(init)
    return _delayed(init, _linear(init, end, steps), begin)


def cosine_decay_schedule(
    init_value: float,
    decay_steps: int,
    alpha: float = 0.0,
    exponent: float = 1.0,
) -> Schedule:
    """α0 · (a + (1 − a) · (½ (1 + cos(π min(t, T) / T)))^p) (``optax.cosine_decay_schedule``)."""
    owner = "cosine_decay_schedule"
    init = _real(owner, "init_value", init_value)
    steps = _int(owner, "decay_steps", decay_steps, low=1)
    a = _real(owner, "alpha", alpha)
    p = _real(owner, "exponent", exponent, low_open=True)
    if p == 1.0 and a <= 1.0:
        return _cosine(init, steps, alpha=a)
    return cosine_power(init, steps, alpha=a, exponent=p)


def exponential_decay(
    init_value: float,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> Schedule:
    """α0 · β^((t − B) / T) from step B on, clipped at ``end_value`` (``optax.exponential_decay``).

    ``transition_steps <= 0`` gives the constant ``init_value``, as in optax. Unlike optax,
    ``decay_rate`` must be positive, and ``end_value`` is required when it exceeds 1.
    """
    owner = "exponential_decay"
    init = _real(owner, "init_value", init_value)
    steps = _int(owner, "transition_steps", transition_steps)
    rate = _real(owner, "decay_rate", decay_rate, low_open=True)
    begin = _int(owner, "transition_begin", transition_begin, low=0)
    if not isinstance(staircase, bool):
        raise TypeError(f"{owner}: staircase must be a bool, got {staircase!r}")
    end = None if end_value is None else _real(owner, "end_value", end_value)
    if steps <= 0:
        return _constant(init)
    if end is None and rate > 1.0:
        _fail(owner, "end_value", None, "given (an upper bound) when decay_rate > 1")
    return exponential_bounded(init, steps, rate, begin, staircase, end)


def piecewise_constant_schedule(
    init_value: float, boundaries_and_scales: Mapping[int, float] | None = None
) -> Schedule:
    """``init_value`` times every scale whose boundary step ≤ t (optax's piecewise constant).

    ``boundaries_and_scales`` is ``{step: scale}`` with *multiplicative* scales ≥ 0.
    """
    owner = "piecewise_constant_schedule"
    init = _real(owner, "init_value", init_value)
    bounds, values = _boundaries_and_scales(owner, init, boundaries_and_scales)
    if not bounds:
        return _constant(init)
    return _piecewise_constant(values, bounds)


def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: float,
    boundaries_and_scales: Mapping[int, float] | None = None,
) -> Schedule:
    """Linear or cosine interpolation between the accumulated values at the boundaries.

    With b_0 = 0 < b_1 < … the sorted boundaries and v_i = init · s_1 ⋯ s_i, the rate goes
    from v_i at b_i to v_{i+1} at b_{i+1}, and is v_n from the last boundary on
    (``optax.piecewise_interpolate_schedule``).
    """
    owner = "piecewise_interpolate_schedule"
    if interpolate_type not in ("linear", "cosine"):
        _fail(owner, "interpolate_type", interpolate_type, "'linear' or 'cosine'")
    init = _real(owner, "init_value", init_value)
    bounds, values = _boundaries_and_scales(owner, init, boundaries_and_scales)
    if not bounds:
        return _constant(init)
    segment = _linear if interpolate_type == "linear" else cosine_ramp
    starts = (0, *bounds)
    schedules = [
        segment(values[i], values[i + 1], max(starts[i + 1] - starts[i], 1))
        for i in range(len(bounds))
    ]
    return _join((*schedules, _constant(values[-1])), bounds)


def join_schedules(schedules: Sequence[ScheduleLike], boundaries: Sequence[int]) -> Schedule:
    """``schedules[i](t − boundaries[i-1])`` for boundaries[i-1] ≤ t < boundaries[i] (optax's)."""
    return _join(schedules, boundaries)


def warmup_constant_schedule(init_value: float, peak_value: float, warmup_steps: int) -> Schedule:
    """Linear from ``init_value`` (step 0) to ``peak_value`` (step T'), then constant.

    As ``optax.warmup_constant_schedule``, i.e. ``linear_schedule(init, peak, warmup_steps)``:
    ``warmup_steps <= 0`` gives the constant ``init_value``.
    """
    owner = "warmup_constant_schedule"
    init = _real(owner, "init_value", init_value)
    peak = _real(owner, "peak_value", peak_value)
    steps = _int(owner, "warmup_steps", warmup_steps)
    return linear_schedule(init, peak, steps)


def _warmup(init: float, peak: float, steps: int, after: Schedule) -> Schedule:
    """optax's warmup: ``linear_schedule(init, peak, steps)`` joined with ``after`` at ``steps``."""
    return _join((linear_schedule(init, peak, steps), after), (max(steps, 0),))


def warmup_cosine_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    decay_steps: int,
    end_value: float = 0.0,
    exponent: float = 1.0,
) -> Schedule:
    """Linear warmup from ``init_value`` at step 0 to ``peak_value`` at step T', then cosine.

    The cosine runs from ``peak_value`` at T' to ``end_value`` at ``decay_steps`` (warmup
    included), as in ``optax.warmup_cosine_decay_schedule``.
    """
    owner = "warmup_cosine_decay_schedule"
    init = _real(owner, "init_value", init_value)
    peak = _real(owner, "peak_value", peak_value)
    warmup = _int(owner, "warmup_steps", warmup_steps, low=0)
    total = _int(owner, "decay_steps", decay_steps)
    if total <= warmup:
        _fail(owner, "decay_steps", total, f"> warmup_steps = {warmup}")
    end = _real(owner, "end_value", end_value)
    p = _real(owner, "exponent", exponent, low_open=True)
    if peak == 0.0 and end != 0.0:
        _fail(owner, "end_value", end, "0 when peak_value = 0 (optax's alpha is then 0)")
    alpha = 0.0 if peak == 0.0 else end / peak
    decay = cosine_decay_schedule(peak, total - warmup, alpha=alpha, exponent=p)
    return _warmup(init, peak, warmup, decay)


def warmup_exponential_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> Schedule:
    """Linear warmup to ``peak_value`` at step T', then ``exponential_decay`` from there.

    As ``optax.warmup_exponential_decay_schedule``; the decay's arguments are those of
    ``exponential_decay`` (with ``init_value = peak_value``), counted from step T'.
    """
    owner = "warmup_exponential_decay_schedule"
    init = _real(owner, "init_value", init_value)
    peak = _real(owner, "peak_value", peak_value)
    warmup = _int(owner, "warmup_steps", warmup_steps, low=0)
    decay = exponential_decay(
        peak, transition_steps, decay_rate, transition_begin, staircase, end_value
    )
    return _warmup(init, peak, warmup, decay)


def _onecycle_checks(
    owner: str, transition_steps: int, peak_value: float, pct_start: float
) -> tuple[int, float, float]:
    steps = _int(owner, "transition_steps", transition_steps, low=1)
    peak = _real(owner, "peak_value", peak_value)
    pct = _real(owner, "pct_start", pct_start, high=1.0)
    return steps, peak, pct


def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: float,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    """Three linear phases: up to ``peak_value``, back down, then to the final value.

    As ``optax.linear_onecycle_schedule``: ``piecewise_interpolate_schedule('linear', …)``
    through peak / div_factor (step 0), peak (⌊pct_start · T⌋), peak / div_factor
    (⌊pct_final · T⌋) and peak / (div_factor · final_div_factor) (T).
    """
    owner = "linear_onecycle_schedule"
    steps, peak, pct = _onecycle_checks(owner, transition_steps, peak_value, pct_start)
    final = _real(owner, "pct_final", pct_final, low=pct, high=1.0)
    div = _real(owner, "div_factor", div_factor, low_open=True)
    final_div = _real(owner, "final_div_factor", final_div_factor, low_open=True)
    scales = {  # a dict, as optax's: a later boundary equal to an earlier one replaces it
        int(pct * steps): div,
        int(final * steps): 1.0 / div,
        steps: 1.0 / final_div,
    }
    return piecewise_interpolate_schedule("linear", peak / div, scales)


def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: float,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    """Cosine up from peak / div_factor to ``peak_value`` at ⌊pct_start · T⌋, then down.

    As ``optax.cosine_onecycle_schedule``: ``piecewise_interpolate_schedule('cosine', …)``
    ending at peak / (div_factor · final_div_factor) at step T.
    """
    owner = "cosine_onecycle_schedule"
    steps, peak, pct = _onecycle_checks(owner, transition_steps, peak_value, pct_start)
    div = _real(owner, "div_factor", div_factor, low_open=True)
    final_div = _real(owner, "final_div_factor", final_div_factor, low_open=True)
    scales = {int(pct * steps): div, steps: 1.0 / (div * final_div)}
    return piecewise_interpolate_schedule("cosine", peak / div, scales)


def sgdr_schedule(cosine_kwargs: Iterable[Mapping[str, Any]]) -> Schedule:
    """SGDR: ``warmup_cosine_decay_schedule(**kwargs)`` cycles one after another.

    Each cycle lasts its ``decay_steps`` (``optax.sgdr_schedule``).
    """
    owner = "sgdr_schedule"
    schedules: list[Callable[[ArrayLike], ArrayLike]] = []
    boundaries: list[int] = []
    start = 0
    for i, kwargs in enumerate(cosine_kwargs):
        if not isinstance(kwargs, Mapping):
            raise TypeError(
                f"{owner}: cosine_kwargs[{i}] must be a dict of "
                f"warmup_cosine_decay_schedule arguments, got {kwargs!r}"
            )
        try:
            schedules.append(warmup_cosine_decay_schedule(**kwargs))
        except (TypeError, ValueError) as err:
            raise type(err)(f"{owner}: cosine_kwargs[{i}]: {err}") from err
        start += int(kwargs["decay_steps"])
        boundaries.append(start)
    if not schedules:
        _fail(owner, "cosine_kwargs", cosine_kwargs, "a non-empty list of dicts")
    return _join(schedules, boundaries[:-1])
