"""Decay schedules: α_t falls from α0 as the step t grows (t = updates applied so far)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx.schedules import _checks
from gradtx.schedules._base import (
    Schedule,
    as_step,
    between,
    cosine_share,
    decay_factor,
    float_step,
    quotient,
    remaining,
    step_before,
    step_divmod,
    to_float,
)


@dataclasses.dataclass(frozen=True)
class constant(Schedule):
    """A constant rate: α_t = α0 for every t.

    Args:
      value: α0 ≥ 0.
    """

    value: float

    def __post_init__(self) -> None:
        _checks.real(self, "value")

    def __call__(self, step: ArrayLike) -> jax.Array:
        return jnp.full_like(float_step(step), self.value)


@dataclasses.dataclass(frozen=True, init=False, repr=False)
class piecewise_constant(Schedule):
    """Piecewise constant rates given as absolute values.

    α_t = values[0] for t < boundaries[0], values[i] for
    boundaries[i-1] ≤ t < boundaries[i], and values[-1] from boundaries[-1] on.
    (``optax.piecewise_constant_schedule`` takes multiplicative scales instead.)
    The rates are stored as ``.rates``, since ``.values(n)`` is ``Schedule``'s method.

    Args:
      values: the rates, ``len(boundaries) + 1`` non-negative numbers.
      boundaries: the steps where the rate changes, strictly increasing
        non-negative integers.
    """

    rates: tuple[float, ...]
    boundaries: tuple[int, ...]

    def __init__(self, values: Sequence[float], boundaries: Sequence[int]) -> None:
        object.__setattr__(self, "rates", values)
        object.__setattr__(self, "boundaries", boundaries)
        bounds = _checks.boundaries(self, "boundaries")
        rates = _checks.rates(self, "rates", label="values")
        if len(rates) != len(bounds) + 1:
            _checks.fail(
                self, "values", list(rates), f"len(boundaries) + 1 = {len(bounds) + 1} numbers"
            )

    def __repr__(self) -> str:
        return f"piecewise_constant(values={self.rates!r}, boundaries={self.boundaries!r})"

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        value = jnp.full_like(to_float(step), self.rates[0])
        for boundary, rate in zip(self.boundaries, self.rates[1:], strict=True):
            value = jnp.where(step_before(step, boundary), value, rate)
        return value


@dataclasses.dataclass(frozen=True)
class step_decay(Schedule):
    """Step decay: α_t = α0 · γ^⌊t / k⌋, the rate multiplied by γ every k steps.

    ⌊t / k⌋ is exact for any step; γ^n is exp(n · ln γ) with ln γ in float64.

    Args:
      init_value: α0 ≥ 0.
      step_size: k, a positive integer.
      gamma: γ in (0, 1].
    """

    init_value: float
    step_size: int
    gamma: float

    def __post_init__(self) -> None:
        _checks.real(self, "init_value")
        _checks.integer(self, "step_size")
        _checks.real(self, "gamma", low=0.0, high=1.0, low_open=True)

    def __call__(self, step: ArrayLike) -> jax.Array:
        decays, _ = step_divmod(as_step(step), self.step_size)
        return self.init_value * decay_factor(self.gamma, decays)


@dataclasses.dataclass(frozen=True)
class linear(Schedule):
    """Linear decay: α_t = α0 + (α_T − α0) · min(t, T) / T, held at α_T after T steps.

    Computed as α_T + (α0 − α_T) · (T − min(t, T)) / T, which is exactly α_T from T on;
    α_t always lies between α0 and α_T.

    Args:
      init_value: α0 ≥ 0.
      end_value: α_T ≥ 0 (may exceed α0, for a linear increase).
      decay_steps: T, a positive integer.
    """

    init_value: float
    end_value: float
    decay_steps: int

    def __post_init__(self) -> None:
        _checks.real(self, "init_value")
        _checks.real(self, "end_value")
        _checks.integer(self, "decay_steps")

    def __call__(self, step: ArrayLike) -> jax.Array:
        r = remaining(as_step(step), self.decay_steps)
        value = self.end_value + (self.init_value - self.end_value) * r
        return between(value, self.init_value, self.end_value)


@dataclasses.dataclass(frozen=True)
class polynomial(Schedule):
    """Polynomial decay: α_t = (α0 − α_T) · (1 − min(t, T) / T)^p + α_T, held after T.

    ``power=1`` is ``linear``. Equals ``optax.polynomial_schedule``. The base
    1 − min(t, T) / T = (T − min(t, T)) / T is computed from the integer T − min(t, T),
    so it is exactly 0 from T on and never negative (a negative base to a fractional
    power would be NaN); α_t always lies between α0 and α_T.

    Args:
      init_value: α0 ≥ 0.
      end_value: α_T ≥ 0.
      decay_steps: T, a positive integer.
      power: p > 0.
    """

    init_value: float
    end_value: float
    decay_steps: int
    power: float

    def __post_init__(self) -> None:
        _checks.real(self, "init_value")
        _checks.real(self, "end_value")
        _checks.integer(self, "decay_steps")
        _checks.real(self, "power", low_open=True)

    def __call__(self, step: ArrayLike) -> jax.Array:
        r = remaining(as_step(step), self.decay_steps)
        value = self.end_value + (self.init_value - self.end_value) * r**self.power
        return between(value, self.init_value, self.end_value)


@dataclasses.dataclass(frozen=True)
class inverse_time(Schedule):
    """Inverse-time (1/t) decay: α_t = α0 / (1 + β t).

    Args:
      init_value: α0 ≥ 0.
      decay_rate: β > 0.
    """

    init_value: float
    decay_rate: float

    def __post_init__(self) -> None:
        _checks.real(self, "init_value")
        _checks.real(self, "decay_rate", low_open=True)

    def __call__(self, step: ArrayLike) -> jax.Array:
        return self.init_value / (1.0 + self.decay_rate * float_step(step))


@dataclasses.dataclass(frozen=True)
class exponential(Schedule):
    """Exponential decay: α_t = α0 · β^(t / s), or α0 · β^⌊t / s⌋ with ``staircase``.

    With the default s = 1 this is the lecture's α_t = α0 β^t. Equals
    ``optax.exponential_decay(init_value, s, β, staircase=staircase)``. β^e is
    computed as exp(e · ln β) with ln β in float64, so α_t stays in [0, α0] and keeps
    float32's relative precision for β close to 1.

    Args:
      init_value: α0 ≥ 0.
      decay_rate: β in (0, 1).
      decay_steps: s, a positive integer: the rate is multiplied by β every s steps.
      staircase: decay in whole multiples of s only.
    """

    init_value: float
    decay_rate: float
    decay_steps: int = 1
    staircase: bool = False

    def __post_init__(self) -> None:
        _checks.real(self, "init_value")
        _checks.real(self, "decay_rate", low=0.0, high=1.0, low_open=True, high_open=True)
        _checks.integer(self, "decay_steps")
        _checks.flag(self, "staircase")

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        if self.staircase:
            exponent, _ = step_divmod(step, self.decay_steps)
        else:
            exponent = quotient(step, self.decay_steps)
        return self.init_value * decay_factor(self.decay_rate, exponent)


@dataclasses.dataclass(frozen=True)
class natural_exponential(Schedule):
    """Natural exponential decay: α_t = α0 · exp(−β t).

    Args:
      init_value: α0 ≥ 0.
      decay_rate: β > 0.
    """

    init_value: float
    decay_rate: float

    def __post_init__(self) -> None:
        _checks.real(self, "init_value")
        _checks.real(self, "decay_rate", low_open=True)

    def __call__(self, step: ArrayLike) -> jax.Array:
        return self.init_value * jnp.exp(-self.decay_rate * float_step(step))


@dataclasses.dataclass(frozen=True)
class cosine(Schedule):
    """Cosine decay to a floor a·α0 over T steps, held there after T.

    α_t = α0 · (a + (1 − a) · ½ (1 + cos(π · min(t, T) / T))).

    The half-cosine is computed as sin²(π r / 2) with r = (T − min(t, T)) / T from the
    integer T − min(t, T): exactly a·α0 from T on, and α_t always in [a·α0, α0].

    With a = 0 this is the lecture's α_t = ½ α0 (1 + cos(tπ / T)). Equals
    ``optax.cosine_decay_schedule(α0, T, alpha=a)``.

    Args:
      init_value: α0 ≥ 0.
      decay_steps: T, a positive integer.
      alpha: a in [0, 1], the final rate as a fraction of α0.
    """

    init_value: float
    decay_steps: int
    alpha: float = 0.0

    def __post_init__(self) -> None:
        _checks.real(self, "init_value")
        _checks.integer(self, "decay_steps")
        _checks.real(self, "alpha", high=1.0)

    def __call__(self, step: ArrayLike) -> jax.Array:
        cosine_part = cosine_share(remaining(as_step(step), self.decay_steps))
        value = self.init_value * (self.alpha + (1.0 - self.alpha) * cosine_part)
        return between(value, self.init_value * self.alpha, self.init_value)
