"""Every name of ``gradtx.compat.optax.__all__`` against optax 0.2.8.

* Optimizers: optax's own convergence problems (``optax/_src/alias_test.py``: a parabola
  and the Rosenbrock function, float32, and complex64 where optax's tests use complex),
  100 steps per case in a jitted scan (each table is traced into one jitted function, so
  each case compiles once). Each step of gradtx is taken from optax's params *and optax's
  state* (its leaves put into the gradtx state's structure), so the updates and states are
  compared step by step, to float32 rounding, without the rounding differences of earlier
  steps being amplified by the dynamics; the state paths must be optax's. Then: the state's
  types kept by an update (a jitted step does not recompile), extra arguments accepted,
  bfloat16 kept, ``inject_hyperparams`` and ``tree_map_params`` as in optax.
* Transforms and combinators: the same step-by-step comparison on a small tree.
* Functions, tree helpers, state classes and signatures: against optax's.
* optax's newer utilities: stateful schedules in ``inject_hyperparams``, the monitoring
  transforms, ``microbatching``, and the ``transforms`` submodule.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import re
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
import pytest

import gradtx.compat.optax as goptax
import gradtx.compat.optax.tree_utils as gtu

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*optimistic_adam.*:DeprecationWarning"),
    # optax's own warnings: from inside its updates of complex params, and its global_norm
    pytest.mark.filterwarnings("ignore:Casting from complex to real:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:optax.global_norm is deprecated:DeprecationWarning"),
    # both libraries' inject_stateful_hyperparams (tested for the warning below)
    pytest.mark.filterwarnings("ignore:inject_stateful_hyperparams is deprecated"
                               ":DeprecationWarning"),
]

STEPS = 100


def abs_sq(x):
    return jnp.real(x) ** 2 + jnp.imag(x) ** 2


def parabola(dtype):
    start = jnp.array([-1.0, 10.0, 1.0], dtype)
    target = jnp.array([1.0, -1.0, 1.0], dtype)
    if jnp.iscomplexobj(start):
        target = target * (1 + 1j)
    return start, lambda p: jnp.sum(abs_sq(p - target))


def rosenbrock(dtype):
    a = 1.0 + 1.0j if jnp.issubdtype(dtype, jnp.complexfloating) else 1.0
    return (jnp.zeros(2, dtype),
            lambda p: abs_sq(a - p[0]) + 100.0 * abs_sq(p[1] - p[0] ** 2))


def paths(tree):
    return [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)]


def as_numbers(x):
    x = jnp.asarray(x)
    x = jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x
    return np.asarray(x).astype(np.complex128)


def assert_close(ours, theirs, rtol, what):
    """Leaf by leaf, |a − b| ≤ rtol · max|b| (per step when the leaves have a step axis)."""
    assert paths(ours) == paths(theirs), what
    for path, a, b in zip(paths(ours), jax.tree.leaves(ours), jax.tree.leaves(theirs),
                          strict=True):
        a, b = as_numbers(a), as_numbers(b)
        assert a.shape == b.shape, (what, path)
        if a.size == 0:
            continue
        scale = np.max(np.abs(b).reshape(b.shape[0], -1), axis=1) if b.ndim else np.abs(b)
        scale = scale.reshape(scale.shape + (1,) * (b.ndim - 1)) if b.ndim else scale
        bad = np.abs(a - b) > rtol * scale + 1e-30
        assert not bad.any(), f"{what} {path}: {a[bad][:4]} != {b[bad][:4]}"


def assert_same_dtype(a, b, what):
    """The same dtype; for counts, any integer dtype (gradtx counts in int32 where optax,
    under float64, counts in int64)."""
    a, b = jnp.asarray(a).dtype, jnp.asarray(b).dtype
    if jnp.issubdtype(b, jnp.integer):
        assert jnp.issubdtype(a, jnp.integer), what
    else:
        assert a == b, what


# ------------------------------------------------------------------------------ optimizers

def _decay(count):
    return 0.1 / (1.0 + 0.05 * count)


# (name, kwargs): optax's _OPTIMIZERS_UNDER_TEST, then non-default arguments.
OPTIMIZERS = [
    ("adabelief", {"learning_rate": 1e-2}),
    ("adadelta", {"learning_rate": 0.1}),
    ("adadelta", {}),
    ("adafactor", {"learning_rate": 5e-3}),
    ("adafactor", {}),
    ("adagrad", {"learning_rate": 1.0}),
    ("adam", {"learning_rate": 1e-1}),
    ("adamax", {"learning_rate": 1e-1}),
    ("adamaxw", {"learning_rate": 1e-1}),
    ("adamw", {"learning_rate": 1e-1}),
    ("adan", {"learning_rate": 1e-1}),
    ("amsgrad", {"learning_rate": 1e-1}),
    ("fromage", {"learning_rate": 5e-3}),
    ("lamb", {"learning_rate": 1e-3}),
    ("lars", {"learning_rate": 1.0}),
    ("lion", {"learning_rate": 1e-2, "weight_decay": 1e-4}),
    ("nadam", {"learning_rate": 1e-2}),
    ("nadamw", {"learning_rate": 1e-2}),
    ("noisy_sgd", {"learning_rate": 1e-3, "eta": 1e-4, "key": 0}),
    ("novograd", {"learning_rate": 1e-3}),
    ("optimistic_adam", {"learning_rate": 2e-3}),
    ("optimistic_adam_v2", {"learning_rate": 2e-3}),
    ("optimistic_gradient_descent", {"learning_rate": 2e-3, "alpha": 0.7, "beta": 0.1}),
    ("polyak_sgd", {"max_learning_rate": 1.0}),
    ("radam", {"learning_rate": 5e-3}),
    ("rmsprop", {"learning_rate": 5e-3}),
    ("rmsprop", {"learning_rate": 5e-3, "momentum": 0.9}),
    ("rprop", {"learning_rate": 1e-1}),
    ("sgd", {"learning_rate": 1e-3, "momentum": 0.9}),
    ("sign_sgd", {"learning_rate": 1e-1}),
    ("signum", {"learning_rate": 1e-2}),
    ("sm3", {"learning_rate": 1.0}),
    ("yogi", {"learning_rate": 1e-1}),
    # non-default arguments
    ("adam", {"learning_rate": _decay, "b1": 0.8, "eps_root": 1e-6, "nesterov": True}),
    ("adamw", {"learning_rate": 1e-1, "weight_decay": 0.1, "mu_dtype": jnp.float32}),
    ("amsgrad", {"learning_rate": 1e-1, "bias_correction_mu": False,
                 "bias_correction_nu": False}),
    ("adan", {"learning_rate": _decay, "b2": 0.8, "weight_decay": 1e-3}),
    ("rprop", {"learning_rate": 1e-1, "eta_minus": 0.3, "eta_plus": 1.5,
               "min_step_size": 1e-3, "max_step_size": 1.0}),
    ("lion", {"learning_rate": 1e-2, "b1": 0.8, "b2": 0.95}),
    ("rmsprop", {"learning_rate": 5e-3, "centered": True, "eps_in_sqrt": False}),
    ("rmsprop", {"learning_rate": 5e-3, "bias_correction": True, "momentum": 0.5,
                 "nesterov": True}),
    ("sgd", {"learning_rate": _decay, "momentum": 0.9, "nesterov": True}),
    ("adafactor", {"learning_rate": 5e-3, "momentum": 0.9, "weight_decay_rate": 1e-3,
                   "clipping_threshold": None, "multiply_by_parameter_scale": False}),
    ("fromage", {"learning_rate": lambda c: 5e-3 / (1.0 + c)}),
    ("optimistic_adam", {"learning_rate": 2e-3, "optimism": 1e-3, "nesterov": False}),
    ("lars", {"learning_rate": 1.0, "weight_decay": 1e-3, "nesterov": True}),
    ("lamb", {"learning_rate": 1e-3, "weight_decay": 1e-2}),
    ("polyak_sgd", {"max_learning_rate": 1.0, "variant": "sps+", "f_min": -1.0}),
    ("sm3", {"learning_rate": 1.0, "momentum": 0.5}),
    ("adagrad", {"learning_rate": 1.0, "initial_accumulator_value": 0.0, "eps": 1e-3}),
    ("adadelta", {"learning_rate": 0.1, "weight_decay": 1e-3, "rho": 0.8}),
    ("signum", {"learning_rate": 1e-2, "beta": 0.5}),
    ("novograd", {"learning_rate": 1e-3, "weight_decay": 1e-3}),
    ("radam", {"learning_rate": 5e-3, "nesterov": True}),
    ("adabelief", {"learning_rate": 1e-2, "nesterov": True}),
    ("noisy_sgd", {"learning_rate": 1e-3, "eta": 1e-2, "gamma": 0.3, "key": 7}),
    # DoG, an optimizer on its own (no learning rate; global_scale -1 descends); the dtype
    # given, so that inject_hyperparams does not read it as a schedule
    ("scale_by_distance_over_gradients", {"global_scale": -1.0, "param_dtype": jnp.float32}),
    ("scale_by_distance_over_gradients", {"reps_rel": 1e-4, "eps": 1e-6, "global_scale": -0.5,
                                          "param_dtype": jnp.float32}),
]
# optax's tests run these in float32 only ("does not support complex parameters")
NO_COMPLEX = {"fromage", "noisy_sgd", "sm3", "optimistic_gradient_descent", "optimistic_adam",
              "lion", "rprop", "adadelta", "adan", "polyak_sgd", "sign_sgd", "signum",
              "scale_by_distance_over_gradients"}  # optax squares the complex numbers
# The rectification of RAdam at its first tractable step (ρ_t just above 5) is
# (ρ_∞ − 2tβ^t/(1 − β^t) − 4) with ρ_∞ = 1999: a cancellation that loses ~4 digits in
# float32 in both libraries (each rounds β^t differently); the update of that one step
# agrees to 1e-2, every other step as the rest.
# Fromage's shrinkage factor m = 1/√(1 + α_t²) is 1 − 1e-5 here: m − 1 keeps ~3 digits in
# float32, rounded differently by the two libraries (optax forms m − 1 from a scheduled
# float32 m, gradtx (m − 1) θ inside the update).
RTOL = {"radam": 1e-2, "fromage-learning_rate=<lambda>": 5e-4}
# One float32 step of either library, compiled together with the other (XLA may fuse and
# contract the two differently), relative to the largest entry of the update.
UPDATE_RTOL = 1e-4
# gradtx holds ρ as a float32 array and forms 1 − ρ from it: for ρ = 0.999 that is
# 1 − float32(0.999) = 9.9998713e-4, 1.3e-5 from the 1e-3 optax forms from a Python float,
# so a second moment accumulates that relative difference.
STATE_RTOL = 1e-4
# optax's DoG updates come in the dtype of its sum of squares, which starts as jnp.zeros(1):
# float64 under jax_enable_x64 (as here) for float32 params; gradtx's keep the params' dtype.
WIDENED_UPDATES = {"scale_by_distance_over_gradients"}


def _id(case):
    name, kwargs = case
    parts = [name] + [f"{k}={getattr(v, '__name__', v)}" for k, v in kwargs.items()]
    return "-".join(parts)


DTYPES = {"float32": jnp.float32, "complex64": jnp.complex64}
OPTIMIZER_CASES = [(c, d) for c in OPTIMIZERS for d in DTYPES
                   if d == "float32" or c[0] not in NO_COMPLEX]


class Failed:
    """What tracing a case raised, kept so that only that case's test fails."""

    def __init__(self, error):
        self.error = error


