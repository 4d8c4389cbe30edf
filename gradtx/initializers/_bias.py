"""Bias initializers beyond zero (lecture: 偏置设置的一些方案).

* usually ``b = 0`` ([`gradtx.initializers.zeros`][]);
* an output layer's bias with ``softmax(b) = c``, the class prior:
  [`class_prior_bias`][gradtx.initializers.class_prior_bias];
* ``b = 0.1`` for ReLU units, so they start in the active region:
  [`relu_bias`][gradtx.initializers.relu_bias];
* a gate's bias so that the gate starts near 1 (open), e.g. an LSTM forget gate:
  [`gate_bias`][gradtx.initializers.gate_bias].
"""

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from gradtx.initializers._checks import check_open_unit
from gradtx.initializers._constant import constant
from gradtx.initializers._fans import Initializer


def class_prior_bias(c: ArrayLike) -> Initializer:
    """Output bias with ``softmax(b) = c``: ``b_k = log c_k − mean_j log c_j``.

    ``c`` holds positive class frequencies; it is normalised to sum to 1, so raw
    counts work too. (Any constant shift of ``b`` gives the same softmax; centring
    makes ``mean(b) = 0``.) The initializer requires ``shape == (len(c),)``.
    """
    prior = np.asarray(c, dtype=np.float64)
    if prior.ndim != 1 or prior.size == 0:
        raise ValueError(
            f"class_prior_bias: c must be a non-empty 1-D array of class frequencies, "
            f"got shape {prior.shape}"
        )
    if not np.all(prior > 0):
        raise ValueError(
            f"class_prior_bias: every entry of c must be > 0 (log c is needed), got {prior}"
        )
    log_prior = np.log(prior / prior.sum())
    bias = log_prior - log_prior.mean()

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        del key
        if tuple(shape) != bias.shape:
            raise ValueError(
                f"class_prior_bias: shape must be {bias.shape} to match c, got {tuple(shape)}"
            )
        return jnp.asarray(bias, dtype)

    return init


def relu_bias() -> Initializer:
    """``b = 0.1`` for ReLU units: every unit starts active on typical inputs."""
    return constant(0.1)


def gate_bias(target: float = 0.9) -> Initializer:
    """Gate bias with ``σ(b) = target``: ``b = log(target/(1 − target))``.

    A gate ``h = σ(Wx + b) ∈ [0, 1]`` multiplies a unit's output ``u`` (output ``u·h``);
    starting with ``h ≈ 1`` lets signal and gradient pass, e.g. an LSTM forget gate
    remembers by default. ``target=0.9`` gives ``b ≈ 2.197``; the common forget-gate
    bias ``b = 1`` (Jozefowicz et al. 2015) is ``target = σ(1) ≈ 0.731``.
    """
    check_open_unit("gate_bias", "target", target)
    return constant(math.log(target / (1.0 - target)))
