"""Deterministic initializers: zeros, ones, constant. Biases are usually 0; weights
never all equal (every hidden unit would compute and learn the same thing)."""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.initializers._fans import Initializer


def constant(value: float) -> Initializer:
    """Every entry equals ``value``: ``b = value``.

    Unlike the random initializers this accepts any dtype (integer included).
    """

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        del key
        return jnp.full(tuple(shape), value, dtype)

    return init


def zeros() -> Initializer:
    """``b = 0``: the usual bias initialization. (A factory, unlike
    ``jax.nn.initializers.zeros`` which is itself the initializer.)"""
    return constant(0)


def ones() -> Initializer:
    """``b = 1``. (A factory, unlike ``jax.nn.initializers.ones``.)"""
    return constant(1)