def batched(cases, run):
    """``run(case)`` for every case, traced into one jitted function (one compilation for
    the whole table); a case whose tracing raises gives a ``Failed``."""
    failures = {}

    def all_cases():
        out = {}
        for key, case in cases.items():
            try:
                out[key] = run(case)
            except Exception as error:  # re-raised by the case's own test
                failures[key] = Failed(error)
        return out

    results = jax.jit(all_cases)()
    return {**results, **failures}


def result(results, key):
    found = results[key]
    if isinstance(found, Failed):
        raise found.error
    return found


def relative_errors(ours, theirs, what, same_dtypes=True):
    """{path: max |a − b| / max |b|} of each leaf (0 where both are 0); the paths must be
    the same. Computed under ``jit`` (a stacked history of complex arrays compiles slowly)."""
    if paths(ours) != paths(theirs):
        raise AssertionError(f"{what}: paths {paths(ours)} != optax's {paths(theirs)}")
    out = {}
    for path, a, b in zip(paths(ours), jax.tree.leaves(ours), jax.tree.leaves(theirs),
                          strict=True):
        if jax.dtypes.issubdtype(b.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        if same_dtypes and a.dtype != b.dtype and not jnp.issubdtype(b.dtype, jnp.integer):
            raise AssertionError(f"{what} {path}: dtype {a.dtype} != optax's {b.dtype}")
        if b.size == 0:
            out[path] = jnp.float32(0)
            continue
        a, b = (x.astype(jnp.int32) if x.dtype == jnp.bool_ else x for x in (a, b))
        same = (a == b) | (jnp.isnan(a) & jnp.isnan(b))  # a diverged run diverges in both
        diff = jnp.max(jnp.where(same, 0, jnp.abs(a.astype(b.dtype) - b))).astype(jnp.float32)
        scale = jnp.max(jnp.where(jnp.isfinite(b), jnp.abs(b), 0)).astype(jnp.float32)
        out[path] = jnp.where(diff == 0, 0, diff / jnp.maximum(scale, 1e-30))
    return out


def assert_small(errors, rtol, what):
    bad = {p: float(e) for p, e in errors.items() if not float(e) <= rtol}
    assert not bad, f"{what}: relative errors above {rtol}: {bad}"


def _stepwise(name, kwargs, setup, dtype):
    """On optax's trajectory, the largest relative difference over the steps of each leaf
    of the updates and the new state, gradtx's step taken from optax's params and state."""
    theirs, ours = getattr(optax, name)(**kwargs), getattr(goptax, name)(**kwargs)
    start, objective = setup(dtype)
    ours_def = jax.tree.structure(ours.init(start))

    def step(params, state):
        value, grad = jax.value_and_grad(objective)(params)
        grad = jnp.conj(grad)
        extra = {"value": value} if name == "polyak_sgd" else {}
        updates, new_state = theirs.update(grad, state, params, **extra)
        our_updates, our_state = ours.update(
            grad, jax.tree.unflatten(ours_def, jax.tree.leaves(state)), params, **extra)
        errors = (relative_errors(our_updates, updates, "updates",
                                  same_dtypes=name not in WIDENED_UPDATES),
                  relative_errors(our_state, new_state, "state"))
        return optax.apply_updates(params, updates), new_state, errors

    def worst_of(carry, _):
        params, state, worst = carry
        params, state, errors = step(params, state)
        return (params, state, jax.tree.map(jnp.maximum, worst, errors)), None

    (_, _, worst), _ = jax.lax.scan(worst_of, step(start, theirs.init(start)), None,
                                    length=STEPS - 1)
    return worst


@pytest.fixture(scope="module")
def stepwise():
    """Both targets of every (optimizer, dtype) case, one compilation per dtype."""
    out = {}
    for dtype in DTYPES:
        cases = {_id(c): c for c, d in OPTIMIZER_CASES if d == dtype}
        found = batched(cases, lambda c, dtype=dtype: [
            _stepwise(c[0], c[1], target, DTYPES[dtype]) for target in (parabola, rosenbrock)])
        out.update({(key, dtype): value for key, value in found.items()})
    return out


@pytest.mark.parametrize(("case", "dtype"), [pytest.param(c, d, id=f"{_id(c)}-{d}")
                                             for c, d in OPTIMIZER_CASES])
def test_optimizer_steps_like_optax_on_its_convergence_problems(case, dtype, stepwise):
    name, kwargs = case
    start = jnp.zeros(2, DTYPES[dtype])
    assert paths(getattr(goptax, name)(**kwargs).init(start)) == \
        paths(getattr(optax, name)(**kwargs).init(start))
    runs = result(stepwise, (_id(case), dtype))
    for target, (updates, state) in zip(("parabola", "rosenbrock"), runs, strict=True):
        assert_small(updates, RTOL.get(_id(case), RTOL.get(name, UPDATE_RTOL)),
                     f"{target} updates")
        assert_small(state, 3 * STATE_RTOL, f"{target} state")


UNEXPECTED = {"unexpected_extra_args_your_optimizer_doesnt_expect": 1}
MIXED = {"w": -jnp.ones((2, 3), jnp.bfloat16), "b": jnp.ones(3, jnp.float32)}
MIXED_GRADS = {"w": jnp.ones((2, 3), jnp.bfloat16), "b": -jnp.ones(3, jnp.float32)}


def _extra(name):
    return {"value": jnp.float32(0.5)} if name == "polyak_sgd" else UNEXPECTED


def _avals(tree):
    return jax.tree.structure(tree), [(x.shape, x.dtype, x.weak_type)
                                      for x in jax.tree.leaves(jax.tree.map(jax.typeof, tree))]


@pytest.mark.parametrize("case", OPTIMIZERS, ids=_id)
def test_optimizer_state_keeps_its_types_takes_extra_args_and_keeps_dtypes(case):
    # A jitted step recompiles on its second call exactly when the state it returns differs
    # from the one it got in tree structure, shape, dtype or weak type: compared here.
    name, kwargs = case
    tx = getattr(goptax, name)(**kwargs)
    state = tx.init(MIXED)
    updates, new_state = jax.eval_shape(
        lambda s: tx.update(MIXED_GRADS, s, MIXED, **_extra(name)), state)
    assert _avals(new_state) == _avals(state)
    assert jax.tree.map(lambda u: u.dtype, updates) == jax.tree.map(lambda p: p.dtype, MIXED)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "lion", "lbfgs"])
def test_a_jitted_step_compiles_once(name):
    tx = getattr(goptax, name)(1e-2)
    traces = []

    @jax.jit
    def step(state):
        traces.append(1)
        value, grad = jax.value_and_grad(lambda p: jnp.sum(p["b"] ** 2))(MIXED)
        return tx.update(grad, state, MIXED, value=value, grad=grad,
                         value_fn=lambda p: jnp.sum(p["b"] ** 2))

    state = tx.init(MIXED)
    for _ in range(2):
        _, state = step(state)
    assert len(traces) == 1


def _injected(case):
    """optax's test_optimizers_can_be_wrapped_in_inject_hyperparams, on this library."""
    name, kwargs = case
    # as in optax's test; and dtypes, which are callable (jnp.float32) and so read as schedules
    static = ["min_dim_size_to_factor", "dtype_momentum"] if name == "adafactor" else []
    static += [k for k, v in kwargs.items() if isinstance(v, type)]
    factory = getattr(goptax, name)
    injected = goptax.inject_hyperparams(factory, static_args=static)(**kwargs)
    params, grads = (jax.tree.map(lambda x: x.astype(jnp.float32), t)
                     for t in (MIXED, MIXED_GRADS))
    plain = factory(**kwargs)
    ours, _ = plain.update(grads, plain.init(params), params, **_extra(name))
    via_state, _ = injected.update(grads, injected.init(params), params, **_extra(name))
    return ours, via_state


def _mapped(case):
    name, kwargs = case
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    out = []
    for lib, tree_utils in ((goptax, gtu), (optax, otu)):
        tx = getattr(lib, name)(**kwargs)
        new = tree_utils.tree_map_params(tx, lambda p: p + 7.0, tx.init(params))
        out.append(jax.tree.map(lambda x: jax.random.key_data(x) if jax.dtypes.issubdtype(
            x.dtype, jax.dtypes.prng_key) else x, new))
    return out


