"""Arithmetic shared by the per-array rules: the places where numbers, dtypes and limits
are decided once for every optimizer (SPEC §7).

* **Complex leaves.** Squares and norms use |g|² = g · conj(g) (optax's convention),
  so a second moment is real and a norm is the norm of the real pair (Re g, Im g).
  Signs are taken per real component: a complex leaf moves as the pair (Re, Im) would.
* **Zero over zero.** ``divide(n, d)`` is n / d, except that a zero numerator gives
  zero whatever d is: a zero gradient gives a zero update even with ε = 0.
* **The step at its limit.** The step counter is int32 and saturates at 2³¹ − 1;
  ``update_number`` computes t = step + 1 in floating point, so it never wraps.
* **Storage dtypes.** Second moments of float16 params are stored in float32
  (float16 underflows g² for |g| ≲ 1e-4 and overflows it for |g| ≳ 256); those of
  complex params in the matching real dtype; everything else in the params' dtype
  unless the caller asks otherwise.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "abs_sq",
    "divide",
    "is_trainable",
    "real_dtype",
    "second_moment_dtype",
    "sign",
    "update_number",
    "widen",
]


def is_trainable(x: Any) -> bool:
    """True for a floating or complex leaf; int, bool and float0 leaves are not trained."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = jnp.result_type(x)
    return bool(jnp.issubdtype(dtype, jnp.inexact))


def widen(x: jax.Array) -> jax.Array:
    """``x`` in float32 (complex64) or wider: the dtype the rules compute in."""
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def real_dtype(dtype: Any) -> np.dtype:
    """The real dtype of the same precision (complex64 → float32); real dtypes unchanged."""
    dtype = np.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return np.dtype(jnp.finfo(dtype).dtype)
    return dtype


def second_moment_dtype(param_dtype: Any, override: Any = None) -> np.dtype:
    """The storage dtype of a second-moment statistic (Σ g², E[g²], max |g|) of a leaf.

    ``override`` (a user's ``nu_dtype``) wins when given; else float16 params get
    float32 (2 extra bytes per parameter, the price of not under- or overflowing g²),
    complex params their real dtype, and other dtypes are kept (bfloat16 has
    float32's range).
    """
    if override is not None:
        return np.dtype(override)
    dtype = real_dtype(param_dtype)
    if dtype == np.dtype(jnp.float16):
        return np.dtype(jnp.float32)
    return dtype


def abs_sq(x: jax.Array) -> jax.Array:
    """|x|² elementwise, in float32 or wider: x · x for real x, Re(x · conj(x)) for complex."""
    x = widen(x)
    if jnp.iscomplexobj(x):
        return jnp.real(x) ** 2 + jnp.imag(x) ** 2
    return x * x


def divide(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """numerator / denominator, and 0 wherever the numerator is 0 (0/0 included)."""
    return numerator / jnp.where(numerator == 0, 1, denominator)


def sign(x: jax.Array) -> jax.Array:
    """sign(x) elementwise; for complex x, sign(Re x) + i · sign(Im x) (the real pair's)."""
    if jnp.iscomplexobj(x):
        return jax.lax.complex(jnp.sign(jnp.real(x)), jnp.sign(jnp.imag(x)))
    return jnp.sign(x)


def update_number(step: jax.Array, dtype: Any) -> jax.Array:
    """t = step + 1 (1 for the first update) in ``dtype``, computed without int32 overflow."""
    return jnp.asarray(step).astype(dtype) + 1
