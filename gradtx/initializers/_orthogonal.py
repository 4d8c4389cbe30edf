"""Orthogonal initialization (Saxe, McClelland & Ganguli 2013, arXiv:1312.6120)."""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.initializers._checks import check_positive, float_dtypes
from gradtx.initializers._fans import Initializer, fans


def orthogonal(gain: float = 1.0) -> Initializer:
    """Haar-random (semi-)orthogonal kernel scaled by ``gain``.

    The kernel is viewed as the matrix ``W`` of shape ``(M_{l-1}, M_l)`` (a conv
    kernel ``(spatial..., in, out)`` is flattened to ``(prod(spatial)·in, out)``). If
    ``M_{l-1} >= M_l`` its columns are orthonormal, ``WᵀW = gain²·I``; otherwise its
    rows are, ``WWᵀ = gain²·I``. All singular values equal ``gain``, so a deep linear
    stack neither shrinks nor amplifies any direction (dynamical isometry).

    Sampling is ``jax.nn.initializers.orthogonal(scale=gain)`` (QR of a Gaussian
    matrix with the sign fix); bfloat16/float16 kernels are computed in float32 and
    rounded (there is no low-precision QR on CPU).
    """
    check_positive("orthogonal", "gain", gain)
    sample = jax.nn.initializers.orthogonal(scale=gain)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        fans("orthogonal", shape)
        target, working = float_dtypes("orthogonal", dtype)
        return sample(key, tuple(shape), working).astype(target)

    return init
