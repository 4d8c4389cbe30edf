"""Limits of gradtx.schedules (SPEC §7): the promised range under rounding, and steps
of any size.

* No schedule leaves the range its formula promises (between its init and end
  values, never negative, never NaN), under ``jit`` or not, in float32 too.
* Every schedule takes any step count a Python int can hold, NumPy ints and traced
  int32 arrays (2³¹ − 1 included, the optimizer's saturated counter), and integer
  hyperparameters of any size, and gives the formula's value there.

References are independent NumPy float64 transcriptions of each formula, written
here: integer parts (min(t, T), ⌊t / k⌋, t mod k) are taken with Python ints, the
rest in float64. float32 values are computed with x64 off (``jax.enable_x64(False)``),
as in a float32 training run; the property tests draw parameters and steps with
hypothesis and check the range in float32, under ``jit`` and eagerly.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradtx import schedules as S

INT32_MAX = 2**31 - 1
HUGE_STEPS = (2**40, 10**18, 2**63 + 5, 10**30, 2**1000 + 7)  # exact in float64 references
PAST_FLOAT64 = 10**400  # beyond every float: the value is the formula's limit, in range


def f64(x):
    return np.float64(x)


# --- NumPy float64 transcriptions -------------------------------------------------------


def ref_linear(t, init, end, steps):
    return f64(init) + (f64(end) - init) * (f64(min(t, steps)) / f64(steps))


def ref_polynomial(t, init, end, steps, power):
    return (f64(init) - end) * (1.0 - f64(min(t, steps)) / f64(steps)) ** power + end


def ref_cosine(t, init, steps, alpha=0.0):
    half = 0.5 * (1.0 + np.cos(np.pi * f64(min(t, steps)) / f64(steps)))
    return f64(init) * (alpha + (1.0 - alpha) * half)


def ref_exponential(t, init, rate, steps=1, staircase=False):
    exponent = f64(t // steps) if staircase else f64(t) / f64(steps)
    return f64(init) * np.power(f64(rate), exponent)


def ref_step_decay(t, init, step_size, gamma):
    return f64(init) * np.power(f64(gamma), f64(t // step_size))


def ref_inverse_time(t, init, rate):
    return f64(init) / (1.0 + f64(rate) * f64(t))


def ref_natural_exponential(t, init, rate):
    return f64(init) * np.exp(-f64(rate) * f64(t))


def ref_piecewise(t, values, boundaries):
    return f64(values[sum(t >= b for b in boundaries)])


def ref_warmup(t, following, warmup_steps, init=0.0):
    if t < warmup_steps:
        peak = following(0)
        return f64(init) + (peak - init) * f64(t + 1) / f64(warmup_steps)
    return following(t - warmup_steps)


def ref_cyclic(t, base, top, k, mode="triangular", gamma=1.0):
    cycle = 1 + t // (2 * k)  # ⌊1 + t / 2k⌋
    x = abs(f64(t - (2 * cycle - 1) * k)) / f64(k)  # |t / k − 2 cycle + 1|
    scale = {
        "triangular": 1.0,
        "triangular2": np.power(0.5, f64(cycle - 1)),
        "exp_range": np.power(f64(gamma), f64(t)),
    }[mode]
    return f64(base) + (f64(top) - base) * max(0.0, 1.0 - x) * scale


def ref_sgdr(t, init, period, mult=1.0, decay=1.0, floor=0.0):
    """Runs walked one by one (torch's stepped CosineAnnealingWarmRestarts, with decay)."""
    if mult == 1.0:
        restarts, t_cur, t_i = t // period, f64(t % period), f64(period)
    else:
        restarts, start, t_i = 0, f64(0.0), f64(period)
        while start + t_i <= t:
            start, t_i, restarts = start + t_i, t_i * mult, restarts + 1
        t_cur = f64(t) - start
    peak = max(f64(init) * np.power(f64(decay), f64(restarts)), f64(floor))
    return floor + (peak - floor) * 0.5 * (1.0 + np.cos(np.pi * t_cur / t_i))


def ref_onecycle(t, total, top, pct=0.3, div=25.0, final_div=1e4, anneal="cos"):
    """torch's OneCycleLR (three_phase=False), held at its last value after total − 1."""
    t = min(t, total - 1)
    start = f64(top) / div
    end = start / final_div
    rise_end = f64(pct) * total - 1.0

    def interpolate(a, b, p):
        if anneal == "cos":
            return b + (a - b) / 2.0 * (np.cos(np.pi * p) + 1.0)
        return (b - a) * p + a

    if t <= rise_end:
        return interpolate(start, top, f64(t) / rise_end)
    return interpolate(top, end, (f64(t) - rise_end) / (f64(total - 1) - rise_end))


# --- regressions ------------------------------------------------------------------------


def test_polynomial_with_a_fractional_power_is_not_nan_from_its_end_under_jit_in_float32():
    # 1 − t/T came out as −2.98e-8 under jit (t · (1/T), fused), and (−2.98e-8)^1.5 is NaN
    schedule = S.polynomial(0.1, 0.0, 3, 1.5)
    with jax.enable_x64(False):
        jitted = jax.jit(schedule)
        values = [jitted(jnp.int32(t)) for t in (3, 4, 1000, INT32_MAX)]
    for t, value in zip((3, 4, 1000, INT32_MAX), values, strict=True):
        assert value == ref_polynomial(t, 0.1, 0.0, 3, 1.5) == 0.0


def test_linear_decay_to_zero_is_never_negative_after_its_end_under_jit_in_float32():
    schedule = S.linear(0.1, 0.0, 3)
    with jax.enable_x64(False):
        jitted = jax.jit(schedule)
        values = [float(jitted(jnp.int32(t))) for t in (3, 4, 1000, INT32_MAX)]
    assert values == [ref_linear(t, 0.1, 0.0, 3) for t in (3, 4, 1000, INT32_MAX)]
    assert values == [0.0, 0.0, 0.0, 0.0]


def test_cosine_takes_python_int_steps_and_decay_steps_past_int32_in_float32():
    # raised OverflowError; optax gives 975.528
    with jax.enable_x64(False):
        value = S.cosine(1000.0, int(1e10))(int(1e9))
    np.testing.assert_allclose(value, ref_cosine(10**9, 1000.0, 10**10), rtol=1e-6)


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
def test_python_int_steps_past_int64_give_the_formulas_value(x64):
    cases = [
        (S.cosine(1000.0, 10**20), lambda t: ref_cosine(t, 1000.0, 10**20)),
        (S.linear(1.0, 0.5, 2**70), lambda t: ref_linear(t, 1.0, 0.5, 2**70)),
        (S.inverse_time(1.0, 1e-15), lambda t: ref_inverse_time(t, 1.0, 1e-15)),
        (S.cyclic(0.0, 1.0, 7), lambda t: ref_cyclic(t, 0.0, 1.0, 7)),
    ]
    with jax.enable_x64(x64):
        for schedule, formula in cases:
            for t in (10**19, 10**19 + 3, 2**64 + 11):
                value = schedule(t)
                np.testing.assert_allclose(value, formula(t), rtol=2e-6, err_msg=repr(schedule))


def test_numpy_int64_steps_are_not_truncated_in_float32():
    # np.int64(2**40) became int32 0 with x64 off: the first rate instead of the last
    with jax.enable_x64(False):
        assert S.cosine(1.0, 100)(np.int64(2**40)) == ref_cosine(2**40, 1.0, 100) == 0.0
        value = S.cyclic(0.0, 1.0, 7)(np.int64(2**40 + 3))
    np.testing.assert_allclose(value, ref_cyclic(2**40 + 3, 0.0, 1.0, 7), rtol=1e-6)


def test_saturated_int32_step_gives_the_formulas_value_under_jit_in_float32():
    # float32(2**31 − 1) is 2**31: a float step is one off, which t mod k and boundaries see
    cases = [
        (S.cyclic(0.0, 1.0, 5), lambda t: ref_cyclic(t, 0.0, 1.0, 5)),
        (S.sgdr(1.0, 10), lambda t: ref_sgdr(t, 1.0, 10)),
        (S.step_decay(1.0, INT32_MAX, 0.5), lambda t: ref_step_decay(t, 1.0, INT32_MAX, 0.5)),
        (
            S.piecewise_constant([1.0, 0.5], [INT32_MAX]),
            lambda t: ref_piecewise(t, [1.0, 0.5], [INT32_MAX]),
        ),
        (
            S.join([S.constant(1.0), S.linear(1.0, 0.0, 10)], [INT32_MAX - 5]),
            lambda t: 1.0 if t < INT32_MAX - 5 else ref_linear(t - INT32_MAX + 5, 1.0, 0.0, 10),
        ),
    ]
    steps = jnp.array([INT32_MAX - 2, INT32_MAX - 1, INT32_MAX], jnp.int32)
    for schedule, formula in cases:
        with jax.enable_x64(False):
            values = jax.jit(jax.vmap(schedule))(steps)
        expected = [formula(int(t)) for t in steps]
        np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-7, err_msg=repr(schedule))


