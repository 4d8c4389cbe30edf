"""Small gradient transforms with optax's names: NaN zeroing, centralization, zeroing,
and adaptive gradient clipping (AGC), plus the norm helpers they use.

Every transform here runs its formula per array (per leaf, or per leaf of flat
params: rules that need a leaf's shape run on per-leaf views of the buckets), and
leaves whose update is not floating (int, bool, float0) pass through unchanged.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core.base import EmptyState, GradientTransformation, expect_params, expect_state
from gradtx.core.block import block
from gradtx.core.hyperparams import HyperParams
from gradtx.core.lift import per_array, per_leaf
from gradtx.core.numerics import abs_sq, is_trainable
from gradtx.core.tree import tree_global_norm
from gradtx.core.validate import NONNEGATIVE

__all__ = [
    "AdaptiveGradClipState",
    "ZeroNansState",
    "adaptive_grad_clip",
    "centralize",
    "global_norm",
    "set_to_zero",
    "unitwise_norm",
    "zero_nans",
]


class ZeroNansState(NamedTuple):
    """The state of ``zero_nans``: ``found_nan``, one bool per leaf of the params, True
    where the last update held a NaN (per bucket buffer for flat params)."""

    found_nan: Any


def _any_nan(u: Any) -> jax.Array:
    if not is_trainable(u):
        return jnp.array(False)
    return jnp.any(jnp.isnan(u))


def zero_nans() -> GradientTransformation:
    """u ← 0 where u is NaN, else u (elementwise; a complex entry with a NaN part → 0).

    ``state.found_nan`` has the params' tree structure; each leaf is a scalar
    bool, True iff the matching update of the last call held a NaN. It is for
    monitoring only: the transform does not read it.
    """
    owner = "zero_nans"

    def init(params):
        return ZeroNansState(found_nan=jax.tree.map(lambda p: jnp.array(False), params))

    def update(updates, state, params=None, **extra):
        del params, extra
        expect_state(state, ZeroNansState, owner)
        found = jax.tree.map(_any_nan, updates)
        (updates,) = per_array(
            lambda u: (jnp.where(jnp.isnan(u), jnp.zeros_like(u), u),), updates, what=owner)
        return updates, ZeroNansState(found_nan=found)

    return GradientTransformation(init, update)


def _subtract_mean(g: jax.Array) -> tuple[jax.Array]:
    if g.ndim > 1:
        return (g - g.mean(tuple(range(1, g.ndim)), keepdims=True),)
    return (g,)


def centralize() -> GradientTransformation:
    """Gradient centralization (Yong et al. 2020), per leaf of rank ≥ 2:

        u[i, ...] ← u[i, ...] − mean_{j, ...} u[i, j, ...]

    (the mean over every axis but the first); vectors and scalars are unchanged.
    On flat params the rule runs on each leaf's own shape.
    """
    owner = "centralize"

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra):
        del params, extra
        expect_state(state, EmptyState, owner)
        (updates,) = per_leaf(_subtract_mean, updates, what=owner)
        return updates, state

    return GradientTransformation(init, update)


def set_to_zero() -> GradientTransformation:
    """u ← 0 for every leaf (freezes the params it is applied to); the state is empty."""
    owner = "set_to_zero"

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, **extra):
        del params, extra
        expect_state(state, EmptyState, owner)
        return jax.tree.map(jnp.zeros_like, updates), state

    return GradientTransformation(init, update)


def global_norm(tree: Any) -> jax.Array:
    """‖u‖ = sqrt(Σ_leaves Σ |u|²) over the whole tree (= [`gradtx.tree_global_norm`][]).

    Unlike optax's deprecated ``global_norm`` it emits no warning.
    """
    return tree_global_norm(tree)


_DEFAULT_AXES = {2: (0,), 3: (0,), 4: (0, 1, 2), 5: (0, 1, 2, 3)}


def unitwise_norm(x: Any, axis: int | tuple[int, ...] | None = None) -> jax.Array:
    """The L2 norm of each unit of ``x``, broadcast back to ``x``'s shape.

        ‖x‖_unit = sqrt(Σ_{axis} |x|²)

    With ``axis=None`` the axes follow optax's layer conventions: the whole
    array for scalars and vectors (after squeezing), axis 0 for rank 2 and 3
    (IO, multi-head linear), axes (0, 1, 2) for rank 4 (HWIO) and (0, 1, 2, 3)
    for rank 5 (DHWIO). Other ranks need ``axis``.
    """
    x = jnp.asarray(x)
    if axis is not None:
        sq = jnp.sum(abs_sq(x), axis=axis, keepdims=True)
    elif jnp.squeeze(x).ndim <= 1:
        sq = jnp.sum(abs_sq(x), keepdims=True)
    elif x.ndim in _DEFAULT_AXES:
        sq = jnp.sum(abs_sq(x), axis=_DEFAULT_AXES[x.ndim], keepdims=True)
    else:
        raise ValueError(f"unitwise_norm: expected an array of rank 1 to 5, got shape {x.shape}; "
                         "pass axis to choose the reduction axes for other shapes")
    return jnp.broadcast_to(jnp.sqrt(sq), x.shape)


class AdaptiveGradClipState(NamedTuple):
    """The state of ``adaptive_grad_clip``: its hyperparameters."""

    hyperparams: dict[str, Any]


def _check_axis(owner: str, axis: Any) -> None:
    ok = axis is None or (isinstance(axis, int) and not isinstance(axis, bool)) or (
        isinstance(axis, tuple) and all(isinstance(a, int) and not isinstance(a, bool)
                                        for a in axis))
    if not ok:
        raise TypeError(f"{owner}: axis must be None, an int or a tuple of ints, got "
                        f"{type(axis).__name__} {axis!r}")


def adaptive_grad_clip(
    clipping: float, eps: float = 1e-3, axis: int | tuple[int, ...] | None = None
) -> GradientTransformation:
    """Adaptive gradient clipping (Brock et al. 2021, NFNets), unit-wise:

        m = λ · max(‖θ‖_unit, ε)
        u ← u                          where ‖u‖_unit < m
        u ← u · m / max(‖u‖_unit, 1e-6)  elsewhere

    with the unit norms of [`unitwise_norm`][gradtx.unitwise_norm] (``axis`` as there). Needs the
    params. On flat params each leaf is clipped with its own shape (the rule
    runs on per-leaf views of the buckets), exactly as on the tree.

    Args:
      clipping: λ ≥ 0, the largest ratio of update norm to param norm, or a schedule.
      eps: ε ≥ 0, the smallest param norm (so zero-initialized params still move).
      axis: the reduction axes of the unit norms (default: by rank, as optax).
    """
    owner = "adaptive_grad_clip"
    hyper = HyperParams(owner, clipping=(clipping, NONNEGATIVE), eps=(eps, NONNEGATIVE))
    _check_axis(owner, axis)

    def init(params, hyperparams):
        del params
        return AdaptiveGradClipState(hyperparams)

    def update(updates, state, params, h, step, **extra):
        expect_params(owner, params, updates)
        if not jax.tree.leaves(updates):
            return updates, state
        lam, eps_ = h["clipping"], h["eps"]

        def rule(u, p):
            g_norm = unitwise_norm(u, axis)
            max_norm = lam * jnp.maximum(unitwise_norm(p, axis), eps_)
            clipped = u * (max_norm / jnp.maximum(g_norm, 1e-6))
            return (jnp.where(g_norm < max_norm, u, clipped),)

        (updates,) = per_leaf(rule, updates, shared=(params,), what=owner)
        return updates, state

    return block(owner, AdaptiveGradClipState, hyper, init, update)
