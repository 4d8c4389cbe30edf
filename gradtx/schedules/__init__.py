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
