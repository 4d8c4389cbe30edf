"""Fixed-scale random initializers: W ~ N(0, σ²), truncated N(0, σ²), U[−r, r].

The two families have the same variance when ``r = √(3σ²)`` (Var U[−r, r] = r²/3).
Their scale ignores the layer size, which is what makes deep stacks vanish
(σ too small) or saturate (σ too large); see ``gradtx.initializers._variance``.
"""

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.initializers._checks import check_positive, float_dtypes
from gradtx.initializers._fans import Initializer


def normal(stddev: float) -> Initializer:
    """Plain Gaussian ``W ~ N(0, stddev²)`` (the lecture's ``stddev * randn(fan_in, fan_out)``).

    Same semantics as ``jax.nn.initializers.normal`` except that ``stddev`` has no
    default and bfloat16/float16 samples are drawn in float32 and rounded.
    """
    check_positive("normal", "stddev", stddev)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        target, working = float_dtypes("normal", dtype)
        return (stddev * jax.random.normal(key, tuple(shape), working)).astype(target)

    return init


def uniform(r: float) -> Initializer:
    """``W ~ U[−r, r]``, variance ``r²/3``; every sample satisfies ``|w| <= r``.

    Differs from ``jax.nn.initializers.uniform(scale)``, which samples ``[0, scale)``.
    For a target variance σ² use ``r = √(3σ²)``.
    """
    check_positive("uniform", "r", r)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        target, working = float_dtypes("uniform", dtype)
        return jax.random.uniform(key, tuple(shape), working, -r, r).astype(target)

    return init


def truncated_normal(stddev: float, bound: float = 2.0) -> Initializer:
    """Gaussian truncated at ``±bound`` standard deviations, rescaled so that the
    *truncated* distribution has standard deviation ``stddev``.

    With ``Z = erf(c/√2)`` the mass of N(0, 1) on ``[−c, c]`` (``c = bound``) and φ the
    standard normal density, the truncated unit Gaussian has variance
    ``v(c) = 1 − 2cφ(c)/Z``; samples are ``s·x`` with ``x ~ N(0, 1)`` restricted to
    ``[−c, c]`` and ``s = stddev/√v(c)``, so ``|w| <= c·s``.

    Differs from ``jax.nn.initializers.truncated_normal``, whose ``stddev`` is that
    of the untruncated distribution (its samples have a smaller spread);
    this matches the convention of its ``variance_scaling``.
    """
    check_positive("truncated_normal", "stddev", stddev)
    check_positive("truncated_normal", "bound", bound)
    scale = stddev / math.sqrt(truncated_unit_variance(bound))

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        target, working = float_dtypes("truncated_normal", dtype)
        x = jax.random.truncated_normal(key, -bound, bound, tuple(shape), working)
        return (scale * x).astype(target)

    return init


def truncated_unit_variance(c: float) -> float:
    """Variance of N(0, 1) restricted to ``[−c, c]``: ``1 − 2cφ(c)/erf(c/√2)``."""
    density = math.exp(-0.5 * c * c) / math.sqrt(2 * math.pi)
    return 1.0 - 2.0 * c * density / math.erf(c / math.sqrt(2))
