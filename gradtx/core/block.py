"""How a building block is assembled from its hyperparameters and its per-step rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx.core.base import GradientTransformation, expect_state, stepped
from gradtx.core.hyperparams import HyperParams, register_ranges
from gradtx.core.tree import on_params_mesh

__all__ = ["block"]


def block(
    owner: str,
    state_cls: type,
    hyper: HyperParams,
    init: Callable[[Any, dict[str, Any]], Any],
    update: Callable[..., tuple[Any, Any]],
    *,
    uses_step: bool = False,
) -> GradientTransformation:
    """Assembles a transform whose state is a NamedTuple with a ``hyperparams`` field.

    ``init(params, hyperparams) -> state`` and
    ``update(updates, state, params, h, step, **extra) -> (updates, state)``
    where ``h`` holds this step's hyperparameter values (schedules evaluated).
    The transform receives the step from its chain when ``uses_step`` is set or
    any hyperparameter follows a schedule.
    """
    register_ranges(state_cls, hyper)

    def _init(params):
        return on_params_mesh(init(params, hyper.init(params)), params)

    def _update(updates, state, params=None, *, step=None, **extra):
        expect_state(state, state_cls, owner)
        h = hyper.current(state.hyperparams, step)
        updates, state = update(updates, state, params, h, step, **extra)
        return updates, state._replace(hyperparams=hyper.store(h, state.hyperparams))

    if uses_step or hyper.scheduled:
        return stepped(_init, _update, owner)
    return GradientTransformation(_init, _update)
