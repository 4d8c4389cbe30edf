"""Specification of gradtx.schedules.

Every schedule is compared with an independent pure-Python transcription of its
formula (torch's, for the schedules torch defines), at every step 0 .. N-1.
Step convention: ``step`` counts the updates already applied; the first update
uses step 0.
"""

import functools
import math
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gradtx import schedules

N = 40  # steps compared; every boundary, restart and warmup end below lies under N
RTOL = 1e-6
ATOL = 1e-12  # for values that are exactly 0


def reference(fn, n=N):
    return np.array([fn(t) for t in range(n)], dtype=np.float64)


# --- torch.optim.lr_scheduler, transcribed (torch is not a test dependency) -----------


def torch_cyclic_lr(last_epoch, base_lr, max_lr, step_size, mode, gamma=1.0):
    """CyclicLR.get_lr with step_size_up == step_size_down == step_size."""
    total_size = 2 * step_size
    step_ratio = step_size / total_size
    cycle = math.floor(1 + last_epoch / total_size)
    x = 1.0 + last_epoch / total_size - cycle
    if x <= step_ratio:
        scale_factor = x / step_ratio
    else:
        scale_factor = (x - 1) / (step_ratio - 1)
    base_height = (max_lr - base_lr) * scale_factor
    if mode == "triangular":
        return base_lr + base_height * 1.0
    if mode == "triangular2":
        return base_lr + base_height * (1 / (2.0 ** (cycle - 1)))
    return base_lr + base_height * gamma**last_epoch


