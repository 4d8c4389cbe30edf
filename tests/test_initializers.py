"""Initializers: each distribution against its formula (SPEC §4), bounds, dtypes, errors.

Variance checks use the known zero mean: with n samples, ``m2 = mean(w²)`` has
standard deviation ``√((μ4 − σ⁴)/n)``, where μ4 is the fourth moment — ``3σ⁴`` for a
Gaussian, ``(9/5)σ⁴`` for a uniform, and for a Gaussian truncated at ``±c`` (unit
scale) ``μ4 = 3v − 2c³φ(c)/Z`` with ``v = 1 − 2cφ(c)/Z``, ``Z = erf(c/√2)``. Each test
allows 5 of those standard deviations.
"""

import math
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gradtx import initializers

KEY = jax.random.key(0)
SHAPE = (800, 1250)  # 10⁶ samples; fan_in = 800, fan_out = 1250
FAN_IN, FAN_OUT = SHAPE
DTYPES = [jnp.float32, jnp.bfloat16, jnp.float64]


def _phi(c):
    return math.exp(-c * c / 2) / math.sqrt(2 * math.pi)


def _truncated_moments(c):
    """(variance, fourth moment) of N(0, 1) restricted to [−c, c]."""
    z = math.erf(c / math.sqrt(2))
    var = 1 - 2 * c * _phi(c) / z
    return var, 3 * var - 2 * c**3 * _phi(c) / z


def _kurtosis(distribution):
    if distribution == "normal":
        return 3.0
    if distribution == "uniform":
        return 9 / 5
    var, fourth = _truncated_moments(2.0)
    return fourth / var**2


def _draw(init, shape=SHAPE, dtype=jnp.float32):
    return np.asarray(init(KEY, shape, dtype), dtype=np.float64)


def _assert_variance(w, variance, distribution):
    n = w.size
    bound = 5 * variance * math.sqrt((_kurtosis(distribution) - 1) / n)
    assert abs(np.mean(w**2) - variance) < bound, (np.mean(w**2), variance, bound)


# (initializer, distribution, variance for SHAPE) with the formulas written out.
_XAVIER_R = {
    "linear": math.sqrt(6 / (FAN_IN + FAN_OUT)),
    "tanh": math.sqrt(6 / (FAN_IN + FAN_OUT)),
    "logistic": 4 * math.sqrt(6 / (FAN_IN + FAN_OUT)),
    "sigmoid": 4 * math.sqrt(6 / (FAN_IN + FAN_OUT)),
    "relu": math.sqrt(2) * math.sqrt(6 / (FAN_IN + FAN_OUT)),
}
_XAVIER_VAR = {
    "linear": 2 / (FAN_IN + FAN_OUT),
    "tanh": 2 / (FAN_IN + FAN_OUT),
    "logistic": 16 * 2 / (FAN_IN + FAN_OUT),
    "sigmoid": 16 * 2 / (FAN_IN + FAN_OUT),
    "relu": 2 * 2 / (FAN_IN + FAN_OUT),
}
_G_LINEAR = math.exp(1 / (2 * FAN_IN))
_G_RELU = math.sqrt(2) * math.exp(1.2 / (max(FAN_IN, 6) - 2.4))
_VS_DENOMINATOR = {
    "fan_in": FAN_IN,
    "fan_out": FAN_OUT,
    "fan_avg": (FAN_IN + FAN_OUT) / 2,
    "fan_geo_avg": math.sqrt(FAN_IN * FAN_OUT),
}

