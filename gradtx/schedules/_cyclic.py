"""Periodic schedules: cyclic learning rates, SGDR warm restarts, and the one-cycle policy."""

from __future__ import annotations

import dataclasses
import math
import sys

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
    fraction,
    quotient,
    remaining,
    step_before,
    step_divmod,
    step_limit,
    step_min,
    step_minus,
    to_float,
)

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
_FLOAT64_MAX = int(sys.float_info.max)  # onecycle computes pct_start · total_steps in float64


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
    its step 0 being the rate torch sets at construction. cycle and 1 − x = (k − |t mod 2k
    − k|) / k are computed from exact integers, so they are right at any step (2³¹ − 1
    included), and α_t always lies in [α_base, α_max].

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
        step = as_step(step)
        k = self.step_size
        cycles, position = step_divmod(step, 2 * k)  # cycle − 1 and t mod 2k
        if isinstance(step, int):
            rise = remaining(abs(int(position) - k), k)
        elif k > step_limit(step):  # position = t < k: still on the first way up
            rise = fraction(position, k)
        else:
            rise = remaining(jnp.abs(step_minus(position, k)), k)
        scale: jax.Array | float
        if self.mode == "triangular2":
            scale = decay_factor(0.5, cycles)
        elif self.mode == "exp_range":
            scale = decay_factor(self.gamma, step)
        else:
            scale = 1.0
        value = self.base_value + (self.max_value - self.base_value) * rise * scale
        return between(value, self.base_value, self.max_value)


@dataclasses.dataclass(frozen=True)
class sgdr(Schedule):
    """Cosine annealing with warm restarts (Loshchilov & Hutter 2017, SGDR).

    Restart i lasts T_i = T_0 · m^i steps and starts at S_i = Σ_{j<i} T_j
    (S_i = i·T_0 for m = 1, T_0 (m^i − 1) / (m − 1) otherwise); its peak is
    α_i = max(α0 · d^i, α_min), so that α_min stays the floor once the decayed peak
    would fall below it. With T_cur = t − S_i the steps since the last restart:

        α_t = α_min + (α_i − α_min) · ½ (1 + cos(π · T_cur / T_i)),

    always in [α_min, α0]. For m = 1, i = ⌊t / T_0⌋ and T_cur = t mod T_0 are exact
    integers. For m > 1 the restart index i is computed in closed form (a logarithm,
    corrected at restart boundaries), so a non-integer m is jit-safe; T_i and S_i may
    then be fractional, and a restart then begins between two steps (for a Python int
    step this is done in float64, past float64's range in logarithms). With d = 1 this equals
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
        step = as_step(step)
        if self.period_mult == 1.0:
            restarts, t_cur = step_divmod(step, self.period)
            to_go = remaining(t_cur, self.period)
        elif isinstance(step, int):
            restarts, run_to_go = self._run_of_int(step)
            to_go = to_float(run_to_go)
        else:
            restarts, to_go = self._run_of_array(step)
        peak = jnp.maximum(self.init_value * decay_factor(self.decay, restarts), self.min_value)
        value = self.min_value + (peak - self.min_value) * cosine_share(to_go)
        return between(value, self.min_value, peak)

    def _run_of_int(self, t: int) -> tuple[int, float]:
        """(i, (T_i − T_cur) / T_i) for a Python int step t, m > 1, in float64."""
        t_0, m = self.period, self.period_mult
        if t < t_0:
            return 0, (t_0 - t) / t_0
        log_m = math.log(m)
        try:
            t_f, t_0f = float(t), float(t_0)
            i = math.floor(math.log1p(t_f * (m - 1.0) / t_0f) / log_m)

            def scaled_t_cur(i: int) -> float:  # (m − 1)·(t − S_i), as in _run_of_array
                return t_f * (m - 1.0) - t_0f * (m**i - 1.0)

            if scaled_t_cur(i + 1) >= 0.0:
                i += 1
            if scaled_t_cur(i) < 0.0:
                i -= 1
            t_i = t_0f * m**i
            to_go = 1.0 - scaled_t_cur(i) / (m - 1.0) / t_i
            if math.isfinite(t_i) and math.isfinite(to_go):
                return i, min(max(to_go, 0.0), 1.0)
        except OverflowError:
            pass
        # Past float64's range: with w = t (m − 1) / T_0, i = ⌊ln(w + 1) / ln m⌋ and
        # T_cur / T_i = ((w + 1) m^−i − 1) / (m − 1) = expm1(z) / (m − 1), z = ln(w + 1) − i ln m.
        log_w = math.log(t) - math.log(t_0) + math.log(m - 1.0)
        log_w1 = log_w + math.log1p(math.exp(-log_w))
        i = math.floor(log_w1 / log_m)
        to_go = 1.0 - math.expm1(log_w1 - i * log_m) / (m - 1.0)
        return i, min(max(to_go, 0.0), 1.0)

    def _run_of_array(self, step: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(i, (T_i − T_cur) / T_i) for an array step, m > 1."""
        t_0, m = self.period, self.period_mult
        limit = step_limit(step)
        if t_0 > limit:  # the first run never ends
            return jnp.zeros(step.shape), remaining(step, t_0)
        if t_0 * (1.0 + m) > limit:  # only the first restart, at T_0, is ever reached
            first = step_before(step, t_0)
            second_to_go = 1.0 - quotient(step_minus(step, t_0), t_0 * m)
            to_go = jnp.where(first, remaining(step, t_0), jnp.clip(second_to_go, 0.0, 1.0))
            return jnp.where(first, 0.0, 1.0), to_go
        # Here m < limit / T_0, so nothing below overflows: t·(m − 1) ≤ limit².
        t = to_float(step)
        i = jnp.floor(jnp.log1p(t * (m - 1.0) / t_0) / math.log(m))

        def scaled_t_cur(i: jax.Array) -> jax.Array:
            # (m − 1)·(t − S_i): free of divisions, so exactly 0 at a restart
            # that falls on an integer step, even where jit turns x / c into x · (1/c).
            return t * (m - 1.0) - t_0 * (m**i - 1.0)

        i = jnp.where(scaled_t_cur(i + 1.0) >= 0.0, i + 1.0, i)
        i = jnp.where(scaled_t_cur(i) < 0.0, i - 1.0, i)
        t_cur = scaled_t_cur(i) / (m - 1.0)
        to_go = jnp.clip(1.0 - t_cur / (t_0 * m**i), 0.0, 1.0)
        return i, to_go