def torch_warm_restarts_stepped(n, base_lr, T_0, T_mult=1, eta_min=0.0, decay=1.0):
    """CosineAnnealingWarmRestarts driven by step() without an epoch, as in a training loop.

    ``decay`` is gradtx's extension (torch has none): restart i peaks at base_lr · decay^i.
    """
    lrs, T_cur, T_i, restarts = [], 0, T_0, 0
    for epoch in range(n):
        if epoch > 0:
            T_cur = T_cur + 1
            if T_cur >= T_i:
                T_cur = T_cur - T_i
                T_i = T_i * T_mult
                restarts += 1
        peak = base_lr * decay**restarts
        lrs.append(eta_min + (peak - eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2)
    return np.array(lrs)


def torch_warm_restarts_at_epoch(epoch, base_lr, T_0, T_mult=1, eta_min=0.0):
    """CosineAnnealingWarmRestarts.step(epoch): its closed form for an explicit epoch."""
    if epoch >= T_0:
        if T_mult == 1:
            T_cur, T_i = epoch % T_0, T_0
        else:
            n = int(math.log((epoch / T_0 * (T_mult - 1) + 1), T_mult))
            T_cur = epoch - T_0 * (T_mult**n - 1) / (T_mult - 1)
            T_i = T_0 * T_mult ** (n)
    else:
        T_i, T_cur = T_0, epoch
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2


def torch_one_cycle_lr(
    step_num, max_lr, total_steps, pct_start, div_factor, final_div_factor, anneal_strategy
):
    """OneCycleLR.get_lr with three_phase=False."""
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    phases = [
        {"end_step": float(pct_start * total_steps) - 1, "start_lr": initial_lr, "end_lr": max_lr},
        {"end_step": total_steps - 1, "start_lr": max_lr, "end_lr": min_lr},
    ]

    def anneal(start, end, pct):
        if anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    start_step = 0
    for i, phase in enumerate(phases):
        end_step = phase["end_step"]
        if step_num <= end_step or i == len(phases) - 1:
            pct = (step_num - start_step) / (end_step - start_step)
            return anneal(phase["start_lr"], phase["end_lr"], pct)
        start_step = phase["end_step"]
    raise AssertionError("unreachable")


# --- every schedule, with an independent transcription of its formula ----------------


def half_cosine(fraction):
    return 0.5 * (1 + math.cos(math.pi * fraction))


CASES = {
    "constant": (schedules.constant(0.1), lambda t: 0.1),
    "piecewise_constant": (
        schedules.piecewise_constant([0.1, 0.01, 0.001], [10, 25]),
        lambda t: 0.1 if t < 10 else 0.01 if t < 25 else 0.001,
    ),
    "step_decay": (schedules.step_decay(0.1, 7, 0.5), lambda t: 0.1 * 0.5 ** (t // 7)),
    "linear": (schedules.linear(0.1, 0.01, 30), lambda t: 0.1 - 0.09 * min(t, 30) / 30),
    "linear_increasing": (schedules.linear(0.0, 0.1, 30), lambda t: 0.1 * min(t, 30) / 30),
    "polynomial": (
        schedules.polynomial(0.1, 0.01, 30, 2.0),
        lambda t: 0.09 * (1 - min(t, 30) / 30) ** 2 + 0.01,
    ),
    "inverse_time": (schedules.inverse_time(0.1, 0.5), lambda t: 0.1 / (1 + 0.5 * t)),
    "exponential": (schedules.exponential(0.1, 0.9), lambda t: 0.1 * 0.9**t),
    "exponential_decay_steps": (
        schedules.exponential(0.1, 0.5, decay_steps=7),
        lambda t: 0.1 * 0.5 ** (t / 7),
    ),
    "exponential_staircase": (
        schedules.exponential(0.1, 0.5, decay_steps=7, staircase=True),
        lambda t: 0.1 * 0.5 ** (t // 7),
    ),
    "natural_exponential": (
        schedules.natural_exponential(0.1, 0.2),
        lambda t: 0.1 * math.exp(-0.2 * t),
    ),
    "cosine": (
        schedules.cosine(0.1, 30),
        lambda t: 0.5 * 0.1 * (1 + math.cos(min(t, 30) * math.pi / 30)),
    ),
    "cosine_alpha": (
        schedules.cosine(0.1, 30, alpha=0.1),
        lambda t: 0.1 * (0.1 + 0.9 * half_cosine(min(t, 30) / 30)),
    ),
    "warmup_then_cosine": (
        schedules.warmup(schedules.cosine(0.1, 25), 10),
        # the lecture's α'_t = t/T'·α0 for 1 <= t <= T', with t = step + 1
        lambda t: (
            (t + 1) / 10 * 0.1 if t < 10 else 0.05 * (1 + math.cos(min(t - 10, 25) * math.pi / 25))
        ),
    ),
    "warmup_constant_from_init": (
        schedules.warmup(0.1, 10, init_value=0.01),
        lambda t: 0.01 + 0.09 * (t + 1) / 10 if t < 10 else 0.1,
    ),
    "join": (
        schedules.join(
            [
                schedules.constant(0.1),
                schedules.linear(0.1, 0.0, 10),
                schedules.exponential(0.05, 0.9),
            ],
            [10, 25],
        ),
        lambda t: (
            0.1
            if t < 10
            else 0.1 * (1 - min(t - 10, 10) / 10)
            if t < 25
            else 0.05 * 0.9 ** (t - 25)
        ),
    ),
    "warmup_cosine": (
        schedules.warmup_cosine(0.1, 8, 30, end_value=0.001),
        lambda t: 0.1 * (t + 1) / 8 if t < 8 else 0.001 + 0.099 * half_cosine(min(t - 8, 22) / 22),
    ),
    "warmup_cosine_from_init": (
        schedules.warmup_cosine(0.1, 8, 30, init_value=0.02),
        lambda t: 0.02 + 0.08 * (t + 1) / 8 if t < 8 else 0.1 * half_cosine(min(t - 8, 22) / 22),
    ),
    "cyclic_triangular": (
        schedules.cyclic(0.01, 0.1, 5),
        lambda t: torch_cyclic_lr(t, 0.01, 0.1, 5, "triangular"),
    ),
    "cyclic_triangular2": (
        schedules.cyclic(0.01, 0.1, 4, mode="triangular2"),
        lambda t: torch_cyclic_lr(t, 0.01, 0.1, 4, "triangular2"),
    ),
    "cyclic_exp_range": (
        schedules.cyclic(0.01, 0.1, 4, mode="exp_range", gamma=0.95),
        lambda t: torch_cyclic_lr(t, 0.01, 0.1, 4, "exp_range", gamma=0.95),
    ),
    "sgdr": (
        schedules.sgdr(0.1, 6, min_value=0.001),
        lambda t: torch_warm_restarts_stepped(N, 0.1, 6, eta_min=0.001)[t],
    ),
    "sgdr_period_mult": (
        schedules.sgdr(0.1, 3, period_mult=2),
        lambda t: torch_warm_restarts_stepped(N, 0.1, 3, T_mult=2)[t],
    ),
    "sgdr_float_period_mult": (
        schedules.sgdr(0.1, 2, period_mult=1.5, min_value=0.001),
        lambda t: torch_warm_restarts_stepped(N, 0.1, 2, T_mult=1.5, eta_min=0.001)[t],
    ),
    "sgdr_decay": (
        schedules.sgdr(0.1, 3, period_mult=2, decay=0.5, min_value=0.001),
        lambda t: torch_warm_restarts_stepped(N, 0.1, 3, T_mult=2, eta_min=0.001, decay=0.5)[t],
    ),
    "onecycle_cos": (
        schedules.onecycle(N, 0.1),
        lambda t: torch_one_cycle_lr(t, 0.1, N, 0.3, 25.0, 1e4, "cos"),
    ),
    "onecycle_linear": (
        schedules.onecycle(
            N, 0.1, pct_start=0.25, div_factor=10.0, final_div_factor=100.0, anneal="linear"
        ),
        lambda t: torch_one_cycle_lr(t, 0.1, N, 0.25, 10.0, 100.0, "linear"),
    ),
}


@functools.cache
def values_of(name):
    """``CASES[name]``'s first N values: one jitted ``vmap`` over the steps, shared by tests."""
    return CASES[name][0].values(N)


@pytest.mark.parametrize("name", CASES)
def test_values_match_the_formula(name):
    _, formula = CASES[name]
    np.testing.assert_allclose(values_of(name), reference(formula), rtol=RTOL, atol=ATOL)


JIT_STEPS = (0, 9, 10, 11, 25, N - 1)


@functools.cache
def jitted_values():
    """Every case at JIT_STEPS, from one jitted function of a traced int32 step."""

    @jax.jit
    def evaluate(step):
        return {name: schedule(step) for name, (schedule, _) in CASES.items()}

    return [evaluate(jnp.int32(t)) for t in JIT_STEPS]


@pytest.mark.parametrize("name", CASES)
def test_jit_with_a_traced_step_equals_eager(name):
    schedule, _ = CASES[name]
    for t, jitted in zip(JIT_STEPS, jitted_values(), strict=True):
        np.testing.assert_allclose(jitted[name], schedule(t), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", CASES)
def test_returns_a_scalar_of_the_default_float_dtype(name):
    schedule, _ = CASES[name]
    for step in (3, np.int64(3), np.int32(3), jnp.int32(3)):
        value = schedule(step)
        assert value.shape == ()
        assert value.dtype == jnp.result_type(float)


def test_values_returns_a_numpy_array_of_n_values():
    values = schedules.cosine(0.1, 10).values(25)
    assert isinstance(values, np.ndarray)
    assert values.shape == (25,)
    assert schedules.cosine(0.1, 10).values(0).shape == (0,)


# --- boundary semantics: the value just before, at and after every boundary ---------

BOUNDARIES = [
    (
        "piecewise_constant",
        [(9, 0.1), (10, 0.01), (11, 0.01), (24, 0.01), (25, 0.001), (26, 0.001)],
    ),
    ("step_decay", [(6, 0.1), (7, 0.05), (8, 0.05), (13, 0.05), (14, 0.025)]),
    ("linear", [(29, 0.1 - 0.09 * 29 / 30), (30, 0.01), (31, 0.01)]),
    ("polynomial", [(29, 0.09 / 30**2 + 0.01), (30, 0.01), (31, 0.01)]),
    ("exponential_staircase", [(6, 0.1), (7, 0.05), (8, 0.05)]),
    ("cosine", [(0, 0.1), (29, 0.05 * (1 + math.cos(29 * math.pi / 30))), (30, 0.0), (31, 0.0)]),
    ("cosine_alpha", [(30, 0.01), (31, 0.01)]),
    # the first update gets α0/T', update T' (step T'-1) gets α0, then the cosine starts at α0
    (
        "warmup_then_cosine",
        [(0, 0.01), (8, 0.09), (9, 0.1), (10, 0.1), (11, 0.05 * (1 + math.cos(math.pi / 25)))],
    ),
    ("warmup_constant_from_init", [(0, 0.019), (9, 0.1), (10, 0.1), (11, 0.1)]),
    ("join", [(9, 0.1), (10, 0.1), (11, 0.09), (24, 0.0), (25, 0.05), (26, 0.045)]),
    (
        "warmup_cosine",
        [
            (0, 0.0125),
            (7, 0.1),
            (8, 0.1),
            (9, 0.001 + 0.099 * half_cosine(1 / 22)),
            (29, 0.001 + 0.099 * half_cosine(21 / 22)),
            (30, 0.001),
            (31, 0.001),
        ],
    ),
    (
        "cyclic_triangular",
        [(4, 0.082), (5, 0.1), (6, 0.082), (9, 0.028), (10, 0.01), (11, 0.028), (15, 0.1)],
    ),
    ("cyclic_triangular2", [(4, 0.1), (8, 0.01), (12, 0.055), (16, 0.01), (20, 0.0325)]),
    (
        "sgdr",
        [
            (5, 0.001 + 0.099 * half_cosine(5 / 6)),
            (6, 0.1),
            (7, 0.001 + 0.099 * half_cosine(1 / 6)),
            (11, 0.001 + 0.099 * half_cosine(5 / 6)),
            (12, 0.1),
        ],
    ),
    # restarts at 3, 3+6 = 9 and 9+12 = 21
    (
        "sgdr_period_mult",
        [
            (2, 0.1 * half_cosine(2 / 3)),
            (3, 0.1),
            (4, 0.1 * half_cosine(1 / 6)),
            (8, 0.1 * half_cosine(5 / 6)),
            (9, 0.1),
            (20, 0.1 * half_cosine(11 / 12)),
            (21, 0.1),
            (22, 0.1 * half_cosine(1 / 24)),
        ],
    ),
    # restarts at 2, 5, 9.5 (between steps 9 and 10), 16.25
    (
        "sgdr_float_period_mult",
        [
            (4, 0.001 + 0.099 * half_cosine(2 / 3)),
            (5, 0.1),
            (9, 0.001 + 0.099 * half_cosine(4 / 4.5)),
            (10, 0.001 + 0.099 * half_cosine(0.5 / 6.75)),
        ],
    ),
    ("sgdr_decay", [(3, 0.05), (9, 0.025), (21, 0.0125)]),
    # torch's phase end E = 0.3 * 40 - 1 = 11
    (
        "onecycle_cos",
        [
            (0, 0.004),
            (10, 0.004 + 0.096 * (1 - half_cosine(10 / 11))),
            (11, 0.1),
            (12, 4e-7 + (0.1 - 4e-7) * half_cosine(1 / 28)),
            (N - 1, 4e-7),
        ],
    ),
]


@pytest.mark.parametrize(
    ("name", "step", "expected"),
    [(name, step, expected) for name, points in BOUNDARIES for step, expected in points],
)
def test_value_around_boundaries(name, step, expected):
    schedule, _ = CASES[name]
    np.testing.assert_allclose(schedule(step), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "schedule",
    [
        schedules.warmup(schedules.cosine(0.1, 25), 10),
        schedules.warmup(0.1, 1000),
        schedules.warmup_cosine(0.1, 100, 1000),
        schedules.onecycle(1000, 0.1),
    ],
    ids=repr,
)
def test_first_update_gets_a_positive_rate(schedule):
    assert schedule(0) > 0


def test_warmup_is_the_lectures_formula_with_t_equal_step_plus_one():
    alpha_0, warmup_steps = 0.1, 10
    schedule = schedules.warmup(alpha_0, warmup_steps)
    for t in range(1, warmup_steps + 1):
        np.testing.assert_allclose(schedule(t - 1), t / warmup_steps * alpha_0, rtol=RTOL)


def test_warmup_with_zero_steps_is_the_following_schedule():
    unwarmed = schedules.warmup(schedules.cosine(0.1, 30), 0)
    np.testing.assert_allclose(unwarmed.values(N), values_of("cosine"), rtol=RTOL, atol=ATOL)


def test_negative_steps_count_as_step_zero():
    for name in ("cosine", "inverse_time", "sgdr_float_period_mult", "onecycle_cos"):
        schedule, _ = CASES[name]
        np.testing.assert_allclose(schedule(-3), schedule(0), rtol=RTOL)


K = 41  # under jit, XLA may compute t / 41 as t * (1/41): 0.99999994 at t = 41 in float32
FLOAT32_CASES = {
    "step_decay": (schedules.step_decay(1.0, K, 0.5), lambda t: 0.5 ** (t // K)),
    "exponential_staircase": (
        schedules.exponential(1.0, 0.5, decay_steps=K, staircase=True),
        lambda t: 0.5 ** (t // K),
    ),
    "cyclic": (
        schedules.cyclic(0.0, 1.0, K),
        lambda t: torch_cyclic_lr(t, 0.0, 1.0, K, "triangular"),
    ),
    "sgdr": (schedules.sgdr(1.0, K), lambda t: torch_warm_restarts_stepped(4 * K + 1, 1.0, K)[t]),
    # restarts at 5, 25 and 105, where 5 * (4**i - 1) / 3 is not exact under jit
    "sgdr_period_mult": (
        schedules.sgdr(1.0, 5, period_mult=4),
        lambda t: torch_warm_restarts_stepped(4 * K + 1, 1.0, 5, T_mult=4)[t],
    ),
}


@pytest.mark.parametrize("name", FLOAT32_CASES)
def test_integer_boundaries_are_exact_in_float32_under_jit(name):
    schedule, formula = FLOAT32_CASES[name]
    with jax.enable_x64(False):
        values = schedule.values(4 * K + 1)
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, reference(formula, 4 * K + 1), rtol=1e-5, atol=1e-6)


# --- torch equivalences beyond the first N steps -------------------------------------


@pytest.mark.parametrize(("period", "period_mult"), [(1, 1), (5, 1), (1, 2), (3, 2), (2, 3)])
def test_sgdr_equals_torch_warm_restarts_at_explicit_epochs(period, period_mult):
    # torch's closed form, float log and all; for T_mult = 3 its int(log(...)) first rounds
    # the wrong way at epoch 121 * T_0 (log_3(243) = 4.999...), so stay below that.
    n = 120
    schedule = schedules.sgdr(0.1, period, period_mult=period_mult, min_value=0.001)
    torch_values = [
        torch_warm_restarts_at_epoch(e, 0.1, period, period_mult, 0.001) for e in range(n)
    ]
    np.testing.assert_allclose(schedule.values(n), torch_values, rtol=RTOL)


@pytest.mark.parametrize("period_mult", [1, 2, 3, 1.5, 2.5])
def test_sgdr_equals_torch_stepped_warm_restarts_over_many_restarts(period_mult):
    n = 1000
    schedule = schedules.sgdr(0.1, 2, period_mult=period_mult, min_value=0.001)
    expected = torch_warm_restarts_stepped(n, 0.1, 2, T_mult=period_mult, eta_min=0.001)
    np.testing.assert_allclose(schedule.values(n), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_equals_torch_cyclic_lr_over_many_cycles(mode):
    n, gamma = 500, 0.999 if mode == "exp_range" else 1.0
    schedule = schedules.cyclic(0.001, 0.1, 13, mode=mode, gamma=gamma)
    expected = [torch_cyclic_lr(t, 0.001, 0.1, 13, mode, gamma) for t in range(n)]
    np.testing.assert_allclose(schedule.values(n), expected, rtol=RTOL, atol=ATOL)


def test_onecycle_holds_its_final_value_after_total_steps():
    schedule = schedules.onecycle(N, 0.1)
    np.testing.assert_allclose(schedule.values(N + 10)[N - 1 :], 0.1 / 25 / 1e4, rtol=RTOL)


# --- optax equivalences ---------------------------------------------------------------


def optax_values(schedule, n=N):
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.arange(n)))


OPTAX_EQUIVALENTS = {
    "cosine_alpha": optax.cosine_decay_schedule(0.1, 30, alpha=0.1),
    "exponential": optax.exponential_decay(0.1, 1, 0.9),
    "exponential_decay_steps": optax.exponential_decay(0.1, 7, 0.5),
    "exponential_staircase": optax.exponential_decay(0.1, 7, 0.5, staircase=True),
    "polynomial": optax.polynomial_schedule(0.1, 0.01, 2.0, 30),
    "linear": optax.linear_schedule(0.1, 0.01, 30),
    # optax takes multiplicative scales: 0.1, then 0.1 * 0.1, then 0.1 * 0.1 * 0.1
    "piecewise_constant": optax.piecewise_constant_schedule(0.1, {10: 0.1, 25: 0.1}),
    "join": optax.join_schedules(
        [
            optax.constant_schedule(0.1),
            optax.linear_schedule(0.1, 0.0, 10),
            optax.exponential_decay(0.05, 1, 0.9),
        ],
        [10, 25],
    ),
}


@pytest.mark.parametrize("name", OPTAX_EQUIVALENTS)
def test_equals_optax(name):
    expected = optax_values(OPTAX_EQUIVALENTS[name])
    np.testing.assert_allclose(values_of(name), expected, rtol=RTOL, atol=ATOL)


def test_warmup_cosine_is_optax_one_step_ahead_during_warmup_and_equal_after():
    ours = schedules.warmup_cosine(0.1, 8, 30, end_value=0.001, init_value=0.01).values(N)
    theirs = optax_values(optax.warmup_cosine_decay_schedule(0.01, 0.1, 8, 30, 0.001), N + 1)
    np.testing.assert_allclose(ours[:8], theirs[1:9], rtol=RTOL)
    np.testing.assert_allclose(ours[8:], theirs[8:N], rtol=RTOL)


# --- composition with any callable ---------------------------------------------------


def test_warmup_accepts_any_callable_schedule():
    with_optax = schedules.warmup(optax.cosine_decay_schedule(0.1, 25), 10)
    np.testing.assert_allclose(with_optax.values(N), values_of("warmup_then_cosine"), rtol=RTOL)


def test_join_accepts_any_callable_schedule():
    joined = schedules.join(
        [lambda step: 0.1 * jnp.ones_like(step, float), schedules.cosine(0.1, 20)], [10]
    )
    expected = reference(lambda t: 0.1 if t < 10 else 0.1 * half_cosine(min(t - 10, 20) / 20))
    np.testing.assert_allclose(joined.values(N), expected, rtol=RTOL, atol=ATOL)


def test_join_nests_warmup_and_join():
    nested = schedules.join(
        [schedules.warmup(schedules.constant(0.1), 5), schedules.sgdr(0.05, 5)], [20]
    )
    warmed_up = [0.1 * (t + 1) / 5 if t < 5 else 0.1 for t in range(20)]
    expected = np.concatenate([warmed_up, torch_warm_restarts_stepped(N - 20, 0.05, 5)])
    np.testing.assert_allclose(nested.values(N), expected, rtol=RTOL, atol=ATOL)


def test_equal_parameters_make_equal_hashable_schedules():
    assert schedules.cosine(0.1, 100) == schedules.cosine(np.float64(0.1), np.int64(100))
    assert hash(schedules.cosine(0.1, 100)) == hash(schedules.cosine(0.1, np.int64(100)))
    assert schedules.piecewise_constant([0.1, 0.01], [5]) == schedules.piecewise_constant(
        (0.1, 0.01), (5,)
    )


# --- repr -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (schedules.cosine(0.1, 100), "cosine(init_value=0.1, decay_steps=100, alpha=0.0)"),
        (schedules.constant(1), "constant(value=1.0)"),
        (
            schedules.piecewise_constant([0.1, 0.01], [5]),
            "piecewise_constant(values=(0.1, 0.01), boundaries=(5,))",
        ),
        (
            schedules.exponential(0.1, 0.5, np.int64(7), staircase=True),
            "exponential(init_value=0.1, decay_rate=0.5, decay_steps=7, staircase=True)",
        ),
        (
            schedules.warmup(schedules.linear(0.1, 0.0, 90), 10),
            "warmup(schedule_or_value=linear(init_value=0.1, end_value=0.0, decay_steps=90), "
            "warmup_steps=10, init_value=0.0)",
        ),
        (
            schedules.join([schedules.constant(0.1), schedules.inverse_time(0.1, 0.5)], [10]),
            "join(schedules=(constant(value=0.1), inverse_time(init_value=0.1, decay_rate=0.5)), "
            "boundaries=(10,))",
        ),
        (
            schedules.warmup_cosine(0.1, 10, 100),
            "warmup_cosine(peak_value=0.1, warmup_steps=10, decay_steps=100, end_value=0.0, "
            "init_value=0.0)",
        ),
        (
            schedules.cyclic(0.01, 0.1, 5, mode="exp_range", gamma=0.99),
            "cyclic(base_value=0.01, max_value=0.1, step_size=5, mode='exp_range', gamma=0.99)",
        ),
        (
            schedules.sgdr(0.1, 10, period_mult=2),
            "sgdr(init_value=0.1, period=10, period_mult=2.0, decay=1.0, min_value=0.0)",
        ),
        (
            schedules.onecycle(100, 0.1),
            "onecycle(total_steps=100, max_value=0.1, pct_start=0.3, div_factor=25.0, "
            "final_div_factor=10000.0, anneal='cos')",
        ),
    ],
    ids=lambda x: x if isinstance(x, str) else type(x).__name__,
)
def test_repr_shows_the_parameters(schedule, expected):
    assert repr(schedule) == expected


def test_parameters_are_readable_attributes():
    schedule = schedules.sgdr(0.1, 10, period_mult=2)
    assert (schedule.init_value, schedule.period, schedule.period_mult) == (0.1, 10, 2.0)
    assert schedules.piecewise_constant([0.1, 0.01], [5]).rates == (0.1, 0.01)


# --- plot -----------------------------------------------------------------------------


def test_plot_renders_to_png(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    schedule = schedules.warmup_cosine(0.1, 10, 100)
    ax = schedule.plot(120)
    path = tmp_path / "schedule.png"
    ax.figure.savefig(path)
    plt.close(ax.figure)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ax.get_xlabel() == "step"
    assert ax.get_ylabel() == "learning rate"
    assert ax.get_title() == repr(schedule)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), schedule.values(120))


def test_plot_draws_on_given_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert schedules.cosine(0.1, 50).plot(60, ax=ax, color="red") is ax
    assert ax.lines[0].get_color() == "red"
    plt.close(fig)


def test_plot_without_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    message = "Schedule.plot needs matplotlib: pip install 'gradtx[plot]'"
    with pytest.raises(ImportError, match=re.escape(message)):
        schedules.cosine(0.1, 50).plot(60)


# --- validation at construction -------------------------------------------------------

S = schedules
INVALID = [
    # numbers: type, range, finiteness
    (lambda: S.cosine(0.1, 0), ValueError, "cosine: decay_steps must be a positive integer, got 0"),
    (
        lambda: S.cosine(0.1, 10.0),
        TypeError,
        "cosine: decay_steps must be an integer, got 10.0 (float)",
    ),
    (
        lambda: S.cosine(0.1, True),
        TypeError,
        "cosine: decay_steps must be an integer, got True (bool)",
    ),
    (
        lambda: S.cosine("0.1", 10),
        TypeError,
        "cosine: init_value must be a real number, got '0.1' (str)",
    ),
    (lambda: S.cosine(False, 10), TypeError, "cosine: init_value must be a real number, got False"),
    (
        lambda: S.cosine(-0.1, 10),
        ValueError,
        "cosine: init_value must be a non-negative number, got -0.1",
    ),
    (
        lambda: S.cosine(math.nan, 10),
        ValueError,
        "cosine: init_value must be a non-negative number, got nan",
    ),
    (
        lambda: S.cosine(math.inf, 10),
        ValueError,
        "cosine: init_value must be a non-negative number, got inf",
    ),
    (lambda: S.cosine(0.1, 10, alpha=1.5), ValueError, "cosine: alpha must be in [0, 1], got 1.5"),
    (lambda: S.constant(-1), ValueError, "constant: value must be a non-negative number, got -1.0"),
    (lambda: S.constant(None), TypeError, "constant: value must be a real number, got None"),
    (
        lambda: S.exponential(0.1, 1.5),
        ValueError,
        "exponential: decay_rate must be in (0, 1), got 1.5",
    ),
    (
        lambda: S.exponential(0.1, 1.0),
        ValueError,
        "exponential: decay_rate must be in (0, 1), got 1.0",
    ),
    (
        lambda: S.exponential(0.1, 0.0),
        ValueError,
        "exponential: decay_rate must be in (0, 1), got 0.0",
    ),
    (
        lambda: S.exponential(0.1, 0.5, 0),
        ValueError,
        "exponential: decay_steps must be a positive integer, got 0",
    ),
    (
        lambda: S.exponential(0.1, 0.5, staircase=1),
        TypeError,
        "exponential: staircase must be a bool, got 1",
    ),
    (
        lambda: S.step_decay(0.1, 0, 0.5),
        ValueError,
        "step_decay: step_size must be a positive integer, got 0",
    ),
    (lambda: S.step_decay(0.1, 5, 0.0), ValueError, "step_decay: gamma must be in (0, 1], got 0.0"),
    (lambda: S.step_decay(0.1, 5, 2.0), ValueError, "step_decay: gamma must be in (0, 1], got 2.0"),
    (
        lambda: S.linear(0.1, -0.01, 10),
        ValueError,
        "linear: end_value must be a non-negative number, got -0.01",
    ),
    (
        lambda: S.linear(0.1, 0.0, -1),
        ValueError,
        "linear: decay_steps must be a positive integer, got -1",
    ),
    (
        lambda: S.polynomial(0.1, 0.0, 10, 0),
        ValueError,
        "polynomial: power must be a positive number, got 0.0",
    ),
    (
        lambda: S.inverse_time(0.1, 0.0),
        ValueError,
        "inverse_time: decay_rate must be a positive number, got 0.0",
    ),
    (
        lambda: S.natural_exponential(0.1, -1),
        ValueError,
        "natural_exponential: decay_rate must be a positive number, got -1.0",
    ),
    # sequences
    (
        lambda: S.piecewise_constant([0.1, 0.01, 0.001], [10, 5]),
        ValueError,
        "piecewise_constant: boundaries must be strictly increasing, got [10, 5]",
    ),
    (
        lambda: S.piecewise_constant([0.1, 0.01, 0.001], [5, 5]),
        ValueError,
        "piecewise_constant: boundaries must be strictly increasing, got [5, 5]",
    ),
    (
        lambda: S.piecewise_constant([0.1, 0.01], [-5]),
        ValueError,
        "piecewise_constant: boundaries must be non-negative integers, got [-5]",
    ),
    (
        lambda: S.piecewise_constant([0.1, 0.01], [2.5]),
        TypeError,
        "piecewise_constant: boundaries[0] must be an integer, got 2.5 (float)",
    ),
    (
        lambda: S.piecewise_constant([0.1, 0.01], 5),
        TypeError,
        "piecewise_constant: boundaries must be a list or tuple, got 5 (int)",
    ),
    (
        lambda: S.piecewise_constant("ab", [5]),
        TypeError,
        "piecewise_constant: values must be a list or tuple, got 'ab' (str)",
    ),
    (
        lambda: S.piecewise_constant([0.1, -0.01], [5]),
        ValueError,
        "piecewise_constant: values[1] must be a non-negative number, got -0.01",
    ),
    (
        lambda: S.piecewise_constant([0.1, "x"], [5]),
        TypeError,
        "piecewise_constant: values[1] must be a real number, got 'x' (str)",
    ),
    (
        lambda: S.piecewise_constant([0.1, 0.01], [5, 10]),
        ValueError,
        "piecewise_constant: values must be len(boundaries) + 1 = 3 numbers, got [0.1, 0.01]",
    ),
    # composition
    (
        lambda: S.warmup(0.1, -1),
        ValueError,
        "warmup: warmup_steps must be a non-negative integer, got -1",
    ),
    (
        lambda: S.warmup(-0.1, 10),
        ValueError,
        "warmup: schedule_or_value must be a non-negative number, got -0.1",
    ),
    (
        lambda: S.warmup("cosine", 10),
        TypeError,
        "warmup: schedule_or_value must be a Schedule, a callable step -> value or a number, "
        "got 'cosine'",
    ),
    (
        lambda: S.warmup(0.1, 10, init_value=-1),
        ValueError,
        "warmup: init_value must be a non-negative number, got -1.0",
    ),
    (
        lambda: S.join([S.constant(0.1)], [10]),
        ValueError,
        "join: schedules must be len(boundaries) + 1 = 2 schedules",
    ),
    (
        lambda: S.join([S.constant(0.1), 0.01], [10]),
        TypeError,
        "join: schedules[1] must be a Schedule or a callable step -> value, got 0.01 (float)",
    ),
    (
        lambda: S.join([S.constant(0.1)] * 3, [10, 10]),
        ValueError,
        "join: boundaries must be strictly increasing, got [10, 10]",
    ),
    (
        lambda: S.warmup_cosine(0.1, 10, 10),
        ValueError,
        "warmup_cosine: decay_steps must be > warmup_steps = 10, got 10",
    ),
    (
        lambda: S.warmup_cosine(0.0, 10, 100),
        ValueError,
        "warmup_cosine: peak_value must be a positive number, got 0.0",
    ),
    (
        lambda: S.warmup_cosine(0.1, 10, 100, end_value=0.2),
        ValueError,
        "warmup_cosine: end_value must be in [0, 0.1], got 0.2",
    ),
    # periodic
    (
        lambda: S.cyclic(0.1, 0.01, 5),
        ValueError,
        "cyclic: max_value must be a number >= 0.1, got 0.01",
    ),
    (
        lambda: S.cyclic(0.01, 0.1, 0),
        ValueError,
        "cyclic: step_size must be a positive integer, got 0",
    ),
    (
        lambda: S.cyclic(0.01, 0.1, 5, mode="triangle"),
        ValueError,
        "cyclic: mode must be one of 'triangular', 'triangular2', 'exp_range', got 'triangle'",
    ),
    (
        lambda: S.cyclic(0.01, 0.1, 5, mode=2),
        TypeError,
        "cyclic: mode must be a string, got 2 (int)",
    ),
    (
        lambda: S.cyclic(0.01, 0.1, 5, mode="exp_range", gamma=0.0),
        ValueError,
        "cyclic: gamma must be in (0, 1], got 0.0",
    ),
    (
        lambda: S.cyclic(0.01, 0.1, 5, gamma=0.9),
        ValueError,
        "cyclic: gamma must be 1.0 unless mode='exp_range' (mode='triangular'), got 0.9",
    ),
    (lambda: S.sgdr(0.1, 0), ValueError, "sgdr: period must be a positive integer, got 0"),
    (
        lambda: S.sgdr(0.1, 10, period_mult=0.5),
        ValueError,
        "sgdr: period_mult must be a number >= 1, got 0.5",
    ),
    (lambda: S.sgdr(0.1, 10, decay=0.0), ValueError, "sgdr: decay must be in (0, 1], got 0.0"),
    (
        lambda: S.sgdr(0.1, 10, min_value=0.2),
        ValueError,
        "sgdr: min_value must be in [0, 0.1], got 0.2",
    ),
    (
        lambda: S.onecycle(0, 0.1),
        ValueError,
        "onecycle: total_steps must be a positive integer, got 0",
    ),
    (
        lambda: S.onecycle(100, 0.1, pct_start=1.0),
        ValueError,
        "onecycle: pct_start must be in (0, 1), got 1.0",
    ),
    (
        lambda: S.onecycle(3, 0.1),
        ValueError,
        "onecycle: pct_start must be > 1 / total_steps = 0.333333, "
        "so the rise lasts more than one step, got 0.3",
    ),
    (
        lambda: S.onecycle(100, 0.1, div_factor=0),
        ValueError,
        "onecycle: div_factor must be a positive number, got 0.0",
    ),
    (
        lambda: S.onecycle(100, 0.1, anneal="cosine"),
        ValueError,
        "onecycle: anneal must be one of 'cos', 'linear', got 'cosine'",
    ),
    # the values helper
    (
        lambda: S.cosine(0.1, 10).values(-1),
        ValueError,
        "Schedule.values: n must be a non-negative integer, got -1",
    ),
]


@pytest.mark.parametrize(("build", "error", "message"), INVALID, ids=[m for _, _, m in INVALID])
def test_invalid_arguments_raise_at_construction(build, error, message):
    with pytest.raises(error, match=re.escape(message)) as info:
        build()
    assert type(info.value) is error