@pytest.fixture(scope="module")
def per_optimizer():
    cases = {_id(c): c for c in OPTIMIZERS}
    return batched(cases, lambda c: (_injected(c), _mapped(c)))


@pytest.mark.parametrize("case", OPTIMIZERS, ids=_id)
def test_optimizer_runs_inside_inject_hyperparams(case, per_optimizer):
    (plain, via_state), _ = result(per_optimizer, _id(case))
    assert_close(via_state, plain, 1e-5, "inject_hyperparams")


@pytest.mark.parametrize("case", OPTIMIZERS, ids=_id)
def test_tree_map_params_maps_the_same_parts_as_optax(case, per_optimizer):
    _, (ours, theirs) = result(per_optimizer, _id(case))
    assert paths(ours) == paths(theirs)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_array_equal(a, b)


def test_lbfgs_with_its_zoom_line_search_steps_like_optax():
    start, objective = rosenbrock(jnp.float32)
    value_and_grad = {lib: lib.value_and_grad_from_state(objective) for lib in (optax, goptax)}

    def run():
        theirs, ours = optax.lbfgs(), goptax.lbfgs()
        ours_def = jax.tree.structure(ours.init(start))

        def step(carry, _):
            params, state = carry
            value, grad = value_and_grad[optax](params, state=state)
            extra = {"value": value, "grad": grad, "value_fn": objective}
            updates, new_state = theirs.update(grad, state, params, **extra)
            mirrored = jax.tree.unflatten(ours_def, jax.tree.leaves(state))
            our_value, our_grad = value_and_grad[goptax](params, state=mirrored)
            our_updates, our_state = ours.update(
                our_grad, mirrored, params, value=our_value, grad=our_grad, value_fn=objective)
            return (optax.apply_updates(params, updates), new_state), (
                updates, new_state, our_updates, our_state)

        return jax.lax.scan(step, (start, theirs.init(start)), None, length=30)

    (params, _), (updates, state, our_updates, our_state) = jax.jit(run)()
    assert_close(our_updates, updates, 1e-4, "updates")
    assert_close(our_state, state, 1e-3, "state")
    np.testing.assert_allclose(params, [1.0, 1.0], atol=1e-3)  # optax converges here


# -------------------------------------------------------------- transforms and combinators

PARAMS = {"w": jnp.asarray(np.random.default_rng(0).normal(size=(3, 4)), jnp.float32),
          "b": jnp.asarray([0.5, -1.0, 2.0, 0.0], jnp.float32)}
GRADS = [jax.tree.map(lambda p, k=k: jnp.asarray(
    np.random.default_rng(k + 1).normal(size=p.shape), jnp.float32), PARAMS) for k in range(4)]
MASK = {"w": True, "b": False}


def _loss(p):
    return jnp.sum(p["w"] ** 2) + jnp.sum(jnp.cos(p["b"]))


def _nan_grads():
    bad = [dict(g) for g in GRADS]
    bad[1] = {**bad[1], "b": bad[1]["b"].at[0].set(jnp.nan)}
    return bad


# id -> (build(lib) -> transform, extra(params, grads) -> update kwargs, grads)
def _plain(build, grads=GRADS, extra=None):
    return build, extra or (lambda p, g: {}), grads


TRANSFORMS = {
    "adaptive_grad_clip": _plain(lambda lib: lib.adaptive_grad_clip(0.1)),
    "add_decayed_weights": _plain(lambda lib: lib.add_decayed_weights(0.1)),
    "add_decayed_weights-mask-schedule": _plain(
        lambda lib: lib.add_decayed_weights(lambda c: 0.1 * c, MASK)),
    "add_noise": _plain(lambda lib: lib.add_noise(0.1, 0.55, 3)),
    "apply_every": _plain(lambda lib: lib.apply_every(2)),
    "centralize": _plain(lambda lib: lib.centralize()),
    "clip": _plain(lambda lib: lib.clip(0.5)),
    "clip_by_block_rms": _plain(lambda lib: lib.clip_by_block_rms(0.5)),
    "clip_by_global_norm": _plain(lambda lib: lib.clip_by_global_norm(1.0)),
    "ema": _plain(lambda lib: lib.ema(0.9)),
    "ema-no-debias": _plain(lambda lib: lib.ema(0.8, debias=False)),
    "identity": _plain(lambda lib: lib.identity()),
    # PARAMS["b"] has a negative entry and a 0: both sides of the where
    "keep_params_nonnegative": _plain(lambda lib: lib.keep_params_nonnegative()),
    "normalize_by_update_norm": _plain(lambda lib: lib.normalize_by_update_norm()),
    "normalize_by_update_norm-scale-eps": _plain(
        lambda lib: lib.normalize_by_update_norm(scale_factor=-0.5, eps=0.1)),
    "scale": _plain(lambda lib: lib.scale(-0.3)),
    "scale_by_adadelta": _plain(lambda lib: lib.scale_by_adadelta(0.8, 1e-4)),
    "scale_by_adam": _plain(lambda lib: lib.scale_by_adam()),
    "scale_by_adam-nesterov": _plain(lambda lib: lib.scale_by_adam(0.8, 0.99, nesterov=True)),
    "scale_by_adamax": _plain(lambda lib: lib.scale_by_adamax()),
    "scale_by_adan": _plain(lambda lib: lib.scale_by_adan()),
    "scale_by_amsgrad": _plain(lambda lib: lib.scale_by_amsgrad()),
    "scale_by_amsgrad-no-correction": _plain(
        lambda lib: lib.scale_by_amsgrad(bias_correction_mu=False, bias_correction_nu=False)),
    "scale_by_belief": _plain(lambda lib: lib.scale_by_belief()),
    "scale_by_distance_over_gradients": _plain(
        lambda lib: lib.scale_by_distance_over_gradients(reps_rel=1e-2, global_scale=-1.0)),
    "scale_by_factored_rms": _plain(
        lambda lib: lib.scale_by_factored_rms(min_dim_size_to_factor=2)),
    "scale_by_lbfgs": _plain(lambda lib: lib.scale_by_lbfgs(memory_size=3)),
    "scale_by_learning_rate": _plain(lambda lib: lib.scale_by_learning_rate(0.1)),
    "scale_by_learning_rate-schedule-no-flip": _plain(
        lambda lib: lib.scale_by_learning_rate(lambda c: 0.1 / (1 + c), flip_sign=False)),
    "scale_by_lion": _plain(lambda lib: lib.scale_by_lion()),
    "scale_by_lion-smooth": _plain(lambda lib: lib.scale_by_lion(mode="smooth", smooth_beta=2.0)),
    "scale_by_lion-refined": _plain(lambda lib: lib.scale_by_lion(0.5, 0.9, mode="refined")),
    "scale_by_novograd": _plain(lambda lib: lib.scale_by_novograd(weight_decay=0.01)),
    "scale_by_optimistic_gradient": _plain(lambda lib: lib.scale_by_optimistic_gradient(0.7, 0.2)),
    "scale_by_param_block_norm": _plain(lambda lib: lib.scale_by_param_block_norm()),
    # ‖θ_b‖ ≈ 2.3 < 3 takes the min_scale branch, ‖θ_w‖ > 3 the norm
    "scale_by_param_block_norm-min-scale": _plain(
        lambda lib: lib.scale_by_param_block_norm(3.0)),
    "scale_by_param_block_rms": _plain(lambda lib: lib.scale_by_param_block_rms()),
    "scale_by_polyak": _plain(lambda lib: lib.scale_by_polyak(),
                              extra=lambda p, g: {"value": _loss(p)}),
    "scale_by_radam": _plain(lambda lib: lib.scale_by_radam(threshold=4.5)),
    "scale_by_rms": _plain(lambda lib: lib.scale_by_rms()),
    "scale_by_rms-bias-correction": _plain(
        lambda lib: lib.scale_by_rms(0.8, 1e-3, eps_in_sqrt=False, bias_correction=True)),
    "scale_by_rprop": _plain(lambda lib: lib.scale_by_rprop(0.1)),
    "scale_by_rss": _plain(lambda lib: lib.scale_by_rss()),
    "scale_by_schedule": _plain(lambda lib: lib.scale_by_schedule(lambda c: 1.0 - 0.1 * c)),
    "scale_by_sign": _plain(lambda lib: lib.scale_by_sign()),
    "scale_by_sm3": _plain(lambda lib: lib.scale_by_sm3()),
    "scale_by_stddev": _plain(lambda lib: lib.scale_by_stddev(initial_scale=1.0)),
    "scale_by_stddev-bias-correction": _plain(
        lambda lib: lib.scale_by_stddev(initial_scale=1.0, bias_correction=True)),
    "scale_by_trust_ratio": _plain(lambda lib: lib.scale_by_trust_ratio()),
    "scale_by_trust_ratio-min-norm": _plain(lambda lib: lib.scale_by_trust_ratio(min_norm=3.0)),
    "scale_by_yogi": _plain(lambda lib: lib.scale_by_yogi()),
    "set_to_zero": _plain(lambda lib: lib.set_to_zero()),
    "trace": _plain(lambda lib: lib.trace(0.9)),
    "trace-nesterov": _plain(lambda lib: lib.trace(0.5, nesterov=True)),
    "zero_nans": _plain(lambda lib: lib.zero_nans(), grads=_nan_grads()),
    "scale_by_zoom_linesearch": _plain(
        lambda lib: lib.scale_by_zoom_linesearch(10),
        extra=lambda p, g: {"value": _loss(p), "grad": jax.grad(_loss)(p), "value_fn": _loss}),
    "scale_by_backtracking_linesearch": _plain(
        lambda lib: lib.scale_by_backtracking_linesearch(10),
        extra=lambda p, g: {"value": _loss(p), "grad": jax.grad(_loss)(p), "value_fn": _loss}),
    # combinators and wrappers
    "chain": _plain(lambda lib: lib.chain(lib.clip_by_global_norm(1.0), lib.scale_by_adam(),
                                          lib.chain(lib.trace(0.5), lib.scale(-0.1)))),
    "named_chain": _plain(lambda lib: lib.named_chain(("adam", lib.scale_by_adam()),
                                                      ("lr", lib.scale(-0.1)))),
    "masked": _plain(lambda lib: lib.masked(lib.scale_by_adam(), MASK)),
    "masked-callable": _plain(lambda lib: lib.masked(
        lib.trace(0.9), lambda p: jax.tree.map(lambda x: x.ndim > 1, p))),
    "partition": _plain(lambda lib: lib.partition(
        {"a": lib.scale_by_adam(), "s": lib.sgd(0.1)}, {"w": "a", "b": "s"})),
    "multi_transform": _plain(lambda lib: lib.multi_transform(
        {"a": lib.ema(0.9), "z": lib.set_to_zero()},
        lambda p: jax.tree.map(lambda x: "a" if x.ndim > 1 else "z", p))),
    "freeze": _plain(lambda lib: lib.freeze(MASK)),
    "selective_transform": _plain(lambda lib: lib.selective_transform(lib.adam(0.1),
                                                                      freeze_mask=MASK)),
    "apply_if_finite": _plain(lambda lib: lib.apply_if_finite(lib.adam(0.1), 2),
                              grads=_nan_grads()),
    "conditionally_mask": _plain(lambda lib: lib.conditionally_mask(
        lib.scale_by_adam(), lambda step: step % 2 == 0)),
    "conditionally_transform": _plain(lambda lib: lib.conditionally_transform(
        lib.scale_by_adam(), lambda step: step >= 1)),
    "flatten": _plain(lambda lib: lib.flatten(lib.adam(0.1))),
    "MultiSteps": _plain(lambda lib: lib.MultiSteps(lib.adam(0.1), 2)),
    "inject_hyperparams": _plain(lambda lib: lib.inject_hyperparams(lib.adamw)(
        learning_rate=lambda c: 0.1 / (1 + c), weight_decay=0.01)),
    "inject_hyperparams-wrapped-schedule": _plain(lambda lib: lib.inject_hyperparams(lib.sgd)(
        learning_rate=lib.WrappedSchedule(lambda c: 0.1 / (1 + c)), momentum=0.9)),
    "inject_stateful_hyperparams": _plain(lambda lib: lib.inject_stateful_hyperparams(
        lib.scale_by_adam)(b1=lambda c: 0.9 - 0.1 / (1 + c), b2=0.99)),
    "snapshot": _plain(lambda lib: lib.chain(lib.scale_by_adam(), lib.snapshot(
        "adam", lambda u: jax.tree.map(jnp.abs, u)), lib.scale(-0.1))),
    "measure_with_ema": _plain(lambda lib: lib.measure_with_ema(
        lambda u: jax.tree.map(jnp.square, u), 0.8)),
    "measure_with_ema-no-debias": _plain(lambda lib: lib.measure_with_ema(
        lambda u: jax.tree.map(jnp.square, u), 0.5, debias=False)),
    "with_extra_args_support": _plain(lambda lib: lib.with_extra_args_support(lib.sgd(0.1))),
    "stateless": _plain(lambda lib: lib.stateless(lambda u, p: jax.tree.map(
        lambda a, b: a * b, u, p))),
    "stateless_with_tree_map": _plain(lambda lib: lib.stateless_with_tree_map(
        lambda u, p: u - 0.5 * p)),
}


