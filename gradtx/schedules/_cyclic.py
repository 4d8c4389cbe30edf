"""Periodic schedules: cyclic learning rates, SGDR warm restarts, and the one-cycle policy."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx.schedules import _checks
from gradtx.schedules._base import Schedule, float_step

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


@dataclasses.dataclass(frozen=True)
class cyclic(Schedule):
    """Cyclic learning rate (Smith 2017, "Cyclical Learning Rates for Training NNs").

    The rate climbs linearly from α_base to α_max over k steps, falls back over
    the next k, and repeats:

    * cycle = ⌊1 + t / (2k)⌋,   x = |t / k − 2·cycle + 1|,
    * α_t = α_base + (α_max − α_base) · max(0, 1 − x) · scale,

    with scale = 1 (``"triangular"``), 1 / 2^(cycle − 1) (``"triangular2"``:
    the amplitude halves every cycle) or γ^t (``"exp_range"``). Equals
    ``torch.optim.lr_scheduler.CyclicLR`` with step_size_up = step_size_down = k,
    its step 0 being the rate torch sets at construction.

    Args:
      base_value: α_base ≥ 0, the rate at the bottom of each cycle.
      max_value: α_max ≥ α_base, the rate at the top of the first cycle.
      step_size: k, a positive integer: half a cycle, in steps.
      mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
      gamma: γ in (0, 1], used by ``"exp_range"`` only (and must stay 1 otherwise).
    """

    base_value: float
    max_value: float
    step_size: int
    mode: str = "triangular"
    gamma: float = 1.0

    def __post_init__(self) -> None:
        base = _checks.real(self, "base_value")
        _checks.real(self, "max_value", low=base)
        _checks.integer(self, "step_size")
        mode = _checks.choice(self, "mode", _CYCLIC_MODES)
        gamma = _checks.real(self, "gamma", high=1.0, low_open=True)
        if gamma != 1.0 and mode != "exp_range":
            _checks.fail(self, "gamma", gamma, f"1.0 unless mode='exp_range' (mode={mode!r})")

    def __call__(self, step: ArrayLike) -> jax.Array:
        t = float_step(step)
        k = self.step_size
        cycle = 1.0 + jnp.floor_divide(t, 2 * k)
        x = jnp.abs(t - (2.0 * cycle - 1.0) * k) / k
        if self.mode == "triangular2":
            scale = 0.5 ** (cycle - 1.0)
        elif self.mode == "exp_range":
            scale = self.gamma**t
        else:
            scale = 1.0
        height = (self.max_value - self.base_value) * jnp.maximum(0.0, 1.0 - x)
        return self.base_value + height * scale


@dataclasses.dataclass(frozen=True)
class sgdr(Schedule):
    """Cosine annealing with warm restarts (Loshchilov & Hutter 2017, SGDR).

    Restart i lasts T_i = T_0 · m^i steps and starts at S_i = Σ_{j<i} T_j
    (S_i = i·T_0 for m = 1, T_0 (m^i − 1) / (m − 1) otherwise); its peak is
    α_i = α0 · d^i. With T_cur = t − S_i the steps since the last restart:

        α_t = α_min + (α_i − α_min) · ½ (1 + cos(π · T_cur / T_i)).

    The restart index i is computed in closed form (a logarithm for m > 1,
    corrected at restart boundaries), so a non-integer m is jit-safe; T_i and
    S_i may then be fractional, and a restart then begins between two steps. With d = 1 this equals
    ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0, T_mult=m, eta_min)``
    evaluated at epoch t.

    Args:
      init_value: α0 ≥ 0, the peak of the first run.
      period: T_0, a positive integer: the length of the first run.
      period_mult: m ≥ 1, the factor each run is longer than the one before.
      decay: d in (0, 1], the factor each run's peak is lower than the one before.
      min_value: α_min in [0, α0], the floor of every run.
    """

    init_value: float
    period: int
    period_mult: float = 1.0
    decay: float = 1.0
    min_value: float = 0.0

    def __post_init__(self) -> None:
        init = _checks.real(self, "init_value")
        _checks.integer(self, "period")
        _checks.real(self, "period_mult", low=1.0)
        _checks.real(self, "decay", high=1.0, low_open=True)
        _checks.real(self, "min_value", high=init)

    def __call__(self, step: ArrayLike) -> jax.Array:
        t = float_step(step)
        t_0, m = self.period, self.period_mult
        if m == 1.0:
            i = jnp.floor_divide(t, t_0)
            t_cur = t - i * t_0
        else:
            i = jnp.floor(jnp.log1p(t * (m - 1.0) / t_0) / math.log(m))

            def scaled_t_cur(i: jax.Array) -> jax.Array:
                # (m − 1)·(t − S_i): free of divisions, so exactly 0 at a restart
                # that falls on an integer step, even where jit turns x / c into x · (1/c).
                return t * (m - 1.0) - t_0 * (m**i - 1.0)

            i = jnp.where(scaled_t_cur(i + 1.0) >= 0.0, i + 1.0, i)
            i = jnp.where(scaled_t_cur(i) < 0.0, i - 1.0, i)
            t_cur = scaled_t_cur(i) / (m - 1.0)
        t_i = t_0 * m**i
        peak = self.init_value * self.decay**i
        cosine_part = 0.5 * (1.0 + jnp.cos(math.pi * t_cur / t_i))
        return self.min_value + (peak - self.min_value) * cosine_part


@dataclasses.dataclass(frozen=True)
class onecycle(Schedule):
    """The one-cycle policy (Smith & Topin 2018), as ``torch.optim.lr_scheduler.OneCycleLR``.

    With N = ``total_steps``, α_max = ``max_value``, α_start = α_max / div_factor,
    α_end = α_start / final_div_factor and E = pct_start · N − 1 (torch's phase end):

    * 0 ≤ t ≤ E:      anneal from α_start to α_max, fraction p = t / E,
    * E < t ≤ N − 1:  anneal from α_max to α_end, fraction p = (t − E) / (N − 1 − E),

    held at α_end after step N − 1, where anneal(a, b, p) is
    b + (a − b) · ½ (1 + cos(π p)) (``"cos"``) or a + (b − a) · p (``"linear"``).
    Equals torch's OneCycleLR with ``three_phase=False`` for steps 0 .. N − 1.

    Args:
      total_steps: N, a positive integer.
      max_value: α_max ≥ 0.
      pct_start: the fraction of N spent increasing, in (0, 1), with pct_start · N > 1.
      div_factor: α_max / α_start > 0.
      final_div_factor: α_start / α_end > 0.
      anneal: ``"cos"`` or ``"linear"``.
    """

    total_steps: int
    max_value: float
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal: str = "cos"

    def __post_init__(self) -> None:
        total = _checks.integer(self, "total_steps")
        _checks.real(self, "max_value")
        pct = _checks.real(self, "pct_start", high=1.0, low_open=True, high_open=True)
        _checks.real(self, "div_factor", low_open=True)
        _checks.real(self, "final_div_factor", low_open=True)
        _checks.choice(self, "anneal", ("cos", "linear"))
        if pct * total <= 1.0:
            _checks.fail(
                self,
                "pct_start",
                pct,
                f"> 1 / total_steps = {1.0 / total:g}, so the rise lasts more than one step",
            )

    def _anneal(self, start: float, end: float, fraction: jax.Array) -> jax.Array:
        if self.anneal == "cos":
            return end + (start - end) * 0.5 * (1.0 + jnp.cos(math.pi * fraction))
        return start + (end - start) * fraction

    def __call__(self, step: ArrayLike) -> jax.Array:
        t = float_step(step)
        start = self.max_value / self.div_factor
        end = start / self.final_div_factor
        rise_end = self.pct_start * self.total_steps - 1.0
        last = self.total_steps - 1.0
        rise = self._anneal(start, self.max_value, jnp.clip(t / rise_end, 0.0, 1.0))
        fall_fraction = jnp.clip((t - rise_end) / (last - rise_end), 0.0, 1.0)
        fall = self._anneal(self.max_value, end, fall_fraction)
        return jnp.where(t <= rise_end, rise, fall)
