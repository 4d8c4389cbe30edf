"""Numbers, dtypes and limits (SPEC §7): complex leaves, the saturated step counter,
low precision, zero gradients, non-float leaves, abstract and scalar leaves,
donation, hyperparameter checks, and transforms written against optax's signature.

References are NumPy transcriptions (``reference_numpy``), closed forms written
here, the real-pair view of a complex leaf, and optax.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference_numpy as ref
from hypothesis import given, settings
from hypothesis import strategies as st

import gradtx as gt

INT32_MAX = 2**31 - 1
PARAMS = {"w": jnp.linspace(-1.0, 1.0, 12, dtype=jnp.float32).reshape(4, 3),
          "b": jnp.array([0.5, -0.25, 0.125], jnp.float32)}
MATRIX_PARAMS = {"w": PARAMS["w"], "v": jnp.ones((3, 5), jnp.float32)}


def _grads(params, scale=1.0):
    return jax.tree.map(lambda p: scale * (jnp.cos(3 * p) + 0.1), params)


# Every public transform, built with valid arguments; (factory, params, extra update kwargs).
def _public_transforms():
    mask = {"w": True, "b": False}
    labels = {"w": "a", "b": "s"}
    return {
        "sgd": (lambda: gt.sgd(0.1), PARAMS, {}),
        "sgd_nesterov_l2": (lambda: gt.sgd(0.1, 0.9, True, 1e-2), PARAMS, {}),
        "adagrad": (lambda: gt.adagrad(0.1), PARAMS, {}),
        "rmsprop_centered": (lambda: gt.rmsprop(0.01, centered=True, momentum=0.9), PARAMS, {}),
        "adadelta": (lambda: gt.adadelta(), PARAMS, {}),
        "adam": (lambda: gt.adam(0.1), PARAMS, {}),
        "adamw": (lambda: gt.adamw(0.1), PARAMS, {}),
        "nadam": (lambda: gt.nadam(0.1), PARAMS, {}),
        "adamax": (lambda: gt.adamax(0.1), PARAMS, {}),
        "amsgrad": (lambda: gt.amsgrad(0.1), PARAMS, {}),
        "unified": (lambda: gt.unified(0.1, preconditioner="adam", momentum="nesterov"),
                    PARAMS, {}),
        "lion": (lambda: gt.lion(0.01), PARAMS, {}),
        "lamb": (lambda: gt.lamb(0.01, weight_decay=0.01), PARAMS, {}),
        "lars": (lambda: gt.lars(0.1, weight_decay=0.01), PARAMS, {}),
        "adafactor": (lambda: gt.adafactor(0.01, min_dim_size_to_factor=2, momentum=0.9),
                      PARAMS, {}),
        "muon": (lambda: gt.muon(0.01), PARAMS, {}),
        "scale_by_muon": (lambda: gt.scale_by_muon(), MATRIX_PARAMS, {}),
        "scale": (lambda: gt.scale(0.5), PARAMS, {}),
        "scale_by_schedule": (lambda: gt.scale_by_schedule(gt.schedules.cosine(1.0, 10)),
                              PARAMS, {}),
        "reduce_on_plateau": (lambda: gt.reduce_on_plateau(), PARAMS, {"value": 1.0}),
        "scale_by_rss": (lambda: gt.scale_by_rss(), PARAMS, {}),
        "scale_by_rms": (lambda: gt.scale_by_rms(), PARAMS, {}),
        "scale_by_adam": (lambda: gt.scale_by_adam(), PARAMS, {}),
        "scale_by_adadelta": (lambda: gt.scale_by_adadelta(), PARAMS, {}),
        "scale_by_adamax": (lambda: gt.scale_by_adamax(), PARAMS, {}),
        "scale_by_amsgrad": (lambda: gt.scale_by_amsgrad(), PARAMS, {}),
        "trace": (lambda: gt.trace(0.9), PARAMS, {}),
        "ema": (lambda: gt.ema(0.9), PARAMS, {}),
        "add_decayed_weights": (lambda: gt.add_decayed_weights(0.1, mask), PARAMS, {}),
        "clip": (lambda: gt.clip(0.5), PARAMS, {}),
        "clip_by_global_norm": (lambda: gt.clip_by_global_norm(1.0), PARAMS, {}),
        "scale_by_lion": (lambda: gt.scale_by_lion(), PARAMS, {}),
        "scale_by_trust_ratio": (lambda: gt.scale_by_trust_ratio(), PARAMS, {}),
        "scale_by_factored_rms": (lambda: gt.scale_by_factored_rms(min_dim_size_to_factor=2),
                                  PARAMS, {}),
        "clip_by_block_rms": (lambda: gt.clip_by_block_rms(), PARAMS, {}),
        "scale_by_param_block_rms": (lambda: gt.scale_by_param_block_rms(), PARAMS, {}),
        "identity": (lambda: gt.identity(), PARAMS, {}),
        "stateless": (lambda: gt.stateless(lambda u, p: jax.tree.map(jnp.negative, u)),
                      PARAMS, {}),
        "named_chain": (lambda: gt.named_chain(clip=gt.clip_by_global_norm(1.0),
                                               opt=gt.adamw(0.1)), PARAMS, {}),
        "masked": (lambda: gt.masked(gt.amsgrad(0.1), mask), PARAMS, {}),
        "partition": (lambda: gt.partition({"a": gt.adam(0.1), "s": gt.sgd(0.1)}, labels),
                      PARAMS, {}),
        "freeze": (lambda: gt.freeze(mask), PARAMS, {}),
        "accumulate_gradients": (lambda: gt.accumulate_gradients(gt.amsgrad(0.1), 2),
                                 PARAMS, {}),
        "apply_if_finite": (lambda: gt.apply_if_finite(gt.adam(0.1), 2), PARAMS, {}),
        "param_ema": (lambda: gt.chain(gt.sgd(0.1), gt.param_ema(0.9)), PARAMS, {}),
        "polyak_average": (lambda: gt.chain(gt.sgd(0.1), gt.polyak_average()), PARAMS, {}),
        "lookahead": (lambda: gt.lookahead(gt.adam(0.1), 2), PARAMS, {}),
    }


PUBLIC = _public_transforms()


# --- 3. donation -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_fresh_state_can_be_donated(name):
    make, params, extra = PUBLIC[name]
    tx = make()
    state = tx.init(params)
    ids = [id(x) for x in jax.tree.leaves(state)]
    assert len(ids) == len(set(ids)), "two state leaves are the same array"
    assert not set(ids) & {id(p) for p in jax.tree.leaves(params)}
    step = jax.jit(lambda g, s, p: tx.update(g, s, p, **extra), donate_argnums=(1,))
    updates, new_state = step(_grads(params), state, params)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates))


# --- 12. init on abstract params; 14. None trees -----------------------------------------


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_init_accepts_shape_dtype_structs(name):
    make, params, _ = PUBLIC[name]
    tx = make()
    abstract = jax.tree.map(lambda p: jax.ShapeDtypeStruct(p.shape, p.dtype), params)
    state = tx.init(abstract)
    concrete = tx.init(params)
    assert jax.tree.structure(state) == jax.tree.structure(concrete)
    for a, c in zip(jax.tree.leaves(state), jax.tree.leaves(concrete), strict=True):
        assert isinstance(a, jax.Array)
        assert (a.shape, a.dtype) == (c.shape, c.dtype)
    shapes = jax.eval_shape(tx.init, abstract)
    assert [(s.shape, s.dtype) for s in jax.tree.leaves(shapes)] == [
        (c.shape, c.dtype) for c in jax.tree.leaves(concrete)]


def test_init_on_abstract_params_keeps_their_sharding():
    mesh = jax.make_mesh((4, 2), ("x", "y"))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x"))
    abstract = {"a": jax.ShapeDtypeStruct((8, 4), jnp.float32, sharding=sharding)}
    state = gt.adam(1.0).init(abstract)
    assert state["adam"].mu["a"].sharding == sharding
    assert state["adam"].nu["a"].sharding == sharding
    assert gt.adam(1.0).init(jax.ShapeDtypeStruct((2, 4, 8), jnp.float32))["adam"].mu.shape == (
        2, 4, 8)


# (the mask-taking transforms name leaves, which an empty model does not have)
@pytest.mark.parametrize("name", sorted(set(PUBLIC) - {"masked", "partition", "freeze",
                                                        "add_decayed_weights"}))
def test_empty_model_gives_none_updates(name):
    make, _, extra = PUBLIC[name]
    tx = make()
    state = tx.init(None)
    updates, _ = tx.update(None, state, None, **extra)
    assert updates is None


def test_apply_updates_and_weight_decay_on_none():
    assert gt.apply_updates(None, None) is None
    tx = gt.add_decayed_weights(0.1)
    assert tx.update(None, tx.init(None), None)[0] is None


# --- 16. Python scalar leaves ------------------------------------------------------------


def test_python_scalar_leaves_are_read_as_arrays():
    tx = gt.adam(1e-3)
    updates, _ = tx.update({"a": 1.0}, tx.init({"a": 1.0}), {"a": 1.0})
    expected, _ = tx.update({"a": jnp.float32(1.0)}, tx.init({"a": jnp.float32(1.0)}))
    np.testing.assert_allclose(updates["a"], expected["a"], rtol=1e-6)
    np.testing.assert_allclose(updates["a"], -1e-3, rtol=1e-6)


# --- 1. complex leaves -------------------------------------------------------------------


class ComplexProblem:
    """∇ of f(θ) = ½ θᴴAθ − Re(bᴴθ) + ¼ γ Σ|θ|⁴ in the convention g = Aθ − b + γ|θ|²θ."""

    def __init__(self, seed=1):
        real = ref.make_problem(seed)
        rng = np.random.default_rng(seed)
        self.A = real.A
        self.b = real.b + 1j * rng.normal(size=7)
        self.theta0 = real.theta0 + 1j * rng.normal(size=7)

    def grad(self, theta):
        return self.A @ theta - self.b + 0.5 * np.abs(theta) ** 2 * theta


CP = ComplexProblem()


@jax.jit
def _complex_grad_tree(params):
    theta = jnp.concatenate([params["bias"], params["kernel"].ravel()])
    g = (jnp.asarray(CP.A) @ theta - jnp.asarray(CP.b)
         + 0.5 * jnp.abs(theta) ** 2 * theta)
    return {"bias": g[:3], "kernel": g[3:].reshape(2, 2)}


def _complex_trajectory(tx, steps=ref.STEPS):
    params = {k: jnp.asarray(v, jnp.complex128) for k, v in ref.to_params(CP.theta0).items()}
    state = tx.init(params)
    out = [ref.from_params(params)]
    for _ in range(steps):
        updates, state = tx.update(_complex_grad_tree(params), state, params)
        params = gt.apply_updates(params, updates)
        out.append(ref.from_params(params))
    return np.array(out)


cg, CT0 = CP.grad, CP.theta0
COMPLEX_CASES = [
    pytest.param(lambda: gt.sgd(0.05, momentum=0.9),
                 lambda: ref.momentum_torch(cg, CT0, 0.05, 0.9), id="sgd-momentum"),
    pytest.param(lambda: gt.adagrad(0.5), lambda: ref.adagrad(cg, CT0, 0.5, 1e-10), id="adagrad"),
    pytest.param(lambda: gt.rmsprop(0.01), lambda: ref.rmsprop(cg, CT0, 0.01, 0.99, 1e-8),
                 id="rmsprop"),
    pytest.param(lambda: gt.rmsprop(0.01, decay=0.9, centered=True, momentum=0.5),
                 lambda: ref.rmsprop(cg, CT0, 0.01, 0.9, 1e-8, centered=True, momentum=0.5),
                 id="rmsprop-centered-momentum"),
    pytest.param(lambda: gt.adadelta(), lambda: ref.adadelta(cg, CT0, 0.9, 1e-6),
                 id="adadelta"),
    pytest.param(lambda: gt.adam(0.05), lambda: ref.adam(cg, CT0, 0.05, 0.9, 0.999, 1e-8),
                 id="adam"),
    pytest.param(lambda: gt.adamw(0.05, weight_decay=0.1),
                 lambda: ref.adam(cg, CT0, 0.05, 0.9, 0.999, 1e-8, weight_decay=0.1,
                                  decoupled=True), id="adamw"),
    pytest.param(lambda: gt.nadam(0.05), lambda: ref.nadam(cg, CT0, 0.05, 0.9, 0.999, 1e-8),
                 id="nadam"),
    pytest.param(lambda: gt.adamax(0.05),
                 lambda: ref.adamax(cg, CT0, 0.05, 0.9, 0.999, eps_in_max=1e-8), id="adamax"),
    pytest.param(lambda: gt.amsgrad(0.05),
                 lambda: ref.amsgrad(cg, CT0, 0.05, 0.9, 0.999, 1e-8), id="amsgrad"),
]


@pytest.mark.parametrize(("make_tx", "make_ref"), COMPLEX_CASES)
def test_complex_trajectory_equals_numpy_with_squared_modulus(make_tx, make_ref):
    actual = _complex_trajectory(make_tx())
    assert actual.dtype == np.complex128
    np.testing.assert_allclose(actual, make_ref(), rtol=1e-11, atol=1e-13)


def test_complex_adam_equals_optax():
    params = {k: jnp.asarray(v, jnp.complex64) for k, v in ref.to_params(CP.theta0).items()}
    tx, otx = gt.adam(0.05), optax.adam(0.05)
    s, os_ = tx.init(params), otx.init(params)
    p, op = params, params
    for _ in range(20):
        u, s = tx.update(_complex_grad_tree(p), s, p)
        ou, os_ = otx.update(_complex_grad_tree(op), os_, op)
        p, op = gt.apply_updates(p, u), optax.apply_updates(op, ou)
    for k in p:
        assert p[k].dtype == jnp.complex64
        np.testing.assert_allclose(p[k], op[k], rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "adagrad", "amsgrad", "adamax", "nadam"])
def test_imaginary_gradient_moves_along_the_imaginary_axis(name):
    tx = getattr(gt, name)(0.1)
    params = {"a": jnp.zeros(2, jnp.complex64)}
    updates, _ = tx.update({"a": jnp.full(2, 1j, jnp.complex64)}, tx.init(params), params)
    real, _ = getattr(gt, name)(0.1).update({"a": jnp.ones(2)}, getattr(gt, name)(0.1).init(
        {"a": jnp.zeros(2)}), {"a": jnp.zeros(2)})
    np.testing.assert_allclose(updates["a"], 1j * real["a"], rtol=1e-6)
    assert np.all(np.real(updates["a"]) == 0)


# Transforms whose math has no square: a complex leaf must move exactly as its real pair.
REAL_PAIR = {
    "sgd-nesterov-l2": lambda: gt.sgd(0.1, 0.9, True, 0.1),
    "lion": lambda: gt.lion(0.01, weight_decay=0.1),
    "lars": lambda: gt.lars(0.1, weight_decay=0.01, trust_coefficient=0.01),
    "clip+sgd": lambda: gt.chain(gt.clip(0.3), gt.sgd(0.1)),
    "global-norm-clip+sgd": lambda: gt.chain(gt.clip_by_global_norm(0.5), gt.sgd(0.1)),
    "block-rms+param-scale": lambda: gt.chain(gt.clip_by_block_rms(0.2),
                                              gt.scale_by_param_block_rms(), gt.sgd(0.1)),
    "trust-ratio": lambda: gt.chain(gt.scale_by_trust_ratio(0.5, weight_decay=0.1),
                                    gt.sgd(0.1)),
}


def _run_steps(tx, params, grads_seq):
    state = tx.init(params)
    for g in grads_seq:
        u, state = tx.update(g, state, params)
        params = gt.apply_updates(params, u)
    return params


_REAL_PAIR_RUNS = {}


def _real_pair_runner(name):
    if name not in _REAL_PAIR_RUNS:
        tx = REAL_PAIR[name]()
        _REAL_PAIR_RUNS[name] = jax.jit(lambda p, gs: _run_steps(tx, p, gs))
    return _REAL_PAIR_RUNS[name]


@pytest.mark.parametrize("name", sorted(REAL_PAIR))
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_complex_leaf_moves_as_its_real_pair(name, seed):
    rng = np.random.default_rng(seed)
    shape = (3, 4)
    theta = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
    grads = (rng.normal(size=(3, *shape)) + 1j * rng.normal(size=(3, *shape))).astype(
        np.complex64)
    run = _real_pair_runner(name)
    complex_out = run({"a": jnp.asarray(theta)}, [{"a": jnp.asarray(g)} for g in grads])["a"]
    pair = lambda z: np.stack([z.real, z.imag], axis=-1)  # noqa: E731 (torch's view_as_real)
    real_out = run({"a": jnp.asarray(pair(theta))}, [{"a": jnp.asarray(pair(g))} for g in grads])
    np.testing.assert_allclose(pair(np.asarray(complex_out)), real_out["a"], rtol=2e-5,
                               atol=2e-6)


def test_global_norm_of_complex_leaves_is_the_norm_of_their_real_pairs():
    z = jnp.array([3 + 4j, 1j], jnp.complex64)
    x = jnp.array([2.0], jnp.float32)
    assert gt.tree_global_norm({"z": z, "x": x}).dtype == jnp.float32
    np.testing.assert_allclose(gt.tree_global_norm({"z": z, "x": x}),
                               np.sqrt(25 + 1 + 4), rtol=1e-6)


# --- 4. the step counter at its limit ----------------------------------------------------


AT_LIMIT = {
    "adam": lambda: gt.adam(0.1),
    "adamw": lambda: gt.adamw(0.1, weight_decay=0.1),
    "adamax": lambda: gt.adamax(0.1),
    "amsgrad": lambda: gt.amsgrad(0.1),
    "nadam": lambda: gt.nadam(0.1),
    "nadam-constant-mu": lambda: gt.nadam(0.1, momentum_decay=None),
    "ema-debias": lambda: gt.chain(gt.ema(0.9), gt.scale_by_learning_rate(0.1)),
    "adafactor": lambda: gt.adafactor(0.1, min_dim_size_to_factor=2),
    "muon-debias": lambda: gt.muon(0.1, debias=True),
    "param_ema": lambda: gt.chain(gt.sgd(0.1), gt.param_ema(0.9)),
    "lookahead": lambda: gt.lookahead(gt.sgd(0.1), 3),
}


@pytest.mark.parametrize("name", sorted(AT_LIMIT))
def test_update_at_the_saturated_counter_is_the_large_step_limit(name):
    tx = AT_LIMIT[name]()
    state = tx.init(PARAMS)
    g = _grads(PARAMS)

    def first_update(count):
        return jax.jit(tx.update)(g, state._replace(count=jnp.int32(count)), PARAMS)

    at_limit, new_state = first_update(INT32_MAX)
    far, _ = first_update(2**30 - 1 if name == "lookahead" else 2**30)
    assert int(new_state.count) == INT32_MAX
    for a, b in zip(jax.tree.leaves(at_limit), jax.tree.leaves(far), strict=True):
        assert bool(jnp.all(jnp.isfinite(a)))
        assert bool(jnp.any(a != 0))
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_adam_at_the_saturated_counter_equals_its_closed_form():
    tx = gt.adam(0.1)
    g = _grads(PARAMS)
    state = tx.init(PARAMS)._replace(count=jnp.int32(INT32_MAX))
    updates, _ = jax.jit(tx.update)(g, state, PARAMS)
    for k in PARAMS:
        gk = np.asarray(g[k], np.float64)
        # t = 2³¹: 1 − β^t = 1, s = (1 − β1) g, r = (1 − β2) g²
        expected = -0.1 * (0.1 * gk) / (np.sqrt(0.001 * gk**2) + 1e-8)
        np.testing.assert_allclose(updates[k], expected, rtol=1e-5)


# --- 5. decays that round to 1; 8. non-finite numbers --------------------------------------


def test_decay_that_rounds_to_one_in_float32_is_rejected_with_the_reason():
    with pytest.raises(ValueError, match=r"scale_by_adam: b2 must be in \[0.0, 1.0\), got "
                                         r"0.99999999, which rounds to 1.0 in float32"):
        gt.adam(b2=1 - 1e-8)
    with pytest.raises(ValueError, match="sgd: momentum must be in .* rounds to 1.0 in float32"):
        gt.sgd(0.1, momentum=1 - 1e-9)
    tx = gt.adam(0.1, b2=1 - 1e-7)  # 0.99999988 in float32: still below 1
    updates, _ = tx.update(_grads(PARAMS), tx.init(PARAMS), PARAMS)
    assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates))


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -float("inf"), 1e39])
@pytest.mark.parametrize("make", [gt.sgd, gt.adam, gt.scale_by_learning_rate, gt.lion],
                         ids=["sgd", "adam", "scale_by_learning_rate", "lion"])
def test_non_finite_learning_rate_is_rejected(make, value):
    with pytest.raises(ValueError, match="learning_rate must be"):
        make(value)


def test_overflowing_hyperparameter_names_float32():
    with pytest.raises(ValueError, match=r"sgd: learning_rate must be in \[0.0, inf\) and at "
                                         r"most 3.403e\+38 in magnitude"):
        gt.sgd(1e39)
    with pytest.raises(ValueError, match=r"adam: learning_rate must be a finite number in "
                                         r"\[0.0, inf\), got inf"):
        gt.adam(float("inf"))


# --- 6. float16 params -------------------------------------------------------------------


@pytest.mark.parametrize("magnitude", [1e-3, 1e4])
def test_float16_adam_matches_float32_adam(magnitude):
    p16 = {"a": jnp.zeros(4, jnp.float16)}
    tx = gt.adam(1e-2)
    state = tx.init(p16)
    assert state["adam"].nu["a"].dtype == jnp.float32
    assert state["adam"].mu["a"].dtype == jnp.float16
    g = jnp.full(4, magnitude, jnp.float16)
    total = jnp.zeros(4, jnp.float32)
    for _ in range(10):
        u, state = tx.update({"a": g}, state, p16)
        assert u["a"].dtype == jnp.float16
        total = total + u["a"].astype(jnp.float32)
    # a constant gradient: every Adam step is −α (bias corrections cancel exactly)
    np.testing.assert_allclose(total, -0.1, rtol=2e-3)


def test_bfloat16_and_explicit_moment_dtypes_are_kept():
    pb = {"a": jnp.zeros(4, jnp.bfloat16)}
    assert gt.adam(0.1).init(pb)["adam"].nu["a"].dtype == jnp.bfloat16
    p16 = {"a": jnp.zeros(4, jnp.float16)}
    state = gt.scale_by_adam(nu_dtype=jnp.float16).init(p16)
    assert state.nu["a"].dtype == jnp.float16
    assert gt.rmsprop(0.1).init(p16)["rmsprop"].nu["a"].dtype == jnp.float32
    assert gt.adagrad(0.1).init(p16)["adagrad"].sum_of_squares["a"].dtype == jnp.float32


# --- 7. zero gradients -------------------------------------------------------------------


ZERO_EPS = {
    "sgd-momentum": lambda: gt.sgd(0.1, momentum=0.9, nesterov=True),
    "adagrad": lambda: gt.adagrad(0.1, eps=0.0),
    "rmsprop": lambda: gt.rmsprop(0.1, eps=0.0),
    "rmsprop-centered": lambda: gt.rmsprop(0.1, eps=0.0, centered=True),
    "adadelta": lambda: gt.adadelta(eps=0.0),
    "adam": lambda: gt.adam(0.1, eps=0.0),
    "adamw": lambda: gt.adamw(0.1, eps=0.0, weight_decay=0.0),
    "nadam": lambda: gt.nadam(0.1, eps=0.0),
    "adamax": lambda: gt.adamax(0.1, eps=0.0),
    "amsgrad": lambda: gt.amsgrad(0.1, eps=0.0),
    "lion": lambda: gt.lion(0.1, weight_decay=0.0),
    "lamb": lambda: gt.lamb(0.1, eps=0.0),
    "lars": lambda: gt.lars(0.1),
    "adafactor": lambda: gt.adafactor(0.1, min_dim_size_to_factor=2, eps=0.0),
    "adafactor-unfactored": lambda: gt.adafactor(0.1, factored=False, eps=0.0),
    "muon": lambda: gt.muon(0.1, eps=0.0, adam_eps=0.0),
    "unified": lambda: gt.unified(0.1, preconditioner="adam", eps=0.0),
    "scale_by_adam-eps_root": lambda: gt.scale_by_adam(eps=0.0, eps_root=0.0),
}
_ZERO_RUNS = {}


@pytest.mark.parametrize("name", sorted(ZERO_EPS))
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_zero_gradient_gives_zero_update(name, seed):
    if name not in _ZERO_RUNS:
        tx = ZERO_EPS[name]()

        def three_steps(params):
            state = tx.init(params)
            outs = []
            for _ in range(3):
                u, state = tx.update(jax.tree.map(jnp.zeros_like, params), state, params)
                outs.append(u)
            return outs

        _ZERO_RUNS[name] = jax.jit(three_steps)
    rng = np.random.default_rng(seed)
    params = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), PARAMS)
    for u in jax.tree.leaves(_ZERO_RUNS[name](params)):
        np.testing.assert_array_equal(u, 0)


# --- 9. non-float leaves -----------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: gt.sgd(0.5), lambda: gt.adam(0.5),
                                  lambda: gt.chain(gt.clip_by_global_norm(1.0), gt.adamw(0.5)),
                                  lambda: gt.lamb(0.1), lambda: gt.adafactor(0.1)],
                         ids=["sgd", "adam", "clip+adamw", "lamb", "adafactor"])
def test_integer_leaves_are_not_trained_and_their_gradients_ignored(make):
    params = {"w": jnp.array([1.0, -2.0]), "n": jnp.array(10, jnp.int32),
              "flag": jnp.array([True, False])}

    def loss(p):
        return jnp.sum(p["w"] ** 2) * p["n"].astype(jnp.float32)

    grads = jax.grad(loss, allow_int=True)(params)
    assert grads["n"].dtype == jax.dtypes.float0
    tx = make()
    updates, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    new = gt.apply_updates(params, updates)
    assert new["n"].dtype == jnp.int32 and int(new["n"]) == 10
    np.testing.assert_array_equal(new["flag"], [True, False])
    # the float leaf moves as it would without the others
    w_only = {"w": params["w"]}
    tx_w = make()
    u_w, _ = tx_w.update({"w": grads["w"]}, tx_w.init(w_only), w_only)
    np.testing.assert_allclose(new["w"], params["w"] + u_w["w"], rtol=1e-6)


def test_integer_gradient_is_not_truncated_into_an_integer_param():
    params = {"n": jnp.array(10, jnp.int32)}
    tx = gt.sgd(0.5)
    updates, _ = tx.update({"n": jnp.array(3, jnp.int32)}, tx.init(params), params)
    assert int(gt.apply_updates(params, updates)["n"]) == 10


# --- 10. set_hyperparams validates -------------------------------------------------------


@pytest.mark.parametrize(("values", "error", "message"), [
    (dict(learning_rate="0.1"), TypeError,
     r"scale_by_learning_rate \(via set_hyperparams\): learning_rate must be a number, got str"),
    (dict(b1=1.5), ValueError,
     r"scale_by_adam \(via set_hyperparams\): b1 must be in \[0.0, 1.0\), got 1.5"),
    (dict(learning_rate=-1), ValueError,
     r"learning_rate must be in \[0.0, inf\), got -1"),
    (dict(learning_rate=float("inf")), ValueError, r"learning_rate must be a finite number"),
    (dict(b2=1 - 1e-9), ValueError, r"b2 must be in \[0.0, 1.0\), .* rounds to 1.0 in float32"),
    (dict(learning_rate=np.ones(3)), TypeError, r"learning_rate must be a number, got ndarray"),
    (dict(learning_rate=None), TypeError, r"learning_rate must be a number, got NoneType"),
    (dict(learning_rate=lambda t: 0.1), TypeError,
     r"learning_rate must be a number; a schedule is fixed when the optimizer is built"),
    (dict(eps=-1e-8), ValueError, r"scale_by_adam \(via set_hyperparams\): eps must be in "),
])
def test_set_hyperparams_applies_the_constructors_checks(values, error, message):
    state = gt.adam(0.1).init(PARAMS)
    with pytest.raises(error, match=message):
        gt.set_hyperparams(state, **values)


def test_set_hyperparams_accepts_valid_numbers_and_traced_scalars():
    tx = gt.adam(0.1)
    state = gt.set_hyperparams(tx.init(PARAMS), learning_rate=np.float32(0.05), b1=0.5)
    assert gt.get_hyperparams(state)["learning_rate"] == np.float32(0.05)
    traced = jax.jit(lambda s, lr: gt.set_hyperparams(s, learning_rate=lr))(state, 0.25)
    assert gt.get_hyperparams(traced)["learning_rate"] == np.float32(0.25)
    muon_state = gt.scale_by_muon().init(MATRIX_PARAMS)
    with pytest.raises(ValueError, match=r"ns_coeffs must be in \(-inf, inf\), got nan"):
        gt.set_hyperparams(muon_state, ns_coeffs=(1.0, float("nan"), 2.0))
    ok = gt.set_hyperparams(muon_state, ns_coeffs=(2.0, -1.5, 0.5))
    np.testing.assert_allclose(gt.get_hyperparams(ok)["ns_coeffs"], [2.0, -1.5, 0.5])


# --- 11. transforms written against optax's signature --------------------------------------


def _double(u):
    return jax.tree.map(lambda x: 2 * x, u)


USER_UPDATES = {
    "params=None": lambda u, s, params=None: (_double(u), s),
    "no params": lambda u, s: (_double(u), s),
    "**extra": lambda u, s, params=None, **extra: (_double(u), s),
    "named value": lambda u, s, params=None, *, value=None: (_double(u), s),
}


@pytest.mark.parametrize("signature", sorted(USER_UPDATES))
@pytest.mark.parametrize("combinator", ["chain", "named_chain", "masked", "partition",
                                        "lookahead", "accumulate", "apply_if_finite"])
def test_user_transform_with_optax_signature_works_in_every_combinator(signature, combinator):
    user = gt.GradientTransformation(lambda p: (), USER_UPDATES[signature])
    inner = gt.chain(user, gt.sgd(1.0))
    tx = {
        "chain": lambda: inner,
        "named_chain": lambda: gt.named_chain(double=user, sgd=gt.sgd(1.0)),
        "masked": lambda: gt.chain(gt.masked(user, {"w": True, "b": True}), gt.sgd(1.0)),
        "partition": lambda: gt.chain(gt.partition({"x": user}, {"w": "x", "b": "x"}),
                                      gt.sgd(1.0)),
        "lookahead": lambda: gt.lookahead(inner, sync_period=5),
        "accumulate": lambda: gt.accumulate_gradients(inner, 1),
        "apply_if_finite": lambda: gt.apply_if_finite(inner, 1),
    }[combinator]()
    g = _grads(PARAMS)
    updates, _ = tx.update(g, tx.init(PARAMS), PARAMS, value=jnp.float32(1.0))
    for u, gk in zip(jax.tree.leaves(updates), jax.tree.leaves(g), strict=True):
        np.testing.assert_allclose(u, -2 * gk, rtol=1e-6)


def test_user_transform_receives_the_extra_arguments_it_names():
    seen = {}

    def update(u, s, params=None, *, value=None):
        seen["value"] = value
        return u, s

    tx = gt.chain(gt.GradientTransformation(lambda p: (), update), gt.sgd(1.0))
    tx.update(PARAMS, tx.init(PARAMS), PARAMS, value=3.0, other=1)
    assert seen == {"value": 3.0}


# --- the flat path (SPEC §8): every public transform, same numbers ---------------------------


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_transform_gives_the_same_updates_on_flat_params(name):
    make, params, extra = PUBLIC[name]
    flat = gt.flat.ravel(params)
    tree_tx, flat_tx = make(), make()
    tree_state, flat_state = tree_tx.init(params), flat_tx.init(flat)
    flat_step = jax.jit(lambda g, s, p: flat_tx.update(g, s, p, **extra))
    tree_step = jax.jit(lambda g, s, p: tree_tx.update(g, s, p, **extra))
    for k in range(3):
        g = _grads(params, scale=1.0 + k)
        tree_u, tree_state = tree_step(g, tree_state, params)
        flat_u, flat_state = flat_step(gt.flat.ravel(g, like=flat), flat_state, flat)
        assert isinstance(flat_u, gt.flat.FlatParams) and flat_u.layout == flat.layout
        for a, b in zip(jax.tree.leaves(flat_u.unravel()), jax.tree.leaves(tree_u), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