# --- the formula's value at large steps and large hyperparameters -----------------------

BIG = 10**30
LARGE_CASES = {
    "constant": (S.constant(0.1), lambda t: 0.1, 10),
    "piecewise_constant": (
        S.piecewise_constant([0.1, 0.01, 0.001], [INT32_MAX, 2**40]),
        lambda t: ref_piecewise(t, [0.1, 0.01, 0.001], [INT32_MAX, 2**40]),
        2**40,
    ),
    "step_decay": (
        S.step_decay(0.1, 2**30, 0.999),
        lambda t: ref_step_decay(t, 0.1, 2**30, 0.999),
        2**30,
    ),
    "linear": (S.linear(0.1, 0.01, BIG), lambda t: ref_linear(t, 0.1, 0.01, BIG), BIG),
    "linear_int32": (
        S.linear(0.1, 0.0, INT32_MAX),
        lambda t: ref_linear(t, 0.1, 0.0, INT32_MAX),
        INT32_MAX,
    ),
    "polynomial": (
        S.polynomial(0.1, 0.0, 10**10, 1.5),
        lambda t: ref_polynomial(t, 0.1, 0.0, 10**10, 1.5),
        10**10,
    ),
    "inverse_time": (S.inverse_time(0.1, 1e-9), lambda t: ref_inverse_time(t, 0.1, 1e-9), 10**9),
    "exponential": (
        S.exponential(0.1, 0.5, decay_steps=10**9),
        lambda t: ref_exponential(t, 0.1, 0.5, 10**9),
        10**9,
    ),
    "exponential_staircase": (
        S.exponential(0.1, 0.5, decay_steps=2**29, staircase=True),
        lambda t: ref_exponential(t, 0.1, 0.5, 2**29, staircase=True),
        2**29,
    ),
    "natural_exponential": (
        S.natural_exponential(0.1, 1e-9),
        lambda t: ref_natural_exponential(t, 0.1, 1e-9),
        10**9,
    ),
    "cosine": (S.cosine(0.1, BIG, alpha=0.1), lambda t: ref_cosine(t, 0.1, BIG, 0.1), BIG),
    "cosine_int32": (
        S.cosine(0.1, INT32_MAX),
        lambda t: ref_cosine(t, 0.1, INT32_MAX),
        INT32_MAX,
    ),
    "warmup": (
        S.warmup(S.cosine(0.1, 2**40), 2**31 - 1),
        lambda t: ref_warmup(t, lambda s: ref_cosine(s, 0.1, 2**40), INT32_MAX),
        INT32_MAX,
    ),
    "warmup_past_int32": (
        S.warmup(0.1, 2**40, init_value=0.01),
        lambda t: ref_warmup(t, lambda s: 0.1, 2**40, 0.01),
        2**40,
    ),
    "warmup_cosine": (
        S.warmup_cosine(0.1, 10**6, 10**12, end_value=0.001),
        lambda t: ref_warmup(t, lambda s: ref_cosine(s, 0.1, 10**12 - 10**6, 0.01), 10**6),
        10**12,
    ),
    "join": (
        S.join([S.constant(0.1), S.linear(0.1, 0.0, 10**9), S.constant(0.2)], [10**3, 2**40]),
        lambda t: (
            0.1 if t < 10**3 else ref_linear(t - 10**3, 0.1, 0.0, 10**9) if t < 2**40 else 0.2
        ),
        10**9,
    ),
    "cyclic": (
        S.cyclic(0.01, 0.1, 10**6 + 3),
        lambda t: ref_cyclic(t, 0.01, 0.1, 10**6 + 3),
        10**6 + 3,
    ),
    "cyclic_past_int32": (
        S.cyclic(0.01, 0.1, 2**40),
        lambda t: ref_cyclic(t, 0.01, 0.1, 2**40),
        2**40,
    ),
    "cyclic_triangular2": (
        S.cyclic(0.01, 0.1, 1000, mode="triangular2"),
        lambda t: ref_cyclic(t, 0.01, 0.1, 1000, "triangular2"),
        1000,
    ),
    "cyclic_exp_range": (
        S.cyclic(0.01, 0.1, 1000, mode="exp_range", gamma=0.99999),
        lambda t: ref_cyclic(t, 0.01, 0.1, 1000, "exp_range", 0.99999),
        1000,
    ),
    "sgdr": (
        S.sgdr(0.1, 10**6 + 7, decay=0.9999, min_value=0.001),
        lambda t: ref_sgdr(t, 0.1, 10**6 + 7, decay=0.9999, floor=0.001),
        10**6 + 7,
    ),
    "sgdr_past_int32": (
        S.sgdr(0.1, 2**40, period_mult=2.0),
        lambda t: ref_sgdr(t, 0.1, 2**40, 2.0),
        2**40,
    ),
    "sgdr_period_mult": (
        S.sgdr(0.1, 1000, period_mult=2.0, decay=0.5, min_value=0.001),
        lambda t: ref_sgdr(t, 0.1, 1000, 2.0, 0.5, 0.001),
        1000,
    ),
    "sgdr_float_period_mult": (
        S.sgdr(0.1, 3, period_mult=1.5),
        lambda t: ref_sgdr(t, 0.1, 3, 1.5),
        3,
    ),
    "onecycle": (
        S.onecycle(10**12, 0.1),
        lambda t: ref_onecycle(t, 10**12, 0.1),
        10**12,
    ),
    "onecycle_linear": (
        S.onecycle(BIG, 0.1, pct_start=0.25, anneal="linear"),
        lambda t: ref_onecycle(t, BIG, 0.1, pct=0.25, anneal="linear"),
        BIG,
    ),
}


