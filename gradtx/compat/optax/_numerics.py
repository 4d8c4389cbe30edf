"""optax 0.2.8's numerics helpers: norms that are safe to differentiate, saturating counters,
and gradient scaling."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradtx.core.tree import tree_global_norm

__all__ = [
    "global_norm",
    "safe_increment",
    "safe_int32_increment",
    "safe_norm",
    "safe_root_mean_squares",
    "scale_gradient",
]


def global_norm(updates: Any) -> jax.Array:
    """optax.global_norm: √(Σ |u|²) over all leaves."""
    return tree_global_norm(updates)


def safe_norm(x: Any, min_norm: Any, ord: int | float | str | None = None,  # noqa: A002
              axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> jax.Array:
    """optax.safe_norm: max(‖x‖, c) (``jnp.linalg.norm``'s ``ord`` and ``axis``), whose
    gradient is 0, not NaN, where ‖x‖ ≤ c (x = 0 included)."""
    x = jnp.asarray(x)
    norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
    small = norm <= min_norm
    safe = jnp.linalg.norm(jnp.where(small, jnp.ones_like(x), x), ord=ord, axis=axis,
                           keepdims=keepdims)
    small = small if keepdims else jnp.squeeze(small, axis=axis)
    return jnp.where(small, min_norm, safe)


def safe_root_mean_squares(x: Any, min_rms: Any) -> jax.Array:
    """optax.safe_root_mean_squares: max(√mean(x²), c), differentiable at x = 0."""
    x = jnp.asarray(x)
    rms = jnp.sqrt(jnp.mean(jnp.square(x)))
    small = rms <= min_rms
    x = jnp.where(small, jnp.ones_like(x), x)
    return jnp.where(small, min_rms, jnp.sqrt(jnp.mean(jnp.square(x))))


def safe_increment(count: Any) -> jax.Array:
    """optax.safe_increment: count + 1, saturating at the largest value of its dtype."""
    count = jnp.asarray(count)
    info = jnp.iinfo if jnp.issubdtype(count.dtype, jnp.integer) else jnp.finfo
    top = jnp.asarray(info(count.dtype).max, count.dtype)
    return jnp.where(count < top, count + 1, top)


safe_int32_increment = safe_increment


@jax.custom_vjp
def _scaled_identity(inputs: Any, scale: Any) -> Any:
    return inputs


def _forward(inputs: Any, scale: Any) -> tuple[Any, Any]:
    return inputs, scale


def _backward(scale: Any, cotangent: Any) -> tuple[Any, None]:
    return jax.tree.map(lambda g: g * scale, cotangent), None


_scaled_identity.defvjp(_forward, _backward)


def scale_gradient(inputs: Any, scale: Any) -> Any:
    """optax.scale_gradient: the identity on ``inputs``, whose gradient is multiplied by
    ``scale`` (0 stops it)."""
    return _scaled_identity(inputs, scale)