# The zoom line search's decrease error f(θ + ηu) − f(θ) − c η ⟨∇f, u⟩ cancels to 1e-4 of
# the values it is made of, so its float32 rounding is a few 1e-3 of it.
TRANSFORM_STATE_RTOL = {"scale_by_zoom_linesearch": 1e-2}
# optax's zoom line search keeps its diagnostics (decrease and curvature errors) as weakly
# typed Python scalars, which turn float64 under jax_enable_x64; gradtx keeps float32.
WEAKLY_TYPED_STATE = {"scale_by_zoom_linesearch"}


def _transform_steps(case_id):
    """The largest relative difference of each leaf of the updates and the new state over
    the steps, each step of both libraries from optax's params and state."""
    build, extra_of, grads = TRANSFORMS[case_id]
    theirs, ours = build(optax), build(goptax)
    ours_def = jax.tree.structure(ours.init(PARAMS))

    def step(params, state, g):
        extra = extra_of(params, g)
        updates, new_state = theirs.update(g, state, params, **extra)
        our_updates, our_state = ours.update(
            g, jax.tree.unflatten(ours_def, jax.tree.leaves(state)), params, **extra)
        errors = (relative_errors(our_updates, updates, "updates",
                                  same_dtypes=case_id not in WIDENED_UPDATES),
                  relative_errors(our_state, new_state, "state",
                                  same_dtypes=case_id not in WEAKLY_TYPED_STATE))
        return optax.apply_updates(params, updates), new_state, errors

    def worst_of(carry, g):
        params, state, worst = carry
        params, state, errors = step(params, state, g)
        return (params, state, jax.tree.map(jnp.maximum, worst, errors)), None

    rest = jax.tree.map(lambda *gs: jnp.stack(gs), *grads[1:])
    (_, _, worst), _ = jax.lax.scan(worst_of, step(PARAMS, theirs.init(PARAMS), grads[0]), rest)
    return worst


@pytest.fixture(scope="module")
def transform_steps():
    return batched({k: k for k in TRANSFORMS}, _transform_steps)


@pytest.mark.parametrize("case_id", sorted(TRANSFORMS))
def test_transform_steps_like_optax_on_a_tree(case_id, transform_steps):
    build = TRANSFORMS[case_id][0]
    assert paths(build(goptax).init(PARAMS)) == paths(build(optax).init(PARAMS))
    updates, state = result(transform_steps, case_id)
    assert_small(updates, UPDATE_RTOL, f"{case_id} updates")
    assert_small(state, TRANSFORM_STATE_RTOL.get(case_id, STATE_RTOL), f"{case_id} state")


@pytest.mark.parametrize("reset_state", [False, True])
def test_lookahead_on_lookahead_params_steps_like_optax(reset_state):
    runs = {}
    for lib in (optax, goptax):
        tx = lib.lookahead(lib.adam(0.1), sync_period=3, slow_step_size=0.4,
                           reset_state=reset_state)
        params = lib.LookaheadParams.init_synced(PARAMS)
        state = tx.init(params)
        out = []
        for g in GRADS * 2:
            updates, state = tx.update(g, state, params)
            params = optax.apply_updates(params, updates)
            out.append((params, state))
        runs[lib] = out
    for (ours, our_state), (theirs, state) in zip(runs[goptax], runs[optax], strict=True):
        assert_close(tuple(ours), tuple(theirs), 1e-5, "params")
        assert_close(our_state, state, STATE_RTOL, "state")


def test_lookahead_needs_lookahead_params():
    tx = goptax.lookahead(goptax.sgd(0.1), 2, 0.5)
    with pytest.raises(TypeError, match=r"lookahead: params must be a LookaheadParams"):
        tx.init(PARAMS)
    with pytest.raises(ValueError, match="lookahead: sync_period must be in"):
        goptax.lookahead(goptax.sgd(0.1), 0, 0.5)


NEEDS_PARAMS = {"keep_params_nonnegative": lambda lib: lib.keep_params_nonnegative(),
                "scale_by_param_block_norm": lambda lib: lib.scale_by_param_block_norm()}
STATELESS_NEW = {**NEEDS_PARAMS, "normalize_by_update_norm": lambda lib:
                 lib.normalize_by_update_norm(scale_factor=2.0)}


@pytest.mark.parametrize("name", sorted(NEEDS_PARAMS))
def test_transform_needs_the_params_as_optax(name):
    for lib in (optax, goptax):
        tx = NEEDS_PARAMS[name](lib)
        with pytest.raises(ValueError, match="params" if lib is goptax else None):
            tx.update(GRADS[0], tx.init(PARAMS), None)


@pytest.mark.parametrize("name", sorted(STATELESS_NEW))
def test_stateless_transform_in_float32_is_optax(name):
    params = {"w": jnp.asarray([[0.5, -2.0], [1.0, 0.0]], jnp.float32),
              "b": jnp.zeros(3, jnp.float32)}
    grads = {"w": jnp.asarray([[-1.0, 0.5], [0.25, -0.1]], jnp.float32),
             "b": jnp.asarray([0.3, -0.2, 0.0], jnp.float32)}
    results = {}
    for lib in (optax, goptax):
        tx = NEEDS_PARAMS.get(name, STATELESS_NEW[name])(lib)
        results[lib] = jax.jit(tx.update)(grads, tx.init(params), params)
    (ours, our_state), (theirs, state) = results[goptax], results[optax]
    assert type(our_state).__name__ == type(state).__name__ and our_state == state == ()
    assert jax.tree.map(lambda x: x.dtype, ours) == jax.tree.map(lambda x: x.dtype, theirs)
    assert_close(ours, theirs, 1e-5, name)


def test_masked_with_compatible_extra_args_masks_them_as_optax():
    seen = {}

    def recorder(lib):
        def update(updates, state, params=None, *, tags=None):
            seen[lib] = tags
            return updates, state

        return lib.GradientTransformationExtraArgs(lambda p: lib.EmptyState(), update)

    tags = {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}
    for lib in (optax, goptax):
        tx = lib.masked(recorder(lib), MASK, mask_compatible_extra_args=True)
        tx.update(GRADS[0], tx.init(PARAMS), PARAMS, tags=tags)
    assert sorted(seen[goptax]) == sorted(seen[optax]) == ["b", "w"]
    assert type(seen[goptax]["b"]).__name__ == type(seen[optax]["b"]).__name__ == "MaskedNode"


