"""The ``Schedule`` base class: a learning rate as a pure function of the step."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from gradtx.schedules import _checks

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ScheduleLike = Callable[[ArrayLike], ArrayLike]
"""Anything composable with a schedule: a ``Schedule`` or any callable step -> value."""


def float_step(step: ArrayLike) -> jax.Array:
    """The step t as an array of the default float dtype; steps below 0 count as 0."""
    t = jnp.asarray(step).astype(jnp.result_type(float))
    return jnp.maximum(t, 0.0)


class Schedule(abc.ABC):
    """A learning-rate schedule α_t, a pure and jit-safe function of the step t.

    ``step`` is the number of updates already applied (the first update uses
    step 0); it may be a Python or NumPy int or a traced integer array, and a
    batch of steps under ``jax.vmap``. The result is a scalar array of jnp's
    default float dtype.

    Concrete schedules are frozen dataclasses named like the functions that
    build them, so their hyperparameters are readable attributes and their
    ``repr`` is the call that rebuilds them, e.g.
    ``cosine(init_value=0.1, decay_steps=100, alpha=0.0)``. They validate their
    arguments when built, never under ``jit``.
    """

    @abc.abstractmethod
    def __call__(self, step: ArrayLike) -> jax.Array:
        """The learning rate for the update that follows ``step`` applied updates."""

    def values(self, n: int) -> np.ndarray:
        """The first ``n`` learning rates (steps ``0 .. n-1``), from one jitted ``vmap``."""
        n = _checks.as_int("Schedule.values", "n", n)
        if n < 0:
            raise ValueError(f"Schedule.values: n must be a non-negative integer, got {n}")
        return np.asarray(jax.jit(jax.vmap(self))(jnp.arange(n)))

    def plot(self, n: int, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Plot ``values(n)`` against the step on ``ax`` (a new figure if None).

        ``kwargs`` go to ``ax.plot``. The axes are labelled "step" and
        "learning rate" and titled with the schedule's ``repr``. Needs
        matplotlib (the ``plot`` extra).
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as err:
            raise ImportError("Schedule.plot needs matplotlib: pip install 'gradtx[plot]'") from err
        values = self.values(n)
        if ax is None:
            _, ax = plt.subplots()
        ax.plot(np.arange(n), values, **kwargs)
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.set_title(repr(self), fontsize="small")
        return ax