@dataclasses.dataclass(frozen=True)
class onecycle(Schedule):
    """The one-cycle policy (Smith & Topin 2018), as ``torch.optim.lr_scheduler.OneCycleLR``.

    With N = ``total_steps``, α_max = ``max_value``, α_start = α_max / div_factor,
    α_end = α_start / final_div_factor and E = pct_start · N − 1 (torch's phase end):

    * 0 ≤ t ≤ E:      anneal from α_start to α_max, fraction p = t / E,
    * E < t ≤ N − 1:  anneal from α_max to α_end, fraction p = (t − E) / (N − 1 − E),

    held at α_end after step N − 1, where anneal(a, b, p) is
    b + (a − b) · ½ (1 + cos(π p)) (``"cos"``) or a + (b − a) · p (``"linear"``).
    Equals torch's OneCycleLR with ``three_phase=False`` for steps 0 .. N − 1. Each
    phase is computed from the fraction 1 − p still to go (for the second, from the
    exact integer N − 1 − min(t, N − 1)) and stays between its two rates.

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
        total = _checks.integer(self, "total_steps", high=_FLOAT64_MAX)
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

    def _anneal(self, start: float, end: float, to_go: jax.Array) -> jax.Array:
        """anneal(start, end, p) for the fraction 1 − p = ``to_go`` still to go, in [start, end]."""
        share = cosine_share(to_go) if self.anneal == "cos" else to_go
        return between(end + (start - end) * share, start, end)

    def __call__(self, step: ArrayLike) -> jax.Array:
        step = as_step(step)
        n = self.total_steps
        start = self.max_value / self.div_factor
        end = start / self.final_div_factor
        rise_end = self.pct_start * n - 1.0
        rise_to_go = jnp.clip(1.0 - quotient(step_min(step, n), rise_end), 0.0, 1.0)
        fall_to_go = remaining(step, (n - 1.0) - rise_end, end=n - 1)
        rise = self._anneal(start, self.max_value, rise_to_go)
        fall = self._anneal(self.max_value, end, fall_to_go)
        # t ≤ E, for an integer t, is t < ⌊E⌋ + 1: compared exactly.
        return jnp.where(step_before(step, math.floor(rise_end) + 1), rise, fall)
