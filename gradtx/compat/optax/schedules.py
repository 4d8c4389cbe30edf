"""optax 0.2.8's ``optax.schedules``: the schedules with optax's names, signatures and
conventions, and the hyperparameter injection that ``optax.schedules`` also holds — the
same objects as the top-level names of [`gradtx.compat.optax`][gradtx.compat.optax], so
``from optax.schedules import ...`` runs after switching the import.
"""

# ruff: noqa: F401  (re-exports)

from gradtx.compat.optax._schedules import *  # noqa: F403
from gradtx.compat.optax._schedules import __all__ as _schedule_names
from gradtx.compat.optax._states import InjectStatefulHyperparamsState
from gradtx.compat.optax._types import Schedule, StatefulSchedule
from gradtx.compat.optax._wrappers import (
    WrappedSchedule,
    inject_hyperparams,
    inject_stateful_hyperparams,
)
from gradtx.wrappers.optax_extras import InjectHyperparamsState

__all__ = [
    *_schedule_names,
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "Schedule",
    "StatefulSchedule",
    "WrappedSchedule",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
]
