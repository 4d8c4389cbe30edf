"""Composition: joining schedules in time, and warming one up."""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx.schedules import _checks
from gradtx.schedules._base import (
    Schedule,
    ScheduleLike,
    as_step,
    between,
    remaining,
    step_before,
    step_limit,
    step_minus,
)
from gradtx.schedules._decay import constant, cosine


def _check_schedule(schedule: object, name: str, value: object) -> None:
    if not callable(value):
        raise TypeError(
            f"{type(schedule).__name__}: {name} must be a Schedule or a callable "
            f"step -> value, got {value!r} ({type(value).__name__})"
        )


@dataclasses.dataclass(frozen=True)
class join(Schedule):
    """Schedules one after another, each restarted at its boundary.

    ``α_t = schedules[0](t)`` for ``t < boundaries[0]``, and
    ``α_t = schedules[i](t − boundaries[i-1])`` for ``boundaries[i-1] ≤ t < boundaries[i]``.
    Equals ``optax.join_schedules``. The boundaries are compared with the step exactly,
    and each schedule gets the exact shifted step (a Python int for a Python int step,
    of any size; for an array step, schedules past its dtype's maximum are never reached).
    A negative step counts as 0.

    Args:
      schedules: ``len(boundaries) + 1`` schedules (any callable step -> value).
      boundaries: the steps where the next schedule takes over, strictly
        increasing non-negative integers.
    """

    schedules: Sequence[ScheduleLike]  # stored as a tuple
    boundaries: Sequence[int]  # stored as a tuple

    def __post_init__(self) -> None:
        bounds = _checks.boundaries(self, "boundaries")
        schedules = _checks.sequence(self, "schedules")
        for i, schedule in enumerate(schedules):
            _check_schedule(self, f"schedules[{i}]", schedule)
        if len(schedules) != len(bounds) + 1:
            _checks.fail(
                self,
                "schedules",
                schedules,
                f"len(boundaries) + 1 = {len(bounds) + 1} schedules",
            )

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        if isinstance(step, int):
            i = bisect.bisect_right(self.boundaries, step)
            start = self.boundaries[i - 1] if i else 0
            return jnp.asarray(self.schedules[i](step - start))
        value = jnp.asarray(self.schedules[0](step))
        for boundary, schedule in zip(self.boundaries, self.schedules[1:], strict=True):
            if boundary > step_limit(step):
                break
            value = jnp.where(step < boundary, value, schedule(step_minus(step, boundary)))
        return value


@dataclasses.dataclass(frozen=True)
class warmup(Schedule):
    """Linear warmup over T' steps, then a schedule (or a constant rate) shifted by T'.

    With α0 the following schedule's value at its step 0 and α_init = ``init_value``:

    * α_t = α_init + (α0 − α_init) · (t + 1) / T'   for 0 ≤ t < T',
    * α_t = schedule(t − T')                        for t ≥ T'.

    With α_init = 0 this is the lecture's α'_t = t/T' · α0 (1 ≤ t ≤ T') counted
    from t = step + 1: the first update gets α0 / T', never 0, and update T'
    (step T' − 1) gets exactly α0. ``warmup_steps=0`` means no warmup. The ramp is
    computed as α0 + (α_init − α0) · (T' − 1 − t) / T' from the integer T' − 1 − t, so
    it ends exactly at α0 and stays between α_init and α0.

    Args:
      schedule_or_value: the schedule that follows (any callable step -> value),
        or a non-negative number for a constant rate.
      warmup_steps: T', a non-negative integer.
      init_value: α_init ≥ 0, the rate the ramp starts from.
    """

    schedule_or_value: ScheduleLike | float
    warmup_steps: int
    init_value: float = 0.0

    def __post_init__(self) -> None:
        value = self.schedule_or_value
        if not callable(value):
            if not _checks.is_real(value):
                raise TypeError(
                    "warmup: schedule_or_value must be a Schedule, a callable step -> value "
                    f"or a number, got {value!r} ({type(value).__name__})"
                )
            _checks.real(self, "schedule_or_value")
        _checks.integer(self, "warmup_steps", low=0)
        _checks.real(self, "init_value")

    def _following(self) -> ScheduleLike:
        if callable(self.schedule_or_value):
            return self.schedule_or_value
        return constant(self.schedule_or_value)

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        following = self._following()
        n = self.warmup_steps
        if n == 0:
            return jnp.asarray(following(step))
        if isinstance(step, int) and step >= n:
            return jnp.asarray(following(step - n))
        peak = jnp.asarray(following(0 if isinstance(step, int) else jnp.zeros_like(step)))
        to_go = remaining(step, n, end=n - 1)
        ramp = between(peak + (self.init_value - peak) * to_go, self.init_value, peak)
        if isinstance(step, int) or n > step_limit(step):
            return ramp
        return jnp.where(step_before(step, n), ramp, following(step_minus(step, n)))


@dataclasses.dataclass(frozen=True)
class warmup_cosine(Schedule):
    """Linear warmup to a peak, then cosine decay to ``end_value``.

    ``warmup(cosine-to-end, T', init_value)`` with T = ``decay_steps`` counting
    the warmup, as in ``optax.warmup_cosine_decay_schedule``: the cosine runs
    over the T − T' steps after the warmup and reaches ``end_value`` at step T.
    With α_p = ``peak_value``, α_e = ``end_value``:

    * α_t = α_init + (α_p − α_init) · (t + 1) / T'                      for t < T',
    * α_t = α_e + (α_p − α_e) · ½ (1 + cos(π · min(t − T', T − T') / (T − T')))  for t ≥ T'.

    Unlike optax, whose warmup starts at α_init, the first update gets
    α_init + (α_p − α_init) / T' (the step convention in ``gradtx.schedules``):
    during the warmup this is optax's value one step later, after it the same.

    Args:
      peak_value: α_p > 0.
      warmup_steps: T', a non-negative integer.
      decay_steps: T > T', the total length, warmup included.
      end_value: α_e in [0, α_p].
      init_value: α_init ≥ 0.
    """

    peak_value: float
    warmup_steps: int
    decay_steps: int
    end_value: float = 0.0
    init_value: float = 0.0
    _schedule: warmup = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        peak = _checks.real(self, "peak_value", low_open=True)
        warmup_steps = _checks.integer(self, "warmup_steps", low=0)
        decay_steps = _checks.integer(self, "decay_steps")
        end = _checks.real(self, "end_value", high=peak)
        init = _checks.real(self, "init_value")
        if decay_steps <= warmup_steps:
            _checks.fail(self, "decay_steps", decay_steps, f"> warmup_steps = {warmup_steps}")
        decay = cosine(peak, decay_steps - warmup_steps, alpha=end / peak)
        object.__setattr__(self, "_schedule", warmup(decay, warmup_steps, init))

    def __call__(self, step: ArrayLike) -> jax.Array:
        return self._schedule(step)
