"""gradtx.compat.optax schedules: optax's values, argument checks, the int32 limit."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gradtx.compat.optax import _schedules as S
from gradtx.schedules import Schedule

INT32_MAX = 2**31 - 1

_SGDR_A = [
    {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 2, "decay_steps": 6},
    {"init_value": 0.0, "peak_value": 0.5, "warmup_steps": 1, "decay_steps": 4, "end_value": 0.1},
]
_SGDR_B = [
    {"init_value": 0.2, "peak_value": 0.8, "warmup_steps": 0, "decay_steps": 5, "exponent": 2.0},
    {"init_value": 0.1, "peak_value": 0.4, "warmup_steps": 3, "decay_steps": 7, "end_value": 0.4},
    {"init_value": 0.0, "peak_value": 0.3, "warmup_steps": 1, "decay_steps": 3},
]

# (name, kwargs, last step N): values are compared at steps 0 .. N.
CASES = [
    ("constant_schedule", {"value": 0.3}, 5),
    ("constant_schedule", {"value": 0.0}, 5),
    ("linear_schedule", {"init_value": 1.0, "end_value": 0.01, "transition_steps": 10}, 14),
    (
        "linear_schedule",
        {"init_value": 0.1, "end_value": 0.7, "transition_steps": 7, "transition_begin": 3},
        13,
    ),
    ("linear_schedule", {"init_value": 0.4, "end_value": 0.0, "transition_steps": 0}, 4),
    (
        "polynomial_schedule",
        {"init_value": 1.0, "end_value": 0.01, "power": 2, "transition_steps": 10},
        13,
    ),
    (
        "polynomial_schedule",
        {
            "init_value": 1.0,
            "end_value": 0.01,
            "power": 0.5,
            "transition_steps": 9,
            "transition_begin": 5,
        },
        17,
    ),
    (
        "polynomial_schedule",
        {"init_value": 0.2, "end_value": 0.6, "power": 3.0, "transition_steps": 4},
        7,
    ),
    ("cosine_decay_schedule", {"init_value": 0.5, "decay_steps": 10}, 13),
    ("cosine_decay_schedule", {"init_value": 0.5, "decay_steps": 7, "alpha": 0.1}, 9),
    (
        "cosine_decay_schedule",
        {"init_value": 0.5, "decay_steps": 10, "alpha": 0.2, "exponent": 2.0},
        12,
    ),
    (
        "cosine_decay_schedule",
        {"init_value": 0.5, "decay_steps": 6, "alpha": 1.5, "exponent": 0.5},
        8,
    ),
    ("exponential_decay", {"init_value": 0.5, "transition_steps": 3, "decay_rate": 0.5}, 12),
    (
        "exponential_decay",
        {
            "init_value": 0.5,
            "transition_steps": 3,
            "decay_rate": 0.5,
            "transition_begin": 2,
            "staircase": True,
            "end_value": 0.05,
        },
        16,
    ),
    (
        "exponential_decay",
        {
            "init_value": 0.5,
            "transition_steps": 2,
            "decay_rate": 1.5,
            "transition_begin": 1,
            "end_value": 2.0,
        },
        12,
    ),
    (
        "exponential_decay",
        {"init_value": 0.5, "transition_steps": 0, "decay_rate": 0.5},
        4,
    ),
    (
        "piecewise_constant_schedule",
        {"init_value": 1.0, "boundaries_and_scales": {5: 0.1, 10: 0.5}},
        12,
    ),
    (
        "piecewise_constant_schedule",
        {"init_value": 0.3, "boundaries_and_scales": {6: 0.5, 0: 2.0, 3: 0.0}},
        8,
    ),
    ("piecewise_constant_schedule", {"init_value": 0.3}, 3),
    (
        "piecewise_interpolate_schedule",
        {
            "interpolate_type": "linear",
            "init_value": 1.0,
            "boundaries_and_scales": {4: 0.1, 8: 0.01},
        },
        11,
    ),
    (
        "piecewise_interpolate_schedule",
        {
            "interpolate_type": "cosine",
            "init_value": 0.2,
            "boundaries_and_scales": {3: 5.0, 9: 0.1},
        },
        12,
    ),
    (
        "piecewise_interpolate_schedule",
        {
            "interpolate_type": "linear",
            "init_value": 0.5,
            "boundaries_and_scales": {0: 2.0, 4: 0.5},
        },
        6,
    ),
    (
        "warmup_constant_schedule",
        {"init_value": 0.1, "peak_value": 1.0, "warmup_steps": 4},
        7,
    ),
    (
        "warmup_constant_schedule",
        {"init_value": 0.0, "peak_value": 0.5, "warmup_steps": 1},
        3,
    ),
    (
        "warmup_cosine_decay_schedule",
        {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 4, "decay_steps": 12},
        15,
    ),
    (
        "warmup_cosine_decay_schedule",
        {
            "init_value": 0.1,
            "peak_value": 1.0,
            "warmup_steps": 3,
            "decay_steps": 12,
            "end_value": 0.2,
            "exponent": 1.5,
        },
        14,
    ),
    (
        "warmup_cosine_decay_schedule",
        {"init_value": 0.3, "peak_value": 0.6, "warmup_steps": 0, "decay_steps": 5},
        7,
    ),
    (
        "warmup_exponential_decay_schedule",
        {
            "init_value": 0.0,
            "peak_value": 1.0,
            "warmup_steps": 3,
            "transition_steps": 2,
            "decay_rate": 0.7,
        },
        12,
    ),
    (
        "warmup_exponential_decay_schedule",
        {
            "init_value": 0.1,
            "peak_value": 1.0,
            "warmup_steps": 2,
            "transition_steps": 3,
            "decay_rate": 0.5,
            "transition_begin": 2,
            "staircase": True,
            "end_value": 0.3,
        },
        14,
    ),
    ("linear_onecycle_schedule", {"transition_steps": 20, "peak_value": 1.0}, 23),
    (
        "linear_onecycle_schedule",
        {
            "transition_steps": 13,
            "peak_value": 0.5,
            "pct_start": 0.25,
            "pct_final": 0.6,
            "div_factor": 10.0,
            "final_div_factor": 100.0,
        },
        15,
    ),
    ("cosine_onecycle_schedule", {"transition_steps": 20, "peak_value": 1.0}, 23),
    (
        "cosine_onecycle_schedule",
        {
            "transition_steps": 11,
            "peak_value": 0.5,
            "pct_start": 0.45,
            "div_factor": 5.0,
            "final_div_factor": 20.0,
        },
        13,
    ),
    ("sgdr_schedule", {"cosine_kwargs": _SGDR_A}, 12),
    ("sgdr_schedule", {"cosine_kwargs": _SGDR_B}, 17),
]

_IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]


def _join_case(i):
    """join_schedules on gradtx and on optax schedules, with a shifted restart."""
    lin = {"init_value": 0.1, "end_value": 0.5, "transition_steps": 4}
    cos = {"init_value": 0.5, "decay_steps": 5, "alpha": 0.1}
    boundaries = [[4], [3, 9]][i]
    ours = [S.linear_schedule(**lin), S.cosine_decay_schedule(**cos), S.constant_schedule(0.2)]
    ref = [optax.linear_schedule(**lin), optax.cosine_decay_schedule(**cos), lambda c: 0.2]
    n = len(boundaries) + 1
    return S.join_schedules(ours[:n], boundaries), optax.join_schedules(ref[:n], boundaries)


def _pair(name, kwargs):
    return getattr(S, name)(**kwargs), getattr(optax, name)(**kwargs)


def _reference(schedule, last):
    return np.array([np.float32(schedule(s)) for s in range(last + 1)])


def _assert_values(ours, ref, last):
    expected = _reference(ref, last)
    eager = np.array([np.float32(ours(s)) for s in range(last + 1)])
    np.testing.assert_allclose(eager, expected, rtol=1e-6, atol=1e-12)


def _assert_jitted(ours, ref, last):
    expected = _reference(ref, last)
    steps = jnp.arange(last + 1, dtype=jnp.int32)
    jitted = np.asarray(jax.jit(jax.vmap(ours))(steps)).astype(np.float32)
    np.testing.assert_allclose(jitted, expected, rtol=1e-6, atol=1e-12)


def test_all_names_are_exported():
    names = {name for name, _, _ in CASES} | {"join_schedules"}
    assert set(S.__all__) == names
    assert all(callable(getattr(S, name)) for name in S.__all__)


@pytest.mark.parametrize(("name", "kwargs", "last"), CASES, ids=_IDS)
def test_values_match_optax_eagerly(name, kwargs, last):
    _assert_values(*_pair(name, kwargs), last)


@pytest.mark.parametrize(("name", "kwargs", "last"), CASES, ids=_IDS)
def test_values_match_optax_under_jit(name, kwargs, last):
    _assert_jitted(*_pair(name, kwargs), last)


@pytest.mark.parametrize("i", [0, 1])
def test_join_schedules_matches_optax_eagerly(i):
    _assert_values(*_join_case(i), 14)


@pytest.mark.parametrize("i", [0, 1])
def test_join_schedules_matches_optax_under_jit(i):
    _assert_jitted(*_join_case(i), 14)


@pytest.mark.parametrize(("name", "kwargs", "last"), CASES, ids=_IDS)
def test_returns_gradtx_schedule(name, kwargs, last):
    assert isinstance(getattr(S, name)(**kwargs), Schedule)


def test_warmup_starts_at_init_value():
    schedule = S.warmup_cosine_decay_schedule(0.1, 1.0, warmup_steps=5, decay_steps=20)
    assert float(schedule(0)) == pytest.approx(0.1)
    assert float(schedule(5)) == pytest.approx(1.0)


@pytest.mark.parametrize(("name", "kwargs", "last"), CASES, ids=_IDS)
def test_finite_at_int32_max(name, kwargs, last):
    ours = getattr(S, name)(**kwargs)
    value = float(jax.jit(ours)(jnp.int32(INT32_MAX)))
    assert np.isfinite(value) and value >= 0.0
    assert value == pytest.approx(float(ours(INT32_MAX)), rel=1e-6)


def test_exponential_growth_capped_at_int32_max():
    ours = S.exponential_decay(0.5, transition_steps=1, decay_rate=2.0, end_value=3.0)
    assert float(jax.jit(ours)(jnp.int32(INT32_MAX))) == pytest.approx(3.0)


BAD = [
    ("constant_schedule", {"value": -1.0}, "value"),
    ("constant_schedule", {"value": float("nan")}, "value"),
    (
        "linear_schedule",
        {"init_value": -0.1, "end_value": 0.0, "transition_steps": 3},
        "init_value",
    ),
    (
        "linear_schedule",
        {"init_value": 0.1, "end_value": 0.0, "transition_steps": 3, "transition_begin": -1},
        "transition_begin",
    ),
    (
        "linear_schedule",
        {"init_value": 0.1, "end_value": 0.0, "transition_steps": 2.5},
        "transition_steps",
    ),
    (
        "polynomial_schedule",
        {"init_value": 1.0, "end_value": 0.0, "power": 0.0, "transition_steps": 3},
        "power",
    ),
    (
        "polynomial_schedule",
        {"init_value": 1.0, "end_value": -1.0, "power": 1.0, "transition_steps": 3},
        "end_value",
    ),
    ("cosine_decay_schedule", {"init_value": 1.0, "decay_steps": 0}, "decay_steps"),
    ("cosine_decay_schedule", {"init_value": 1.0, "decay_steps": 5, "alpha": -0.5}, "alpha"),
    ("cosine_decay_schedule", {"init_value": 1.0, "decay_steps": 5, "exponent": 0.0}, "exponent"),
    (
        "exponential_decay",
        {"init_value": 1.0, "transition_steps": 3, "decay_rate": 0.0},
        "decay_rate",
    ),
    (
        "exponential_decay",
        {"init_value": 1.0, "transition_steps": 3, "decay_rate": 1.1},
        "end_value",
    ),
    (
        "exponential_decay",
        {"init_value": 1.0, "transition_steps": 3, "decay_rate": 0.5, "staircase": 1},
        "staircase",
    ),
    (
        "piecewise_constant_schedule",
        {"init_value": 1.0, "boundaries_and_scales": {3: -0.1}},
        "boundaries_and_scales",
    ),
    (
        "piecewise_constant_schedule",
        {"init_value": 1.0, "boundaries_and_scales": {-3: 0.1}},
        "boundaries_and_scales",
    ),
    (
        "piecewise_interpolate_schedule",
        {"interpolate_type": "step", "init_value": 1.0},
        "interpolate_type",
    ),
    (
        "piecewise_interpolate_schedule",
        {"interpolate_type": "linear", "init_value": 1.0, "boundaries_and_scales": [3, 4]},
        "boundaries_and_scales",
    ),
    (
        "warmup_constant_schedule",
        {"init_value": 0.0, "peak_value": -1.0, "warmup_steps": 3},
        "peak_value",
    ),
    (
        "warmup_cosine_decay_schedule",
        {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 5, "decay_steps": 5},
        "decay_steps",
    ),
    (
        "warmup_cosine_decay_schedule",
        {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": -1, "decay_steps": 5},
        "warmup_steps",
    ),
    (
        "warmup_exponential_decay_schedule",
        {
            "init_value": 0.0,
            "peak_value": 1.0,
            "warmup_steps": 2,
            "transition_steps": 2,
            "decay_rate": -0.5,
        },
        "decay_rate",
    ),
    ("linear_onecycle_schedule", {"transition_steps": 0, "peak_value": 1.0}, "transition_steps"),
    (
        "linear_onecycle_schedule",
        {"transition_steps": 10, "peak_value": 1.0, "pct_start": 0.5, "pct_final": 0.4},
        "pct_final",
    ),
    (
        "cosine_onecycle_schedule",
        {"transition_steps": 10, "peak_value": 1.0, "div_factor": 0.0},
        "div_factor",
    ),
    (
        "cosine_onecycle_schedule",
        {"transition_steps": 10, "peak_value": 1.0, "pct_start": 1.5},
        "pct_start",
    ),
    ("sgdr_schedule", {"cosine_kwargs": []}, "cosine_kwargs"),
    (
        "sgdr_schedule",
        {
            "cosine_kwargs": [
                {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 3, "decay_steps": 2}
            ]
        },
        "decay_steps",
    ),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "argument"), BAD, ids=[f"{n}-{a}-{i}" for i, (n, _, a) in enumerate(BAD)]
)
def test_bad_argument_raises_naming_it(name, kwargs, argument):
    with pytest.raises((ValueError, TypeError), match=argument):
        getattr(S, name)(**kwargs)


def test_join_schedules_bad_boundaries_raise():
    with pytest.raises(ValueError, match="boundaries"):
        S.join_schedules([S.constant_schedule(0.1), S.constant_schedule(0.2)], [3, 5])
