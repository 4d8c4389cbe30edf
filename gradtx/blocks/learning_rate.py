"""α_t: the learning rate, the only place where the sign of the update flips.

Every ``learning_rate`` argument in gradtx accepts a number or a schedule (a
function of the step, see [`gradtx.schedules`][]); a schedule is evaluated at
the chain's step, the number of updates already applied (0 for the first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from gradtx.core.base import GradientTransformation
from gradtx.core.block import block
from gradtx.core.hyperparams import HyperParams
from gradtx.core.lift import per_array
from gradtx.core.validate import NONNEGATIVE, REAL, Interval

__all__ = [
    "ScaleState",
    "scale_by_learning_rate",
    "scale",
    "scale_by_schedule",
]

Schedule = Callable[[Any], Any]


class ScaleState(NamedTuple):
    """The state of ``scale``, ``scale_by_learning_rate`` and ``scale_by_schedule``."""

    hyperparams: dict[str, Any]


def _scaling(owner: str, name: str, value: Any, interval: Interval, sign: float
             ) -> GradientTransformation:
    hyper = HyperParams(owner, **{name: (value, interval)})

    def init(params, hyperparams):
        del params
        return ScaleState(hyperparams)

    def update(updates, state, params, h, step, **extra):
        factor = sign * h[name]
        (updates,) = per_array(lambda u: (factor * u,), updates, what=owner)
        return updates, state

    return block(owner, ScaleState, hyper, init, update)


def scale_by_learning_rate(learning_rate: float | Schedule) -> GradientTransformation:
    """Δθ = −α_t · u.

    Args:
      learning_rate: α ≥ 0, or a schedule t ↦ α_t. The value used by the most
        recent update is readable as the hyperparameter ``learning_rate``.
    """
    return _scaling("scale_by_learning_rate", "learning_rate", learning_rate, NONNEGATIVE, -1.0)


def scale(factor: float) -> GradientTransformation:
    """u ← c · u for a constant c (no sign flip)."""
    if callable(factor):
        raise TypeError(f"scale: factor must be a number, got {type(factor).__name__} "
                        f"{factor!r}; for a schedule use scale_by_schedule")
    return _scaling("scale", "factor", factor, REAL, 1.0)


def scale_by_schedule(schedule: Schedule) -> GradientTransformation:
    """u ← s(t) · u for a schedule s of the step (no sign flip)."""
    if not callable(schedule):
        raise TypeError(
            f"scale_by_schedule: schedule must be a callable of the step, "
            f"got {type(schedule).__name__}"
        )
    return _scaling("scale_by_schedule", "schedule_value", schedule, REAL, 1.0)