# ----------------------------------------------------------------------------- functions

BATCHED = {"a": jnp.asarray(np.random.default_rng(5).normal(size=(6, 3)), jnp.float32),
           "b": jnp.asarray(np.random.default_rng(6).normal(size=(6, 2, 2)), jnp.float32)}

# name -> f(lib): the value both libraries must agree on
FUNCTIONS = {
    "apply_updates": lambda lib: lib.apply_updates(PARAMS, GRADS[0]),
    "global_norm": lambda lib: lib.global_norm(GRADS[0]),
    "incremental_update": lambda lib: lib.incremental_update(GRADS[0], PARAMS, 0.3),
    "periodic_update": lambda lib: [lib.periodic_update(GRADS[0], PARAMS, jnp.int32(s), 3)
                                    for s in (3, 4)],
    "per_example_global_norm_clip": lambda lib: [lib.per_example_global_norm_clip(BATCHED, c)
                                                 for c in (0.5, 2.0, 100.0)],
    "per_example_layer_norm_clip": lambda lib: [lib.per_example_layer_norm_clip(BATCHED, c, u)
                                                for c in (0.5, 3.0) for u in (True, False)],
    "safe_norm": lambda lib: [lib.safe_norm(x, 1.0, *args)
                              for x in (PARAMS["w"], jnp.zeros((2, 3)))
                              for args in ((), ("fro",), (None, 1), (2, 0, True))] + [
        jax.grad(lambda x: lib.safe_norm(x, 0.5))(jnp.zeros(3))],
    "safe_root_mean_squares": lambda lib: [lib.safe_root_mean_squares(x, 0.3)
                                           for x in (PARAMS["w"], jnp.zeros(4))] + [
        jax.grad(lambda x: lib.safe_root_mean_squares(x, 0.5))(jnp.zeros(3))],
    "safe_increment": lambda lib: [lib.safe_increment(jnp.int32(3)),
                                   lib.safe_increment(jnp.int32(2**31 - 1)),
                                   lib.safe_increment(jnp.float32(1.5))],
    "safe_int32_increment": lambda lib: [lib.safe_int32_increment(jnp.int32(2**31 - 1))],
    "scale_gradient": lambda lib: [
        lib.scale_gradient(PARAMS, 0.5),
        jax.grad(lambda p: _loss(lib.scale_gradient(p, 0.25)))(PARAMS),
        jax.grad(lambda p: _loss(lib.scale_gradient(p, 0.0)))(PARAMS)],
    "skip_not_finite": lambda lib: [lib.skip_not_finite(g, jnp.int32(0), PARAMS)
                                    for g in _nan_grads()[:2]],
    "skip_large_updates": lambda lib: [lib.skip_large_updates(GRADS[0], jnp.int32(0), PARAMS, m)
                                       for m in (1.0, 1e3)],
    "init_empty_state": lambda lib: lib.init_empty_state(PARAMS),
    "value_and_grad_from_state": lambda lib: lib.value_and_grad_from_state(_loss)(
        PARAMS, state=lib.lbfgs().init(PARAMS)),
    # optax's deprecated top-level names of the tree_utils moment helpers
    "bias_correction": lambda lib: lib.bias_correction(PARAMS, 0.9, jnp.int32(3)),
    "update_moment": lambda lib: lib.update_moment(GRADS[0], PARAMS, 0.9, 2),
    "update_infinity_moment": lambda lib: lib.update_infinity_moment(GRADS[0], PARAMS, 0.9,
                                                                     1e-3),
    "update_moment_per_elem_norm": lambda lib: lib.update_moment_per_elem_norm(
        {"z": jnp.array([1 + 2j], jnp.complex64)}, {"z": jnp.array([0.5], jnp.float32)}, 0.9, 2),
    # optax's docstring example, and MEAN with a keyword batch argument
    "microbatch": lambda lib: [
        lib.microbatch(lambda x: (x + 1, jnp.sum(3 * x)), argnums=0, microbatch_size=2,
                       accumulator=(lib.microbatching.AccumulationType.CONCAT,
                                    lib.microbatching.AccumulationType.SUM))(jnp.arange(4)),
        lib.microbatch(lambda w, x: jnp.mean((x @ w) ** 2), (), 4,
                       lib.microbatching.AccumulationType.MEAN, argnames="x")(
            PARAMS["w"], x=jnp.concatenate([GRADS[0]["w"].T, GRADS[1]["w"].T]))],
    "tree_map_params": lambda lib: [lib.tree_map_params(
        tx, lambda p: p * 2 + 1, tx.init(PARAMS)) for tx in (
            lib.adamw(0.1, mask=MASK), lib.chain(lib.clip(1.0), lib.partition(
                {"a": lib.adam(0.1), "s": lib.sgd(0.1, 0.9)}, {"w": "a", "b": "s"})))],
}


def both_libraries(cases):
    """Each case's result with compat and with optax, computed in one batch."""
    return batched({k: k for k in cases}, lambda name: (cases[name](goptax), cases[name](optax)))


def assert_results_like_optax(results, name, atol):
    ours, theirs = result(results, name)
    assert paths(ours) == paths(theirs)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        assert_same_dtype(a, b, name)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=atol)


