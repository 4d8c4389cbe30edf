"""Learning-rate schedules: the α_t of the lecture's unified update.

A schedule is a pure, jit-safe function of the step that returns a scalar
learning rate. Every schedule is a ``Schedule``: call it on a step, read its
first values with ``.values(n)``, draw them with ``.plot(n)``.

Step convention
---------------
``step`` is the number of updates already applied, so the first update uses
``step = 0``:

* decay formulas use t = step, so the first update gets α0;
* a warmup over T' steps gives (step + 1) / T' · α0 for step < T', which is the
  lecture's α'_t = t / T' · α0 (1 ≤ t ≤ T') with t = step + 1: the first
  update gets α0 / T', never 0, and update T' (step T' − 1) gets exactly α0;
  the following schedule is then evaluated at step − T';
* ``join(schedules, boundaries)`` uses schedule i for
  boundaries[i-1] ≤ step < boundaries[i], evaluated at step − boundaries[i-1].

Steps below 0 are treated as 0.

Ranges and limits
-----------------
A schedule never leaves the range its formula promises (e.g. between its init
and end value; never negative, never NaN), under ``jit`` or not, in float32 and
float64: fractions of a decay are taken from exact integers (T − min(t, T)) and
clipped to [0, 1], bases are never negative, and results are clamped into the
promised interval where rounding could step an ulp out of it.

``step`` may be any Python int (of any size), a NumPy integer, or an integer
array (traced or not; 2³¹ − 1, the optimizer's saturated int32 counter,
included), and integer hyperparameters (decay_steps, boundaries, ...) any
Python int. The integer part of each formula (min(t, T), ⌊t / k⌋, t mod k,
comparisons with boundaries) is computed exactly, in Python for a Python int
and in the array's own integer dtype otherwise, before anything becomes a
float; so the value is the formula's, not that of a step rounded to float32. A
step past the float range (e.g. 10**400) gives the formula's limit there.
"""

from gradtx.schedules._base import Schedule, ScheduleLike
from gradtx.schedules._compose import join, warmup, warmup_cosine
from gradtx.schedules._cyclic import cyclic, onecycle, sgdr
from gradtx.schedules._decay import (
    constant,
    cosine,
    exponential,
    inverse_time,
    linear,
    natural_exponential,
    piecewise_constant,
    polynomial,
    step_decay,
)

__all__ = [
    # The protocol.
    "Schedule",
    "ScheduleLike",
    # Fixed decay: α_t falls from α0 with the step t.
    "constant",
    "piecewise_constant",
    "step_decay",
    "linear",
    "polynomial",
    "inverse_time",
    "exponential",
    "natural_exponential",
    "cosine",
    # Composition: warmup, and schedules joined in time.
    "warmup",
    "join",
    "warmup_cosine",
    # Periodic: cyclic rates, warm restarts, one cycle.
    "cyclic",
    "sgdr",
    "onecycle",
]