def large_steps(horizon):
    near = [0, 1, horizon // 3, horizon - 1, horizon, horizon + 1, 2 * horizon + 1]
    return sorted({t for t in near if t >= 0})


def assert_close(values, expected, x64, what):
    rtol, atol = (1e-9, 1e-15) if x64 else (2e-5, 2e-7)
    np.testing.assert_allclose(values, expected, rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
@pytest.mark.parametrize("name", LARGE_CASES)
def test_eager_python_int_steps_give_the_formulas_value(name, x64):
    schedule, formula, horizon = LARGE_CASES[name]
    steps = large_steps(horizon) + [INT32_MAX, *HUGE_STEPS]
    with jax.enable_x64(x64):
        values = [schedule(t) for t in steps]
    for t, value in zip(steps, values, strict=True):
        assert_close(value, formula(t), x64, f"{schedule!r} at step {t}")


def jit_steps_of(horizon):
    return [t for t in large_steps(horizon) if t < INT32_MAX - 1] + [INT32_MAX - 1, INT32_MAX]


@functools.cache
def jitted_large_values(x64):
    """Every LARGE_CASES schedule at its int32 steps, from one jitted function (one compile)."""

    @jax.jit
    def evaluate(steps):
        return {name: jax.vmap(LARGE_CASES[name][0])(steps[name]) for name in LARGE_CASES}

    steps = {name: jnp.array(jit_steps_of(h), jnp.int32) for name, (_, _, h) in LARGE_CASES.items()}
    with jax.enable_x64(x64):
        return jax.tree.map(np.asarray, evaluate(steps))


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
@pytest.mark.parametrize("name", LARGE_CASES)
def test_jitted_int32_steps_give_the_formulas_value(name, x64):
    _, formula, horizon = LARGE_CASES[name]
    values = jitted_large_values(x64)[name]
    assert values.dtype == (np.float64 if x64 else np.float32)
    for t, value in zip(jit_steps_of(horizon), values, strict=True):
        assert_close(value, formula(t), x64, f"{name} at step {t}")


NO_LIMIT = {"cyclic", "cyclic_past_int32", "sgdr_past_int32", "sgdr_float_period_mult"}


@pytest.mark.parametrize("name", LARGE_CASES)
def test_steps_past_the_float64_range_give_the_formulas_limit(name):
    schedule, formula, _ = LARGE_CASES[name]
    with jax.enable_x64(False):
        value = schedule(PAST_FLOAT64)
    assert np.isfinite(value)
    if name not in NO_LIMIT:  # a periodic rate has no limit; its range is checked below
        assert_close(value, formula(2**1020), False, repr(schedule))


# --- property tests: the promised range, in float32, under jit and eagerly --------------

PROPERTY = settings(
    max_examples=20,  # each example compiles its schedule once (~50 ms on CPU)
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
rate = st.floats(0.0, 10.0)
positive_rate = st.floats(1e-6, 10.0)
length = st.one_of(
    st.integers(1, 50),
    st.integers(1, 2**40),
    st.sampled_from([INT32_MAX - 1, INT32_MAX, 2**31, 10**30]),
)
int32_steps = st.lists(st.integers(0, INT32_MAX), max_size=6)
huge_steps = st.lists(st.integers(0, 2**1100), max_size=2)


def special_steps(*lengths):
    """0, the ends of the given lengths and their neighbours, far past them."""
    steps = {0, 1, 2, INT32_MAX - 1, INT32_MAX}
    for n in lengths:
        steps |= {n - 2, n - 1, n, n + 1, 2 * n, 10 * n + 3}
    return sorted(t for t in steps if t >= 0)


def assert_in_range(schedule, low, high, lengths, int32_steps, huge_steps):
    """Every value, jitted at int32 steps and eager at Python ints, is finite and in [low, high]."""
    special = special_steps(*lengths)
    jit_steps = sorted({t for t in special + int32_steps if t <= INT32_MAX})
    eager_steps = special + huge_steps + [2**64 + 1, PAST_FLOAT64]
    with jax.enable_x64(False):
        jitted = np.asarray(jax.jit(jax.vmap(schedule))(jnp.array(jit_steps, jnp.int32)))
        eager = np.array([schedule(t) for t in eager_steps])
    # XLA flushes float32 subnormals (below 1.2e-38) to zero under jit: so may the range
    low = np.float32(low) if low >= np.finfo(np.float32).tiny else np.float32(0.0)
    high = np.float32(high)
    for kind, steps, values in (("jit", jit_steps, jitted), ("eager", eager_steps, eager)):
        assert values.dtype == np.float32
        bad = [
            (t, v) for t, v in zip(steps, values, strict=True) if not (low <= v <= high)
        ]  # NaN fails the comparison too
        assert not bad, f"{schedule!r} ({kind}) outside [{low}, {high}]: {bad[:4]}"


@PROPERTY
@given(rate, rate, length, st.one_of(st.none(), st.floats(0.05, 5.0)), int32_steps, huge_steps)
def test_linear_and_polynomial_decays_stay_between_their_init_and_end_values(
    init, end, steps, power, int32, huge
):
    if power is None:
        schedule = S.linear(init, end, steps)
    else:
        schedule = S.polynomial(init, end, steps, power)
    assert_in_range(schedule, min(init, end), max(init, end), [steps], int32, huge)


@PROPERTY
@given(rate, length, st.floats(0.0, 1.0), int32_steps, huge_steps)
def test_cosine_decay_stays_between_its_floor_and_init_value(init, steps, alpha, int32, huge):
    schedule = S.cosine(init, steps, alpha)
    assert_in_range(schedule, init * alpha, init, [steps], int32, huge)


DECAYS_TO_ZERO = {
    "exponential": lambda init, rate, steps: S.exponential(init, rate, steps),
    "exponential_staircase": lambda init, rate, steps: S.exponential(init, rate, steps, True),
    "step_decay": lambda init, rate, steps: S.step_decay(init, steps, rate),
    "inverse_time": lambda init, rate, steps: S.inverse_time(init, rate),
    "natural_exponential": lambda init, rate, steps: S.natural_exponential(init, rate),
}


@PROPERTY
@given(
    st.sampled_from(sorted(DECAYS_TO_ZERO)),
    rate,
    st.floats(1e-6, 1.0, exclude_max=True),
    length,
    int32_steps,
    huge_steps,
)
def test_decays_to_zero_stay_between_zero_and_their_init_value(
    name, init, decay_rate, steps, int32, huge
):
    schedule = DECAYS_TO_ZERO[name](init, decay_rate, steps)
    assert_in_range(schedule, 0.0, init, [steps], int32, huge)


@PROPERTY
@given(st.lists(length, min_size=1, max_size=3, unique=True).map(sorted), st.data())
def test_piecewise_constant_stays_between_its_values(boundaries, data):
    values = data.draw(st.lists(rate, min_size=len(boundaries) + 1, max_size=len(boundaries) + 1))
    schedule = S.piecewise_constant(values, boundaries)
    int32, huge = data.draw(int32_steps), data.draw(huge_steps)
    assert_in_range(schedule, min(values), max(values), boundaries, int32, huge)


@PROPERTY
@given(
    st.booleans(),
    st.floats(1e-6, 10.0),
    st.floats(0.0, 1.0),
    length,
    length,
    rate,
    int32_steps,
    huge_steps,
)
def test_warmups_stay_between_their_init_value_and_the_following_range(
    total_counts_warmup, peak, end_share, warmup_steps, decay_length, init, int32, huge
):
    # warmup(cosine) counts the cosine's steps after the warmup, warmup_cosine counts both
    if total_counts_warmup:
        schedule = S.warmup_cosine(
            peak, warmup_steps, warmup_steps + decay_length, peak * end_share, init
        )
    else:
        schedule = S.warmup(S.cosine(peak, decay_length, end_share), warmup_steps, init)
    low, high = min(init, peak * end_share), max(init, peak)
    lengths = [warmup_steps, warmup_steps + decay_length]
    assert_in_range(schedule, low, high, lengths, int32, huge)


@PROPERTY
@given(rate, rate, rate, length, length, st.floats(0.05, 5.0), int32_steps, huge_steps)
def test_join_stays_within_its_schedules_ranges(a, b, c, first, decay_steps, power, int32, huge):
    schedule = S.join(
        [S.linear(a, b, decay_steps), S.polynomial(b, c, decay_steps, power), S.constant(c)],
        [first, first + decay_steps],
    )
    lengths = [first, first + decay_steps, 2 * first + decay_steps]
    assert_in_range(schedule, min(a, b, c), max(a, b, c), lengths, int32, huge)


@PROPERTY
@given(
    rate,
    rate,
    length,
    st.sampled_from(["triangular", "triangular2", "exp_range"]),
    st.floats(1e-6, 1.0),
    int32_steps,
    huge_steps,
)
def test_cyclic_stays_between_its_base_and_max_value(a, b, step_size, mode, gamma, int32, huge):
    gamma = gamma if mode == "exp_range" else 1.0
    schedule = S.cyclic(min(a, b), max(a, b), step_size, mode, gamma)
    assert_in_range(schedule, min(a, b), max(a, b), [step_size, 2 * step_size], int32, huge)


@PROPERTY
@given(
    rate,
    st.floats(0.0, 1.0),
    length,
    st.one_of(st.just(1.0), st.floats(1.0, 4.0), st.sampled_from([2.0, 3.0, 1e6, 1e30])),
    st.floats(1e-6, 1.0),
    int32_steps,
    huge_steps,
)
def test_sgdr_stays_between_its_min_and_init_value(
    init, floor_share, period, period_mult, decay, int32, huge
):
    floor = init * floor_share
    schedule = S.sgdr(init, period, period_mult, decay, floor)
    lengths = [period, round(period * (1 + period_mult))]
    assert_in_range(schedule, floor, init, lengths, int32, huge)


@PROPERTY
@given(
    length.filter(lambda n: n >= 2),
    rate,
    st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
    st.floats(0.01, 100.0),
    st.floats(0.01, 1e4),
    st.sampled_from(["cos", "linear"]),
    int32_steps,
    huge_steps,
)
def test_onecycle_stays_between_its_start_peak_and_end_value(
    total, top, pct, div, final_div, anneal, int32, huge
):
    pct = min(max(pct, 1.5 / total), 1.0 - 1e-9)  # the rise lasts more than one step
    schedule = S.onecycle(total, top, pct, div, final_div, anneal)
    start = top / div
    end = start / final_div
    lengths = [math.floor(pct * total - 1), total]
    assert_in_range(schedule, min(start, end, top), max(start, end, top), lengths, int32, huge)