CASES = {
    "normal": (initializers.normal(0.05), "normal", 0.05**2),
    "uniform": (initializers.uniform(0.3), "uniform", 0.3**2 / 3),
    "truncated_normal": (initializers.truncated_normal(0.05), "truncated_normal", 0.05**2),
    **{
        f"xavier_uniform-{a}": (initializers.xavier_uniform(a), "uniform", r**2 / 3)
        for a, r in _XAVIER_R.items()
    },
    **{
        f"xavier_normal-{a}": (initializers.xavier_normal(a), "normal", v)
        for a, v in _XAVIER_VAR.items()
    },
    "he_uniform": (initializers.he_uniform(), "uniform", (6 / FAN_IN) / 3),
    "he_normal": (initializers.he_normal(), "normal", 2 / FAN_IN),
    "lecun_uniform": (initializers.lecun_uniform(), "uniform", (3 / FAN_IN) / 3),
    "lecun_normal": (initializers.lecun_normal(), "normal", 1 / FAN_IN),
    "random_walk-linear": (initializers.random_walk("linear"), "normal", _G_LINEAR**2 / FAN_IN),
    "random_walk-relu": (initializers.random_walk("relu"), "normal", _G_RELU**2 / FAN_IN),
    **{
        f"variance_scaling-{mode}-{dist}": (
            initializers.variance_scaling(3.0, mode, dist),
            dist,
            3.0 / denominator,
        )
        for mode, denominator in _VS_DENOMINATOR.items()
        for dist in ("normal", "truncated_normal", "uniform")
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_sample_variance_matches_formula(case):
    init, distribution, variance = CASES[case]
    _assert_variance(_draw(init), variance, distribution)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("case", ["normal", "uniform", "truncated_normal", "he_normal"])
def test_sample_variance_matches_formula_in_every_dtype(case, dtype):
    init, distribution, variance = CASES[case]
    _assert_variance(_draw(init, dtype=dtype), variance, distribution)


@pytest.mark.parametrize("case", ["normal", "uniform", "truncated_normal", "xavier_uniform-tanh"])
def test_sample_mean_is_zero(case):
    init, _, variance = CASES[case]
    w = _draw(init)
    assert abs(w.mean()) < 5 * math.sqrt(variance / w.size)


UNIFORM_BOUNDS = {
    "uniform": (initializers.uniform(0.3), 0.3),
    "xavier_uniform-tanh": (initializers.xavier_uniform("tanh"), _XAVIER_R["tanh"]),
    "xavier_uniform-logistic": (initializers.xavier_uniform("logistic"), _XAVIER_R["logistic"]),
    "he_uniform": (initializers.he_uniform(), math.sqrt(6 / FAN_IN)),
    "lecun_uniform": (initializers.lecun_uniform(), math.sqrt(3 / FAN_IN)),
    "variance_scaling-uniform": (
        initializers.variance_scaling(3.0, "fan_out", "uniform"),
        math.sqrt(3 * 3.0 / FAN_OUT),
    ),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("case", list(UNIFORM_BOUNDS))
def test_uniform_samples_fill_exactly_minus_r_to_r(case, dtype):
    init, r = UNIFORM_BOUNDS[case]
    w = _draw(init, dtype=dtype)
    rounding = float(jnp.finfo(dtype).eps)
    assert np.abs(w).max() <= r * (1 + rounding)
    reach = r * (1 - max(rounding, 1e-3))
    assert w.max() > reach and w.min() < -reach


def test_truncated_normal_stays_within_bound_standard_deviations():
    stddev, bound = 0.05, 1.5
    var, _ = _truncated_moments(bound)
    w = _draw(initializers.truncated_normal(stddev, bound=bound))
    limit = bound * stddev / math.sqrt(var)
    assert np.abs(w).max() <= limit * (1 + 1e-6)
    assert np.abs(w).max() > limit * (1 - 1e-3)
    assert abs(np.mean(w**2) - stddev**2) < 5 * stddev**2 * math.sqrt(
        (_truncated_moments(bound)[1] / var**2 - 1) / w.size
    )


def test_fans_of_dense_kernel_are_in_and_out():
    assert initializers.compute_fans((3, 7)) == (3, 7)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((5, 16, 32), (80, 160)), ((3, 3, 64, 128), (576, 1152)), ((2, 3, 4, 8, 16), (192, 384))],
)
def test_fans_of_conv_kernel_multiply_by_receptive_field(shape, expected):
    assert initializers.compute_fans(shape) == expected


def test_conv_kernel_variance_uses_receptive_field():
    shape = (3, 3, 64, 128)
    _assert_variance(_draw(initializers.he_normal(), shape), 2 / (3 * 3 * 64), "normal")


def test_fans_reject_rank_below_two():
    with pytest.raises(ValueError, match=r"compute_fans: shape must have rank >= 2.*\(5,\)"):
        initializers.compute_fans((5,))


ORTHOGONAL_ATOL = {jnp.float32: 1e-5, jnp.bfloat16: 3e-2, jnp.float64: 1e-12}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_tall_kernel_has_orthonormal_columns(gain, dtype):
    w = _draw(initializers.orthogonal(gain), (300, 200), dtype)
    np.testing.assert_allclose(
        w.T @ w, gain**2 * np.eye(200), atol=gain**2 * ORTHOGONAL_ATOL[dtype]
    )


def test_orthogonal_wide_kernel_has_orthonormal_rows():
    w = _draw(initializers.orthogonal(), (200, 300))
    np.testing.assert_allclose(w @ w.T, np.eye(200), atol=1e-5)


def test_orthogonal_conv_kernel_is_orthogonal_as_fan_in_by_out_matrix():
    w = _draw(initializers.orthogonal(), (3, 5, 20, 200)).reshape(300, 200)
    np.testing.assert_allclose(w.T @ w, np.eye(200), atol=1e-5)


def test_orthogonal_kernels_differ_between_keys():
    init = initializers.orthogonal()
    a = init(jax.random.key(1), (300, 200))
    b = init(jax.random.key(2), (300, 200))
    assert not np.allclose(a, b)


def test_class_prior_bias_softmax_equals_prior():
    c = np.array([0.1, 0.2, 0.3, 0.4])
    b = initializers.class_prior_bias(c)(KEY, (4,), jnp.float64)
    np.testing.assert_allclose(np.exp(b) / np.exp(b).sum(), c, rtol=1e-12)


def test_class_prior_bias_accepts_counts_and_is_centred():
    b = initializers.class_prior_bias([10, 30, 60])(KEY, (3,), jnp.float64)
    np.testing.assert_allclose(jax.nn.softmax(b), [0.1, 0.3, 0.6], rtol=1e-12)
    assert abs(float(b.mean())) < 1e-12


def test_relu_bias_is_one_tenth():
    b = initializers.relu_bias()(KEY, (5,), jnp.float64)
    np.testing.assert_array_equal(b, np.full(5, 0.1))


def test_gate_bias_opens_gate_to_target():
    b = initializers.gate_bias(0.95)(KEY, (6,), jnp.float64)
    np.testing.assert_allclose(1 / (1 + np.exp(-np.asarray(b))), 0.95, rtol=1e-12)


def test_gate_bias_of_sigmoid_one_is_one():
    b = initializers.gate_bias(1 / (1 + math.e))(KEY, (2,), jnp.float64)
    np.testing.assert_allclose(b, -1.0, rtol=1e-12)


@pytest.mark.parametrize(
    ("init", "value"),
    [(initializers.zeros(), 0.0), (initializers.ones(), 1.0), (initializers.constant(-2.5), -2.5)],
)
def test_constant_initializers_fill_value(init, value):
    np.testing.assert_array_equal(init(KEY, (3, 4)), np.full((3, 4), value))


# One initializer per code path that handles dtypes, with a shape the tests above
# already compiled for.
DTYPE_PATHS = {
    "constant": (initializers.constant(0.5), (4, 2)),
    "gate_bias": (initializers.gate_bias(), (4, 2)),
    "class_prior_bias": (initializers.class_prior_bias([0.25, 0.75]), (2,)),
    "normal": (initializers.normal(0.1), SHAPE),
    "uniform": (initializers.uniform(0.1), SHAPE),
    "truncated_normal": (initializers.truncated_normal(0.1), SHAPE),
    "he_normal": (initializers.he_normal(), SHAPE),
    "random_walk": (initializers.random_walk(), SHAPE),
    "orthogonal": (initializers.orthogonal(), (300, 200)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name", list(DTYPE_PATHS))
def test_initializer_returns_requested_dtype(name, dtype):
    init, shape = DTYPE_PATHS[name]
    w = init(KEY, shape, dtype)
    assert w.dtype == jnp.dtype(dtype) and w.shape == shape


@pytest.mark.parametrize("name", list(DTYPE_PATHS))
def test_default_dtype_is_float32(name):
    init, shape = DTYPE_PATHS[name]
    assert init(KEY, shape).dtype == jnp.float32


def test_initializer_is_deterministic_and_jittable():
    init = initializers.xavier_uniform()
    jitted = jax.jit(lambda key: init(key, (6, 5)))
    np.testing.assert_array_equal(jitted(KEY), init(KEY, (6, 5)))


def test_linen_dense_accepts_gradtx_initializers():
    layer = nn.Dense(
        3,
        kernel_init=initializers.he_normal(),
        bias_init=initializers.class_prior_bias([0.2, 0.3, 0.5]),
        param_dtype=jnp.bfloat16,
    )
    params = layer.init(KEY, jnp.ones((1, 4)))["params"]
    assert params["kernel"].shape == (4, 3) and params["kernel"].dtype == jnp.bfloat16
    np.testing.assert_allclose(
        jax.nn.softmax(params["bias"].astype(jnp.float32)), [0.2, 0.3, 0.5], rtol=2e-2
    )


def test_nnx_conv_accepts_gradtx_initializers():
    layer = nnx.Conv(
        4,
        8,
        kernel_size=(3, 3),
        kernel_init=initializers.orthogonal(),
        bias_init=initializers.relu_bias(),
        rngs=nnx.Rngs(0),
    )
    w = np.asarray(layer.kernel.get_value(), dtype=np.float64).reshape(36, 8)
    np.testing.assert_allclose(w.T @ w, np.eye(8), atol=1e-5)
    np.testing.assert_allclose(layer.bias.get_value(), 0.1)


@pytest.mark.parametrize(
    ("name", "init"),
    [
        ("xavier_uniform", initializers.xavier_uniform()),
        ("xavier_normal", initializers.xavier_normal()),
        ("he_uniform", initializers.he_uniform()),
        ("he_normal", initializers.he_normal()),
        ("lecun_uniform", initializers.lecun_uniform()),
        ("lecun_normal", initializers.lecun_normal()),
        ("random_walk", initializers.random_walk()),
        ("variance_scaling", initializers.variance_scaling(1.0, "fan_in", "normal")),
        ("orthogonal", initializers.orthogonal()),
    ],
)
@pytest.mark.parametrize("shape", [(), (7,)])
def test_fan_based_initializer_rejects_rank_below_two(name, init, shape):
    with pytest.raises(ValueError, match=rf"^{name}: shape must have rank >= 2 .*got shape"):
        init(KEY, shape)


@pytest.mark.parametrize("factory", ["xavier_uniform", "xavier_normal"])
def test_xavier_rejects_unknown_activation(factory):
    message = (
        f"{factory}: activation must be one of 'linear', 'tanh', 'logistic', 'sigmoid', "
        "'relu', got 'softplus'"
    )
    with pytest.raises(ValueError, match=f"^{message}$"):
        getattr(initializers, factory)("softplus")


def test_activation_gain_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation_gain: activation must be one of"):
        initializers.activation_gain("elu")


def test_activation_gain_values():
    gains = {"linear": 1.0, "tanh": 1.0, "logistic": 4.0, "sigmoid": 4.0, "relu": math.sqrt(2)}
    assert {a: initializers.activation_gain(a) for a in gains} == gains


def test_random_walk_rejects_unknown_activation():
    with pytest.raises(
        ValueError, match=r"random_walk: activation must be one of 'linear', 'relu'"
    ):
        initializers.random_walk("tanh")


@pytest.mark.parametrize("gain", [0.0, -1.0, float("nan")])
def test_orthogonal_rejects_non_positive_gain(gain):
    with pytest.raises(ValueError, match=rf"^orthogonal: gain must be > 0, got {gain!r}$"):
        initializers.orthogonal(gain)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: initializers.normal(0.0), "normal: stddev must be > 0, got 0.0"),
        (lambda: initializers.uniform(-1.0), "uniform: r must be > 0, got -1.0"),
        (
            lambda: initializers.truncated_normal(0.1, bound=0),
            "truncated_normal: bound must be > 0",
        ),
        (
            lambda: initializers.variance_scaling(0.0, "fan_in", "normal"),
            "variance_scaling: scale must be > 0, got 0.0",
        ),
        (
            lambda: initializers.variance_scaling(1.0, "fan_sum", "normal"),
            "variance_scaling: mode must be one of 'fan_in', 'fan_out', 'fan_avg', "
            "'fan_geo_avg', got 'fan_sum'",
        ),
        (
            lambda: initializers.variance_scaling(1.0, "fan_in", "cauchy"),
            "variance_scaling: distribution must be one of 'normal', 'truncated_normal', "
            "'uniform', got 'cauchy'",
        ),
        (
            lambda: initializers.gate_bias(1.0),
            r"gate_bias: target must be in the open interval \(0, 1\)",
        ),
        (
            lambda: initializers.class_prior_bias([0.5, 0.0, 0.5]),
            "class_prior_bias: every entry of c",
        ),
        (
            lambda: initializers.class_prior_bias([[0.5, 0.5]]),
            r"class_prior_bias: c must be .*shape \(1, 2\)",
        ),
    ],
)
def test_bad_arguments_raise_at_construction(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_class_prior_bias_rejects_mismatched_shape():
    with pytest.raises(
        ValueError, match=r"class_prior_bias: shape must be \(3,\) to match c, got \(4,\)"
    ):
        initializers.class_prior_bias([1, 2, 3])(KEY, (4,))


def test_random_initializer_rejects_integer_dtype():
    with pytest.raises(
        ValueError, match="he_normal: dtype must be a real floating-point dtype, got int32"
    ):
        initializers.he_normal()(KEY, (3, 3), jnp.int32)


def test_importing_gradtx_initializers_does_not_import_flax_or_matplotlib():
    code = (
        "import sys, gradtx.initializers, gradtx.diagnostics; "
        "assert 'flax' not in sys.modules and 'matplotlib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
