"""How a wrapper calls the transform it holds: the way a chain calls its parts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from gradtx.core.base import _RAW, GradientTransformation, _part
from gradtx.core.tree import tree_zeros_like

__all__ = ["Inner", "zeros_like_output"]


class Inner:
    """A transform held by a wrapper.

    A step-consuming gradtx transform is called through its raw update, with the
    ``step`` the wrapper gives it (so the wrapper's state holds the inner state
    without a second counter); other gradtx transforms get the extra keyword
    arguments; optax transforms get them if they accept them.
    """

    def __init__(self, tx: GradientTransformation, where: str):
        self.uses_step = getattr(getattr(tx, "update", None), _RAW, None) is not None
        self.tx, self._is_gradtx, self._forwards = _part(tx, where)

    def init(self, params: Any) -> Any:
        return self.tx.init(params)

    def update(
        self, updates: Any, state: Any, params: Any, step: Any, extra: dict[str, Any]
    ) -> tuple[Any, Any]:
        if self._is_gradtx:
            return self.tx.update(updates, state, params, step=step, **extra)
        if self._forwards:
            return self.tx.update(updates, state, params, **extra)
        return self.tx.update(updates, state, params)


def zeros_like_output(fn: Callable[[], tuple[Any, Any]], updates: Any) -> Any:
    """Zeros in the dtypes of the updates ``fn()`` would return, without running it.

    The branch of a ``lax.cond`` that skips the inner update returns these;
    they are computed from ``updates`` (of the same structure and shapes), so
    they are sharded like them.
    """
    dtypes = jax.tree.map(lambda s: s.dtype, jax.eval_shape(fn)[0])
    return jax.tree.map(lambda u, dtype: tree_zeros_like(u, dtype), updates, dtypes)