@pytest.fixture(scope="module")
def functions():
    return both_libraries(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_returns_what_optax_returns(name, functions):
    assert_results_like_optax(functions, name, atol=1e-7)


def test_per_example_clipping_names_the_argument_and_the_batch_axis():
    with pytest.raises(ValueError, match="per_example_global_norm_clip: l2_norm_clip must be"):
        goptax.per_example_global_norm_clip(BATCHED, -1.0)
    with pytest.raises(ValueError, match="one leading batch axis of the same size"):
        goptax.per_example_layer_norm_clip({"a": jnp.ones((3, 2)), "b": jnp.ones((4,))}, 1.0)


STATE = optax.chain(optax.clip_by_global_norm(1.0), optax.inject_hyperparams(optax.adam)(
    learning_rate=0.1), optax.add_noise(0.1, 0.5, 0)).init(PARAMS)

# name -> f(tree_utils module): the value both must agree on
TREE_FUNCTIONS = {
    "tree_add": lambda tu: tu.tree_add(PARAMS, GRADS[0], GRADS[1]),
    "tree_add_scale": lambda tu: tu.tree_add_scale(PARAMS, 0.3, GRADS[0]),
    "tree_allclose": lambda tu: [tu.tree_allclose(PARAMS, PARAMS),
                                 tu.tree_allclose(PARAMS, GRADS[0])],
    "tree_bias_correction": lambda tu: tu.tree_bias_correction(PARAMS, 0.9, jnp.int32(3)),
    "tree_cast": lambda tu: [tu.tree_cast(PARAMS, jnp.bfloat16), tu.tree_cast(PARAMS, None)],
    "tree_cast_like": lambda tu: tu.tree_cast_like(PARAMS, {"w": jnp.ones(1, jnp.float16),
                                                            "b": jnp.ones(1, jnp.int32)}),
    "tree_clip": lambda tu: [tu.tree_clip(PARAMS, -0.5, 0.5), tu.tree_clip(PARAMS, None, 0.1)],
    "tree_conj": lambda tu: tu.tree_conj({"z": jnp.array([1 + 2j, 3 - 1j], jnp.complex64)}),
    "tree_div": lambda tu: tu.tree_div(PARAMS, GRADS[0]),
    "tree_dtype": lambda tu: [jnp.zeros((), tu.tree_dtype(PARAMS)),
                              jnp.zeros((), tu.tree_dtype(
                                  {"a": jnp.ones(1, jnp.bfloat16), "b": jnp.ones(1)},
                                  "promote")),
                              jnp.zeros((), tu.tree_dtype(
                                  {"a": jnp.ones(1, jnp.bfloat16), "b": jnp.ones(1)},
                                  "lowest"))],
    "tree_full_like": lambda tu: tu.tree_full_like(PARAMS, 3.0, jnp.float16),
    "tree_get": lambda tu: [tu.tree_get(STATE, "learning_rate"), tu.tree_get(STATE, "count",
                            filtering=lambda p, v: "AddNoiseState" in str(p[-1])),
                            tu.tree_get(STATE, "missing", default=jnp.float32(2.0))],
    "tree_get_all_with_path": lambda tu: [v for _, v in tu.tree_get_all_with_path(
        STATE, "count")],
    "tree_map_params": lambda tu: tu.tree_map_params(
        optax.adam(0.1).init, lambda p: -p, optax.adam(0.1).init(PARAMS),
        transform_non_params=lambda x: x + 1),
    "tree_max": lambda tu: tu.tree_max(PARAMS),
    "tree_min": lambda tu: tu.tree_min(PARAMS),
    "tree_mul": lambda tu: tu.tree_mul(PARAMS, GRADS[0]),
    "tree_norm": lambda tu: [tu.tree_norm(PARAMS), tu.tree_norm(PARAMS, 1),
                             tu.tree_norm(PARAMS, jnp.inf), tu.tree_norm(PARAMS, squared=True),
                             tu.tree_norm({"z": jnp.array([3 + 4j], jnp.complex64)})],
    "tree_ones_like": lambda tu: tu.tree_ones_like(PARAMS, jnp.int32),
    "tree_random_like": lambda tu: tu.tree_random_like(jax.random.key(1), PARAMS),
    "tree_real": lambda tu: tu.tree_real({"z": jnp.array([1 + 2j], jnp.complex64)}),
    "tree_scale": lambda tu: tu.tree_scale(0.5, PARAMS),
    "tree_set": lambda tu: [tu.tree_set(STATE, learning_rate=jnp.float32(0.5)),
                            tu.tree_set(STATE, lambda p, v: "AddNoiseState" in str(p[-1]),
                                        count=jnp.int32(9))],
    "tree_size": lambda tu: tu.tree_size(PARAMS),
    "tree_split_key_like": lambda tu: jax.tree.map(jax.random.key_data,
                                                   tu.tree_split_key_like(jax.random.key(2),
                                                                          PARAMS)),
    "tree_sub": lambda tu: tu.tree_sub(PARAMS, GRADS[0]),
    "tree_sum": lambda tu: [tu.tree_sum(PARAMS), tu.tree_sum(PARAMS, True)],
    "tree_update_infinity_moment": lambda tu: tu.tree_update_infinity_moment(
        GRADS[0], PARAMS, 0.9, 1e-3),
    "tree_update_moment": lambda tu: tu.tree_update_moment(GRADS[0], PARAMS, 0.9, 2),
    "tree_update_moment_per_elem_norm": lambda tu: tu.tree_update_moment_per_elem_norm(
        {"z": jnp.array([1 + 2j], jnp.complex64)}, {"z": jnp.array([0.5], jnp.float32)}, 0.9, 2),
    "tree_vdot": lambda tu: [tu.tree_vdot(PARAMS, GRADS[0]), tu.tree_vdot(
        {"z": jnp.array([1 + 2j], jnp.complex64)}, {"z": jnp.array([3 - 1j], jnp.complex64)})],
    "tree_where": lambda tu: tu.tree_where(jnp.array(False), PARAMS, GRADS[0]),
    "tree_zeros_like": lambda tu: tu.tree_zeros_like(PARAMS, jnp.bfloat16),
}


@pytest.fixture(scope="module")
def tree_functions():
    return batched({k: k for k in TREE_FUNCTIONS},
                   lambda name: (TREE_FUNCTIONS[name](gtu), TREE_FUNCTIONS[name](otu)))


@pytest.mark.parametrize("name", sorted(TREE_FUNCTIONS))
def test_tree_util_returns_what_optax_returns(name, tree_functions):
    ours, theirs = result(tree_functions, name)
    assert paths(ours) == paths(theirs)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        assert_same_dtype(a, b, name)
        np.testing.assert_allclose(as_numbers(a), as_numbers(b), rtol=1e-6)


def test_tree_get_and_set_raise_as_optax():
    with pytest.raises(KeyError, match="tree_get: found 3 values for 'count'"):
        gtu.tree_get(STATE, "count")
    with pytest.raises(KeyError, match="tree_set: found no value named 'nope'"):
        gtu.tree_set(STATE, nope=1)
    named = [v for p, v in gtu.tree_get_all_with_path(STATE, "AddNoiseState")]
    assert [type(v).__name__ for v in named] == ["AddNoiseState"]


def test_tree_module_has_optax_tree_names():
    for name in goptax.tree.__all__:
        assert hasattr(optax.tree, name), name
        assert getattr(goptax.tree, name) is getattr(gtu, f"tree_{name}")


# ------------------------------------------------------------------- names and signatures

STATE_CLASSES = sorted(n for n in goptax.__all__ if n.endswith("State") and n != "OptState"
                       or n in ("ApplyEvery", "LookaheadParams", "MaskedNode",
                                "ZoomLinesearchInfo"))


@pytest.mark.parametrize("name", STATE_CLASSES)
def test_state_class_has_optax_fields(name):
    assert getattr(goptax, name)._fields == getattr(optax, name)._fields


TYPES = ["GradientTransformation", "GradientTransformationExtraArgs", "TransformInitFn",
         "TransformUpdateFn", "TransformUpdateExtraArgsFn", "OptState", "Params", "Updates",
         "Schedule", "ScalarOrSchedule", "MaskOrFn", "ShouldSkipUpdateFunction"]


def test_the_protocol_types_work_as_optax_types():
    tx = goptax.adam(0.1)
    assert isinstance(tx, goptax.GradientTransformationExtraArgs)
    assert isinstance(tx, goptax.GradientTransformation)
    assert goptax.GradientTransformation._fields == optax.GradientTransformation._fields
    init: goptax.TransformInitFn = tx.init
    update: goptax.TransformUpdateExtraArgsFn = tx.update
    params: goptax.Params = {"w": jnp.ones(2)}
    state: goptax.OptState = init(params)
    updates: goptax.Updates
    updates, state = update(params, state, params)
    schedule: goptax.Schedule = goptax.linear_schedule(0.0, 1.0, 10)
    assert float(schedule(5)) == float(optax.linear_schedule(0.0, 1.0, 10)(5))
    for name in ("TransformInitFn", "TransformUpdateFn", "TransformUpdateExtraArgsFn",
                 "ShouldSkipUpdateFunction"):
        ours = inspect.signature(getattr(goptax, name).__call__).parameters
        theirs = inspect.signature(getattr(optax, name).__call__).parameters
        assert list(ours) == list(theirs), name


# Known differences of signature, each with its reason. Anything not listed must match
# optax's parameter names, kinds and defaults exactly.
SIGNATURE_DIFFERENCES = {
    # a default that is an object: equal in effect, not by identity
    ("lbfgs", "linesearch"): "a scale_by_zoom_linesearch(20, initial_guess_strategy='one'), "
                             "as optax's, but gradtx's object",
    ("scale_by_factored_rms", "decay_rate_fn"): "None stands for optax's function "
                                                "_decay_rate_pow, 1 − (t + 1)^(−decay_rate)",
    # an enum member of gradtx's AccumulationType, of the same name as optax's
    ("microbatch", "accumulator"): "AccumulationType.SUM (test_microbatching_signatures_...)",
}
NOT_IN_OPTAX = {"state_from_optax", "state_to_optax"}  # gradtx's checkpoint conversions


def _callables():
    for name in goptax.__all__:
        obj = getattr(goptax, name)
        if inspect.ismodule(obj) or name in TYPES or name in STATE_CLASSES or \
                name in NOT_IN_OPTAX:
            continue
        yield name


@pytest.mark.parametrize("name", list(_callables()))
def test_signature_is_optax(name):
    ours = inspect.signature(getattr(goptax, name)).parameters
    theirs = inspect.signature(getattr(optax, name)).parameters
    assert list(ours) == list(theirs), name
    for param, p in ours.items():
        q = theirs[param]
        assert p.kind == q.kind, (name, param)
        if (name, param) not in SIGNATURE_DIFFERENCES:
            assert same_default(p.default, q.default), (name, param, p.default, q.default)


def same_default(ours, theirs):
    """Equal, and of the same kind (a number for a number, not True for 1)."""
    numbers = (int, float)
    kinds_match = type(ours) is type(theirs) or (
        isinstance(ours, numbers) and isinstance(theirs, numbers)
        and not isinstance(ours, bool) and not isinstance(theirs, bool))
    return ours is theirs or (kinds_match and ours == theirs)


@pytest.mark.parametrize("name", sorted(set(goptax.tree_utils.__all__) - {"NamedTupleKey"}))
def test_tree_utils_signature_is_optax(name):
    ours = inspect.signature(getattr(gtu, name)).parameters
    theirs = inspect.signature(getattr(otu, name)).parameters
    assert [(p.name, p.kind) for p in ours.values()] == [(p.name, p.kind)
                                                        for p in theirs.values()]
    for p in ours.values():
        assert same_default(p.default, theirs[p.name].default), (name, p.name)


def test_named_tuple_key_is_optax_s():
    key = gtu.NamedTupleKey("ScaleByAdamState", "mu")
    assert str(key) == str(otu.NamedTupleKey("ScaleByAdamState", "mu")) == "ScaleByAdamState.mu"


# the schedules have their own file (tests/test_compat_optax_schedules.py)
SCHEDULES = {n for n in goptax.__all__ if n.endswith("_schedule")} | {
    "exponential_decay", "join_schedules"}


def test_every_public_name_is_checked_here():
    checked = ({c[0] for c in OPTIMIZERS} | {k.split("-")[0] for k in TRANSFORMS}
               | set(FUNCTIONS) | set(STATE_CLASSES) | set(TYPES) | NOT_IN_OPTAX | SCHEDULES
               | {"lbfgs", "lookahead", "schedules", "tree", "tree_utils"}
               | NEWER_UTILITIES)
    assert sorted(set(goptax.__all__) - checked) == []


def test_the_optax_names_not_provided_are_listed_in_the_migration_guide():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        losses = set(dir(importlib.import_module("optax.losses")))
    missing = sorted(n for n in optax.__all__ if n not in set(goptax.__all__) | losses)
    guide = (Path(__file__).resolve().parents[1] / "docs" / "migrating.md").read_text(
        encoding="utf-8")
    assert [n for n in missing if f"`{n}`" not in guide and f"`optax.{n}`" not in guide] == []


# ------------------------------------------------------------- optax's newer utilities

NEWER_UTILITIES = {"monitor", "WrappedSchedule", "microbatching", "transforms"}


def _run_eagerly(lib, build, steps=4, extra=lambda i: {}):
    """The initial state, then (updates, state) after each of ``steps`` eager updates of
    ``build(lib)`` on GRADS, each library on its own trajectory (float32: a relative 1e-5
    of Adam's second moment, see STATE_RTOL, carried on)."""
    tx = build(lib)
    state, params, out = tx.init(PARAMS), PARAMS, [tx.init(PARAMS)]
    for i in range(steps):
        updates, state = tx.update(GRADS[i % len(GRADS)], state, params, **extra(i))
        params = optax.apply_updates(params, updates)
        out.append((updates, state))
    return out


def _monitored(lib):
    return lib.chain(lib.scale_by_adam(), lib.monitor({
        "norm": lambda u: lib.tree_utils.tree_norm(u),
        "clipped_ema": lib.measure_with_ema(lambda u: lib.tree_utils.tree_norm(u) > 3.0, 0.9),
        "b_ema": lib.measure_with_ema(lambda u: u["b"], 0.5, debias=False),
        "rms": lib.scale_by_rms(),  # a transform: its output is the measurement
    }), lib.scale(-0.1))


def test_monitor_records_what_optax_records():
    ours, theirs = (_run_eagerly(lib, _monitored, steps=3) for lib in (goptax, optax))
    # after init the measurements are empty, as in optax; the states have its paths
    assert ours[0][1].measurements == theirs[0][1].measurements == {}
    for (our_updates, our_state), (updates, state) in zip(ours[1:], theirs[1:], strict=True):
        assert_close(our_updates, updates, UPDATE_RTOL, "updates")
        assert_close(our_state, state, STATE_RTOL, "state")
        for name in ("norm", "clipped_ema", "b_ema", "rms"):
            assert_close(gtu.tree_get(our_state, name), otu.tree_get(state, name), STATE_RTOL,
                         name)
    # the bool measurement's average: in the default float dtype from init on (optax's
    # starts as a bool and turns float at the first update)
    averages = [s for _, s in gtu.tree_get_all_with_path(ours[0], "EmaState")]
    assert [a.ema.dtype for a in averages] == [jnp.float64, jnp.float32]
    assert ours[-1][1][1].measurements["clipped_ema"].dtype == \
        theirs[-1][1][1].measurements["clipped_ema"].dtype


def test_snapshot_keeps_the_updates_it_sees_as_optax():
    def build(lib):
        return lib.chain(lib.sgd(0.1, momentum=0.9),
                         lib.snapshot("before_clip", lambda u: lib.tree_utils.tree_norm(u)),
                         lib.clip_by_global_norm(0.05))

    ours, theirs = (_run_eagerly(lib, build) for lib in (goptax, optax))
    assert_close(ours[0], theirs[0], 1e-6, "init")  # measure(params)
    for (our_updates, our_state), (updates, state) in zip(ours[1:], theirs[1:], strict=True):
        assert_close(our_updates, updates, UPDATE_RTOL, "updates")
        assert_close(our_state, state, STATE_RTOL, "state")
        assert gtu.tree_get(our_state, "before_clip") > 0.05  # the norm before clipping


class _HalveOnPlateau:
    """A stateful schedule (optax's protocol): the learning rate halves when the loss passed
    to the update does not improve on the best so far."""

    def init(self):
        return {"lr": jnp.asarray(0.1, jnp.float32), "best": jnp.asarray(1e9, jnp.float32)}

    def update(self, state, *, loss, **extra):
        worse = loss >= state["best"]
        return {"lr": jnp.where(worse, state["lr"] / 2, state["lr"]),
                "best": jnp.minimum(loss, state["best"])}

    def __call__(self, state, **extra):
        return state["lr"]


LOSSES = [3.0, 2.0, 2.5, 1.0, 1.5, 1.7]


@pytest.mark.parametrize("schedule", ["stateful", "wrapped"])
def test_inject_hyperparams_runs_stateful_schedules_as_optax(schedule):
    def build(lib):
        lr = _HalveOnPlateau() if schedule == "stateful" else \
            lib.WrappedSchedule(lambda c: 0.1 * 0.8 ** c)
        return lib.inject_hyperparams(lib.sgd)(learning_rate=lr, momentum=0.9)

    def extra(i):
        return {"loss": jnp.float32(LOSSES[i])}

    ours, theirs = (_run_eagerly(lib, build, len(LOSSES), extra) for lib in (goptax, optax))
    assert paths(ours[0]) == paths(theirs[0])
    assert_close(ours[0], theirs[0], 1e-6, "init")
    for (our_updates, our_state), (updates, state) in zip(ours[1:], theirs[1:], strict=True):
        assert_close(our_updates, updates, 1e-6, "updates")
        assert_close(our_state, state, 1e-6, "state")
    rates = [float(s.hyperparams["learning_rate"]) for _, s in ours[1:]]
    if schedule == "stateful":  # the value of the state before its update
        assert rates == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025])


