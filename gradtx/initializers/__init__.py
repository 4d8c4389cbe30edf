"""Weight and bias initializers, the lecture's and LSUV.

Every factory returns ``init(key, shape, dtype=jnp.float32) -> Array``, usable as a
Flax ``kernel_init`` / ``bias_init``. Kernels are ``(in, out)`` (dense) or
``(spatial..., in, out)`` (conv); ``M_{l-1} = fan_in``, ``M_l = fan_out``
([`compute_fans`][gradtx.initializers.compute_fans]). Gaussian variants are plain, not
truncated, unless the name says so.
"""

from gradtx.initializers._bias import class_prior_bias, gate_bias, relu_bias
from gradtx.initializers._constant import constant, ones, zeros
from gradtx.initializers._fans import Initializer, compute_fans
from gradtx.initializers._lsuv import (
    LayerReport,
    data_dependent_init,
    data_dependent_init_nnx,
    lsuv,
    lsuv_nnx,
)
from gradtx.initializers._orthogonal import orthogonal
from gradtx.initializers._random import normal, truncated_normal, uniform
from gradtx.initializers._variance import (
    activation_gain,
    he_normal,
    he_uniform,
    lecun_normal,
    lecun_uniform,
    random_walk,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
)

__all__ = [
    # protocol and fans
    "Initializer",
    "compute_fans",
    "activation_gain",
    # constant
    "zeros",
    "ones",
    "constant",
    # fixed-scale random
    "normal",
    "uniform",
    "truncated_normal",
    # fan-scaled random
    "variance_scaling",
    "xavier_uniform",
    "xavier_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_walk",
    "orthogonal",
    # biases
    "class_prior_bias",
    "relu_bias",
    "gate_bias",
    # data-dependent (Flax)
    "LayerReport",
    "lsuv",
    "lsuv_nnx",
    "data_dependent_init",
    "data_dependent_init_nnx",
]
