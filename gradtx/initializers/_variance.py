"""Variance-scaling initializers: the scale follows the layer's fans.

Lecture notation: ``M_{l-1} = fan_in``, ``M_l = fan_out`` (see
[`compute_fans`][gradtx.initializers.compute_fans]).

============  ==========  ===============================  ============================
initializer   activation  uniform U[−r, r]                 Gaussian N(0, σ²)
============  ==========  ===============================  ============================
Xavier        logistic    r = 4·√(6/(M_{l-1}+M_l))         σ² = 16·2/(M_{l-1}+M_l)
Xavier        tanh        r = √(6/(M_{l-1}+M_l))           σ² = 2/(M_{l-1}+M_l)
He            ReLU        r = √(6/M_{l-1})                 σ² = 2/M_{l-1}
LeCun         —           r = √(3/M_{l-1})                 σ² = 1/M_{l-1}
============  ==========  ===============================  ============================

The ``*_normal`` initializers here draw a **plain** Gaussian, as the lecture does;
``jax.nn.initializers`` and Keras draw a truncated one for ``glorot_normal``,
``he_normal`` and ``lecun_normal``. Use
[`variance_scaling`][gradtx.initializers.variance_scaling] with
``distribution="truncated_normal"`` for that.
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.initializers._checks import check_choice, check_positive, float_dtypes
from gradtx.initializers._fans import Initializer, fans

MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")

_GAINS = {
    "linear": 1.0,
    "tanh": 1.0,
    "logistic": 4.0,
    "sigmoid": 4.0,
    "relu": math.sqrt(2.0),
}


def activation_gain(activation: str) -> float:
    """Xavier gain ``a`` for an activation: the factor on ``r`` and on σ.

    ``linear`` 1, ``tanh`` 1, ``logistic`` (alias ``sigmoid``) 4 (Glorot & Bengio 2010,
    from tanh(x) = 2σ(2x) − 1 and σ'(0) = 1/4), ``relu`` √2 (He et al. 2015).
    Note: PyTorch's ``calculate_gain('sigmoid')`` is 1, not 4.
    """
    check_choice("activation_gain", "activation", activation, tuple(_GAINS))
    return _GAINS[activation]


def variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    """Zero-mean samples with variance ``σ² = scale / n``.

    ``n`` by ``mode``: ``"fan_in"`` M_{l-1}, ``"fan_out"`` M_l, ``"fan_avg"``
    (M_{l-1}+M_l)/2, ``"fan_geo_avg"`` √(M_{l-1}·M_l).
    ``distribution``: ``"normal"`` plain N(0, σ²); ``"truncated_normal"`` a Gaussian cut
    at ±2 of its own standard deviations and rescaled so the result has variance σ²;
    ``"uniform"`` U[−r, r] with ``r = √(3σ²)``.

    Same semantics as ``jax.nn.initializers.variance_scaling`` (which draws the
    samples) with the default ``in_axis=-2, out_axis=-1``; differences: arguments are
    checked when the initializer is built, a rank < 2 shape raises an error naming
    the caller, and bfloat16/float16 samples are drawn in float32 then rounded.
    """
    return _variance_scaling("variance_scaling", scale, mode, distribution)


def _variance_scaling(caller: str, scale: float, mode: str, distribution: str) -> Initializer:
    check_positive(caller, "scale", scale)
    check_choice(caller, "mode", mode, MODES)
    check_choice(caller, "distribution", distribution, DISTRIBUTIONS)
    # mode and distribution are checked against jax's Literal choices just above.
    sample = jax.nn.initializers.variance_scaling(
        scale, mode, distribution  # type: ignore[arg-type]
    )

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        fans(caller, shape)
        target, working = float_dtypes(caller, dtype)
        return sample(key, tuple(shape), working).astype(target)

    return init


def xavier_uniform(activation: str = "tanh") -> Initializer:
    """Xavier/Glorot uniform: ``W ~ U[−r, r]``, ``r = a·√(6/(M_{l-1}+M_l))``.

    ``a = activation_gain(activation)``: tanh/linear 1, logistic/sigmoid 4, relu √2;
    so for logistic ``r = 4√(6/(M_{l-1}+M_l))``. Equals
    ``variance_scaling(a², "fan_avg", "uniform")``.
    """
    check_choice("xavier_uniform", "activation", activation, tuple(_GAINS))
    return _variance_scaling("xavier_uniform", _GAINS[activation] ** 2, "fan_avg", "uniform")


def xavier_normal(activation: str = "tanh") -> Initializer:
    """Xavier/Glorot normal, plain (not truncated): ``W ~ N(0, a²·2/(M_{l-1}+M_l))``.

    ``a = activation_gain(activation)``; logistic gives ``σ² = 16·2/(M_{l-1}+M_l)``.
    ``jax.nn.initializers.glorot_normal`` truncates; this does not.
    """
    check_choice("xavier_normal", "activation", activation, tuple(_GAINS))
    return _variance_scaling("xavier_normal", _GAINS[activation] ** 2, "fan_avg", "normal")


def he_uniform() -> Initializer:
    """He/Kaiming uniform for ReLU: ``W ~ U[−r, r]``, ``r = √(6/M_{l-1})``."""
    return _variance_scaling("he_uniform", 2.0, "fan_in", "uniform")


def he_normal() -> Initializer:
    """He/Kaiming normal for ReLU, plain (not truncated): ``W ~ N(0, 2/M_{l-1})``.

    (The lecture slide's ``randn/np.sqrt(2/fan_in)`` is a typo for
    ``randn*np.sqrt(2/fan_in)``.) ``jax.nn.initializers.he_normal`` truncates.
    """
    return _variance_scaling("he_normal", 2.0, "fan_in", "normal")


def lecun_uniform() -> Initializer:
    """LeCun uniform: ``W ~ U[−r, r]``, ``r = √(3/M_{l-1})`` (variance 1/M_{l-1})."""
    return _variance_scaling("lecun_uniform", 1.0, "fan_in", "uniform")


def lecun_normal() -> Initializer:
    """LeCun normal, plain (not truncated): ``W ~ N(0, 1/M_{l-1})`` — the lecture's
    ``randn(fan_in, fan_out)/sqrt(fan_in)``. ``jax.nn.initializers.lecun_normal`` truncates."""
    return _variance_scaling("lecun_normal", 1.0, "fan_in", "normal")


_RANDOM_WALK_GAINS: dict[str, Callable[[int], float]] = {
    "linear": lambda n: math.exp(1.0 / (2.0 * n)),
    "relu": lambda n: math.sqrt(2.0) * math.exp(1.2 / (max(n, 6) - 2.4)),
}


def random_walk(activation: str = "relu") -> Initializer:
    """Random-walk initialization (Sussillo & Abbott 2014, arXiv:1412.6558).

    ``W = g·V`` with ``V ~ N(0, 1/N)``, ``N = M_{l-1}`` (fan_in), and ``g`` chosen so
    that ``ln`` of the back-propagated error norm performs an unbiased random walk
    across layers instead of drifting to 0 or ∞:

    * linear: ``g = exp(1/(2N))``
    * ReLU:   ``g = √2·exp(1.2/(max(N, 6) − 2.4))``

    i.e. ``W ~ N(0, g²/N)``, plain Gaussian. The paper derives ``g`` for square N×N
    layers; for rectangular kernels ``N`` is taken to be fan_in. It gives no closed form
    for tanh (``g`` is tuned there); use ``variance_scaling(g**2, "fan_in", "normal")``.
    """
    check_choice("random_walk", "activation", activation, tuple(_RANDOM_WALK_GAINS))
    gain = _RANDOM_WALK_GAINS[activation]

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        fan_in, _ = fans("random_walk", shape)
        scaled = _variance_scaling("random_walk", gain(fan_in) ** 2, "fan_in", "normal")
        return scaled(key, shape, dtype)

    return init