def test_a_wrapped_schedule_follows_its_own_state_as_in_optax():
    # setting a schedule's count in hyperparams_states moves that schedule (in both)
    def run(lib):
        tx = lib.inject_hyperparams(lib.sgd)(learning_rate=lambda c: 0.1 / (1.0 + c))
        state = tx.init(PARAMS)
        _, state = tx.update(GRADS[0], state, PARAMS)
        state.hyperparams_states["learning_rate"] = state.hyperparams_states[
            "learning_rate"]._replace(count=jnp.asarray(9, jnp.int32))
        updates, state = tx.update(GRADS[1], state, PARAMS)
        return updates, state

    (ours, our_state), (theirs, state) = run(goptax), run(optax)
    assert_close(ours, theirs, 1e-6, "updates")
    assert_close(our_state, state, 1e-6, "state")
    assert float(our_state.hyperparams["learning_rate"]) == pytest.approx(0.01)


def test_wrapped_schedule_is_optax_s():
    ours, theirs = (lib.WrappedSchedule(lambda c: 2.0 * c) for lib in (goptax, optax))
    for s in (ours.init(), theirs.init()):
        assert type(s).__name__ == "WrappedScheduleState" and s._fields == ("count",)
    state = ours.update(ours.update(ours.init(), unused=1))
    assert int(state.count) == 2 and float(ours(state, unused=1)) == 4.0
    top = goptax.WrappedSchedule(lambda c: c).update(
        type(state)(count=jnp.asarray(2**31 - 1, jnp.int32)))
    assert int(top.count) == 2**31 - 1  # saturates, as optax's safe_increment
    with pytest.raises(TypeError, match=r"^WrappedSchedule: schedule_fn must be callable, got "
                                        r"float 0\.1$"):
        goptax.WrappedSchedule(0.1)


def test_inject_stateful_hyperparams_warns_and_is_inject_hyperparams():
    with pytest.warns(DeprecationWarning, match="inject_stateful_hyperparams is deprecated"):
        factory = goptax.inject_stateful_hyperparams(goptax.adam)
    tx = factory(learning_rate=0.1)
    state = tx.init(PARAMS)
    assert type(state).__name__ == "InjectStatefulHyperparamsState"
    assert paths(state) == paths(optax.inject_hyperparams(optax.adam)(0.1).init(PARAMS))


def test_dog_state_is_optax_s_and_bad_arguments_raise():
    from optax._src.transform import ScaleByDistanceOverGradientsState

    state = goptax.scale_by_distance_over_gradients().init(PARAMS)
    assert state._fields == ScaleByDistanceOverGradientsState._fields
    assert jax.tree.map(jnp.shape, state.grad_sum_of_squares) == {"w": (1,), "b": (1,)}
    with pytest.raises(ValueError, match=r"^scale_by_distance_over_gradients: eps must be in "
                                         r"\[0\.0, inf\), got -1\.0$"):
        goptax.scale_by_distance_over_gradients(eps=-1.0)
    with pytest.raises(ValueError, match=r"^scale_by_distance_over_gradients: reps_rel must be "
                                         r"in \(0\.0, inf\), got -1e-06$"):
        goptax.scale_by_distance_over_gradients(reps_rel=-1e-6)
    with pytest.raises(ValueError, match="^scale_by_distance_over_gradients: needs the params"):
        tx = goptax.scale_by_distance_over_gradients()
        tx.update(GRADS[0], tx.init(PARAMS))


MONITORING_ERRORS = [
    (lambda: goptax.snapshot(1, jnp.sum), TypeError,
     "snapshot: measure_name must be a str, got int 1"),
    (lambda: goptax.snapshot("n", "norm"), TypeError,
     "snapshot: measure must be a function of the updates, got str 'norm'"),
    (lambda: goptax.monitor([jnp.sum]), TypeError, "monitor: measures must be a dict from "
     "names (str) to functions or transforms, got [<function sum"),
    (lambda: goptax.monitor({"n": 3}), TypeError, "monitor: measures['n'] must be a function "
     "of the updates or a transform, got int 3"),
    (lambda: goptax.measure_with_ema(jnp.sum, decay=1.5), ValueError,
     "ema: decay must be in [0.0, 1.0), got 1.5"),
]


@pytest.mark.parametrize("make, error, message", MONITORING_ERRORS,
                         ids=[m.split(":")[0] + str(i) for i, (_, _, m) in
                              enumerate(MONITORING_ERRORS)])
def test_monitoring_bad_arguments_raise_at_construction(make, error, message):
    with pytest.raises(error, match="^" + re.escape(message)):
        make()


def test_transforms_module_has_optax_transforms_names():
    theirs = {n for n in dir(optax.transforms) if not n.startswith("_")}
    assert set(goptax.transforms.__all__) <= theirs
    for name in goptax.transforms.__all__:
        assert getattr(goptax.transforms, name) is getattr(goptax, name), name
    missing = sorted(theirs - set(goptax.transforms.__all__))
    assert missing == ["ConditionFn", "unitwise_clip", "unitwise_norm"]
    guide = (Path(__file__).resolve().parents[1] / "docs" / "migrating.md").read_text(
        encoding="utf-8")
    assert [n for n in missing if f"`optax.transforms.{n}`" not in guide] == []


def test_schedules_module_is_importable_with_optax_schedules_names():
    import importlib

    module = importlib.import_module("gradtx.compat.optax.schedules")
    assert module is goptax.schedules
    theirs = {n for n in dir(optax.schedules) if not n.startswith("_")}
    assert set(module.__all__) == theirs
    for name in set(module.__all__) - {"StatefulSchedule"}:  # not top-level in optax either
        assert getattr(module, name) is getattr(goptax, name), name
    assert isinstance(module.WrappedSchedule(lambda t: t), module.StatefulSchedule)


# ------------------------------------------------------------------------ microbatching

MB = goptax.microbatching
X = jnp.asarray(np.random.default_rng(7).normal(size=(12, 3)), jnp.float32)
Y = jnp.asarray(np.random.default_rng(8).normal(size=(2, 12)), jnp.float32)  # batch axis 1


def _fun(x, y, scale):
    return {"cat": x * scale + 1, "sum": jnp.sum(3 * x, axis=0), "mean": jnp.mean(y, axis=1),
            "running": jnp.sum(y) * scale}


def _accumulators(lib):
    kinds = lib.microbatching.AccumulationType
    return {"cat": kinds.CONCAT, "sum": kinds.SUM, "mean": kinds.MEAN,
            "running": kinds.RUNNING_MEAN}


def _largest(lib):
    """A user's Accumulator (it gets its whole part of the results): the elementwise
    maximum over the microbatches."""
    return lib.microbatching.Accumulator(
        init=lambda v: jax.tree.map(lambda s: jnp.full(s.shape, -jnp.inf, s.dtype), v),
        update=lambda c, v, i: jax.tree.map(jnp.maximum, c, v), finalize=lambda c: c,
        aggregate=lambda vs: jax.tree.map(lambda a: jnp.max(a, axis=0), vs))


MICROBATCH_CASES = {
    "every-kind": lambda lib: lib.microbatch(
        _fun, argnums=(0, 1), microbatch_size=3, accumulator=_accumulators(lib),
        in_axes=(0, 1))(X, Y, 2.0),
    "keyword-and-early-stop": lambda lib: lib.microbatch(
        lambda x, scale, y: _fun(x, y, scale), argnums=0, microbatch_size=4,
        accumulator=_accumulators(lib), argnames="y", in_axes=(0, 1),
        num_real_microbatches=2)(X, 0.5, y=Y),
    "traced-early-stop": lambda lib: jax.jit(lambda n: lib.microbatch(
        _fun, (0, 1), 2, _accumulators(lib), in_axes=(0, 1), num_real_microbatches=n)(
            X, Y, 1.0))(jnp.int32(4)),
    "user-accumulator-prefix": lambda lib: lib.microbatch(
        lambda x: (x, {"a": jnp.max(x, axis=0), "b": jnp.min(x, axis=0)}), 0, 6,
        (lib.microbatching.AccumulationType.CONCAT, _largest(lib)))(X),
    "micro_vmap": lambda lib: [
        lib.microbatching.micro_vmap(lambda a: a ** 2, microbatch_size=4)(X),
        lib.microbatching.micro_vmap(lambda a, s, w: a * s + w, in_axes=(0, None),
                                     microbatch_size=3,
                                     accumulator=lib.microbatching.AccumulationType.MEAN)(
            X, 2.0, w=X[:, 0]),
        lib.microbatching.micro_vmap(lambda a: jnp.sum(a), microbatch_size=None,
                                     accumulator=lib.microbatching.AccumulationType.SUM)(X)],
    "micro_grad": lambda lib: [lib.microbatching.micro_grad(
        lambda w, x, t: (0.5 * jnp.mean((x @ w - t) ** 2), jnp.sum(x)), has_aux=True,
        batch_argnums=(1, 2), microbatch_size=size, keep_batch_dim=keep,
        accumulator=lib.microbatching.AccumulationType.MEAN,
        transform_fn=lambda g: (g, g ** 2), metrics_fn=jnp.linalg.norm)(
            PARAMS["w"][:, 0], X, X[:, 1] * 2.0)
        for size, keep in ((3, True), (None, True), (4, False))],
    "reshape_batch_axis": lambda lib: [lib.microbatching.reshape_batch_axis(t, 3, axis)
                                       for t, axis in ((X, 0), (Y, 1), ({"x": X}, 0))],
}


@pytest.fixture(scope="module")
def microbatched():
    return both_libraries(MICROBATCH_CASES)


@pytest.mark.parametrize("name", sorted(MICROBATCH_CASES))
def test_microbatching_returns_what_optax_returns(name, microbatched):
    assert_results_like_optax(microbatched, name, atol=1e-6)


def test_microbatching_names_and_signatures_are_optax_s():
    import optax.microbatching as omb

    assert sorted(MB.__all__) == sorted(n for n in vars(omb) if not n.startswith("_"))
    assert [m.name for m in MB.AccumulationType] == [m.name for m in omb.AccumulationType]
    assert [m.value for m in MB.AccumulationType] == [m.value for m in omb.AccumulationType]
    assert [f.name for f in dataclasses.fields(MB.Accumulator)] == \
        [f.name for f in dataclasses.fields(omb.Accumulator)]
    # defaults that are objects: enum members of the same name, and lambdas
    for name in ("microbatch", "micro_vmap", "micro_grad", "reshape_batch_axis"):
        ours = inspect.signature(getattr(MB, name)).parameters
        theirs = inspect.signature(getattr(omb, name)).parameters
        assert [(p.name, p.kind) for p in ours.values()] == \
            [(p.name, p.kind) for p in theirs.values()], name
        for p in ours.values():
            q = theirs[p.name].default
            if isinstance(q, enum.Enum):
                assert p.default.name == q.name, (name, p.name)
            elif getattr(q, "__name__", "") == "<lambda>":  # the same function
                x = jnp.arange(3.0)
                assert jax.tree.map(np.asarray, p.default(x)) is None or \
                    np.array_equal(p.default(x), q(x)), (name, p.name)
                assert (p.default(x) is None) == (q(x) is None), (name, p.name)
            else:
                assert same_default(p.default, q), (name, p.name)
    assert goptax.microbatch is MB.microbatch
    # optax's own AccumulationType members are read by name
    out = MB.microbatch(lambda x: x, 0, 2, omb.AccumulationType.CONCAT)(X)
    np.testing.assert_array_equal(out, X)


MICROBATCH_ERRORS = [
    (lambda: MB.microbatch(jnp.sum, 0, 0), ValueError,
     "microbatch: microbatch_size must be a positive int or None, got 0"),
    (lambda: MB.microbatch(jnp.sum, 0, -2), ValueError,
     "microbatch: microbatch_size must be a positive int or None, got -2"),
    (lambda: MB.microbatch(jnp.sum, 0, 2.0), TypeError,
     "microbatch: microbatch_size must be a positive int or None, got float 2.0"),
    (lambda: MB.microbatch(jnp.sum, 0, True), TypeError,
     "microbatch: microbatch_size must be a positive int or None, got bool True"),
    (lambda: MB.micro_vmap(jnp.sum, microbatch_size=0), ValueError,
     "micro_vmap: microbatch_size must be a positive int or None, got 0"),
    (lambda: MB.micro_grad(jnp.sum, microbatch_size=-1), ValueError,
     "micro_grad: microbatch_size must be a positive int or None, got -1"),
    (lambda: MB.micro_vmap(jnp.sum, out_axes=1), NotImplementedError,
     "micro_vmap: out_axes must be 0, got 1"),
    (lambda: MB.microbatch(jnp.sum, (), 2), ValueError,
     "microbatch: argnums and argnames name no argument with a batch axis"),
    (lambda: MB.microbatch(jnp.sum, (0, 1), 2, in_axes=(0,)), ValueError,
     "microbatch: in_axes must be one int or one per batched argument (2: argnums then "
     "argnames), got (0,)"),
    (lambda: MB.microbatch(jnp.sum, 0, 2, num_real_microbatches=-1), ValueError,
     "microbatch: num_real_microbatches must be at least 0, got -1"),
    (lambda: MB.microbatch(jnp.sum, 0, 5)(X), ValueError,
     "microbatch: the batch size 12 is not divisible by microbatch_size=5"),
    (lambda: MB.microbatch(lambda a, b: a, (0, 1), 2)(X, Y), ValueError,
     "microbatch: the batched arguments must have batch axes of one size, got sizes [12, 2]"),
    (lambda: MB.microbatch(lambda x: jnp.arange(2), 0, 3, MB.AccumulationType.MEAN)(X),
     ValueError, "microbatch: AccumulationType.MEAN and RUNNING_MEAN need floating (or "
     "complex) results, got int"),
    (lambda: MB.microbatch(jnp.sum, 0, 3, "sum")(X), ValueError,
     "microbatch: accumulator must be an AccumulationType, an Accumulator or a tree of them, "
     "got 'sum'"),
    (lambda: MB.reshape_batch_axis(X, 5), ValueError,
     "reshape_batch_axis: the batch axis 0 has size 12, which microbatch_size=5 does not "
     "divide"),
]


@pytest.mark.parametrize("make, error, message", MICROBATCH_ERRORS,
                         ids=[f"{m.split(':')[0]}-{i}" for i, (_, _, m) in
                              enumerate(MICROBATCH_ERRORS)])
def test_microbatching_bad_arguments_raise_naming_them(make, error, message):
    with pytest.raises(error, match="^" + re.escape(message)):
        make()


def test_microbatching_keeps_an_explicitly_sharded_batch_sharded():
    # optax 0.2.8 compares jax versions as strings, so with jax 0.10 it reshapes without
    # out_sharding and raises here; the reshape of gradtx.compat.optax needs none
    mesh = jax.make_mesh((4,), ("data",), axis_types=(jax.sharding.AxisType.Explicit,),
                         devices=jax.devices()[:4])
    with jax.set_mesh(mesh):
        x = jax.device_put(X[:8], jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(
            "data")))
        split = jax.jit(lambda x: MB.reshape_batch_axis(x, 4))(x)
        spec = jax.sharding.PartitionSpec
        assert jax.typeof(split).sharding.spec == spec(None, "data", None)
        doubled = jax.jit(MB.micro_vmap(lambda a: 2 * a, microbatch_size=4))(x)
        assert jax.typeof(doubled).sharding.spec == spec("data", None)
        total = jax.jit(MB.microbatch(lambda a: jnp.sum(a, axis=0), 0, 4))(x)
    np.testing.assert_array_equal(doubled, 2 * X[:8])
    np.testing.assert_allclose(total, jnp.sum(X[:8], axis=0), rtol=1e-6)
