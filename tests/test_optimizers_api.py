"""The optimizers' interface: unified() equivalence, defaults, validation, errors, jit, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx as gt

PARAMS = {"bias": jnp.asarray([0.5, -1.0, 2.0]), "kernel": jnp.asarray([[1.0, -0.3], [0.2, 4.0]])}
GRADS = {"bias": jnp.asarray([0.3, -0.2, 0.1]), "kernel": jnp.asarray([[-0.5, 0.4], [0.05, 1.0]])}

# Every alias with its default arguments (sgd has no default learning rate).
DEFAULTS = {
    "sgd": lambda: gt.sgd(0.1),
    "adagrad": gt.adagrad,
    "rmsprop": gt.rmsprop,
    "adadelta": gt.adadelta,
    "adam": gt.adam,
    "adamw": gt.adamw,
    "nadam": gt.nadam,
    "adamax": gt.adamax,
    "amsgrad": gt.amsgrad,
}
ALIASES = {
    "sgd": gt.sgd, "adagrad": gt.adagrad, "rmsprop": gt.rmsprop, "adadelta": gt.adadelta,
    "adam": gt.adam, "adamw": gt.adamw, "nadam": gt.nadam, "adamax": gt.adamax,
    "amsgrad": gt.amsgrad,
}


def halving(t):
    """α_t = 0.1 · 0.5^t."""
    return 0.1 * 0.5**t


def _quadratic_grad(params):
    """∇ of ½ Σ λ_i (θ_i − c_i)², the convex quadratic below."""
    lam, c = _QUADRATIC
    return {k: lam[k] * (params[k] - c[k]) for k in params}


_QUADRATIC = (
    {"bias": jnp.asarray([0.5, 1.0, 2.0]), "kernel": jnp.asarray([[0.7, 1.5], [1.0, 0.6]])},
    {"bias": jnp.asarray([0.5, -0.4, 0.3]), "kernel": jnp.asarray([[-0.6, 0.2], [0.4, -0.3]])},
)


def _quadratic_loss(params):
    lam, c = _QUADRATIC
    return sum(0.5 * jnp.sum(lam[k] * (params[k] - c[k]) ** 2) for k in params)


def run(tx, steps: int):
    """Params and state after ``steps`` eager updates on the convex quadratic from θ = 0."""
    params = jax.tree.map(jnp.zeros_like, PARAMS)
    state = tx.init(params)
    for _ in range(steps):
        updates, state = tx.update(_quadratic_grad(params), state, params)
        params = gt.apply_updates(params, updates)
    return params, state


# --- Every alias is one unified() construction --------------------------------------------

ALIAS_AND_UNIFIED = [
    pytest.param(lambda: gt.sgd(0.1), lambda: gt.unified(0.1), id="sgd"),
    pytest.param(lambda: gt.sgd(0.1, momentum=0.9),
                 lambda: gt.unified(0.1, momentum="heavy_ball", momentum_decay=0.9),
                 id="sgd-momentum"),
    pytest.param(lambda: gt.sgd(0.1, momentum=0.9, nesterov=True, lr_inside_velocity=True),
                 lambda: gt.unified(0.1, momentum="nesterov", momentum_decay=0.9,
                                    lr_inside_velocity=True),
                 id="sgd-nesterov-lecture-form"),
    pytest.param(lambda: gt.sgd(0.1, weight_decay=0.01),
                 lambda: gt.unified(0.1, weight_decay=0.01), id="sgd-l2"),
    pytest.param(gt.adagrad, lambda: gt.unified(0.01, preconditioner="adagrad", eps=1e-10),
                 id="adagrad"),
    pytest.param(gt.rmsprop,
                 lambda: gt.unified(0.01, preconditioner="rmsprop", decay=0.99, eps=1e-8),
                 id="rmsprop"),
    pytest.param(lambda: gt.rmsprop(centered=True, momentum=0.9),
                 lambda: gt.unified(0.01, preconditioner="rmsprop", centered=True,
                                    momentum="heavy_ball", momentum_decay=0.9),
                 id="rmsprop-centered-momentum"),
    pytest.param(gt.adadelta,
                 lambda: gt.unified(1.0, preconditioner="adadelta", rho=0.9, eps=0.0,
                                    eps_root=1e-6),
                 id="adadelta"),
    pytest.param(gt.adam, lambda: gt.unified(1e-3, preconditioner="adam"), id="adam"),
    pytest.param(gt.adamw,
                 lambda: gt.unified(1e-3, preconditioner="adam", weight_decay=1e-2,
                                    decoupled_weight_decay=True),
                 id="adamw"),
    pytest.param(gt.nadam, lambda: gt.unified(2e-3, preconditioner="nadam"), id="nadam"),
    pytest.param(lambda: gt.nadam(momentum_decay=None),
                 lambda: gt.unified(2e-3, preconditioner="nadam", nadam_momentum_decay=None),
                 id="nadam-constant-mu"),
    pytest.param(gt.adamax,
                 lambda: gt.unified(2e-3, preconditioner="adamax", eps=0.0, eps_root=1e-8),
                 id="adamax"),
    pytest.param(gt.amsgrad, lambda: gt.unified(1e-3, preconditioner="amsgrad"), id="amsgrad"),
]


@pytest.mark.parametrize("make_alias, make_unified", ALIAS_AND_UNIFIED)
def test_alias_equals_its_unified_construction(make_alias, make_unified):
    params = PARAMS
    trajectories = []
    for tx in (make_alias(), make_unified()):
        p, state, path = params, tx.init(params), []
        for _ in range(20):
            updates, state = tx.update(_quadratic_grad(p), state, p)
            p = gt.apply_updates(p, updates)
            path.append(jnp.concatenate([p["bias"], p["kernel"].ravel()]))
        trajectories.append(np.array(path))
    np.testing.assert_allclose(trajectories[0], trajectories[1], rtol=1e-14, atol=0)


# --- Defaults work --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_default_arguments_decrease_a_convex_quadratic_in_200_steps(name):
    tx = DEFAULTS[name]()
    params0 = jax.tree.map(jnp.zeros_like, PARAMS)

    @jax.jit
    def descend(params):
        def body(_, carry):
            params, state = carry
            updates, state = tx.update(_quadratic_grad(params), state, params)
            return gt.apply_updates(params, updates), state

        return jax.lax.fori_loop(0, 200, body, (params, tx.init(params)))[0]

    assert _quadratic_loss(descend(params0)) < 0.5 * _quadratic_loss(params0)


# --- Construction-time validation ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_negative_learning_rate_is_rejected_naming_the_range(name):
    with pytest.raises(ValueError, match=rf"{name}: learning_rate must be in \[0.0, inf"):
        ALIASES[name](-0.1)


@pytest.mark.parametrize("name", sorted(ALIASES))
@pytest.mark.parametrize("value, kind", [("0.1", "str"), (True, "bool")])
def test_learning_rate_of_the_wrong_type_is_rejected(name, value, kind):
    with pytest.raises(TypeError, match=rf"{name}: learning_rate must be a number or a "
                                        rf"schedule, got {kind}"):
        ALIASES[name](value)


@pytest.mark.parametrize(
    "make, error, match",
    [
        pytest.param(lambda: gt.adam(b1=1.0), ValueError, r"b1 must be in \[0.0, 1.0\), got 1.0",
                     id="adam-b1=1"),
        pytest.param(lambda: gt.adamw(b2=1.5), ValueError, r"b2 must be in \[0.0, 1.0\)",
                     id="adamw-b2=1.5"),
        pytest.param(lambda: gt.rmsprop(decay=-0.1), ValueError,
                     r"decay must be in \[0.0, 1.0\), got -0.1", id="rmsprop-decay=-0.1"),
        pytest.param(lambda: gt.adadelta(rho=1), ValueError, r"rho must be in \[0.0, 1.0\), got 1",
                     id="adadelta-rho=1"),
        pytest.param(lambda: gt.sgd(0.1, momentum=1.0), ValueError,
                     r"sgd: momentum must be in \[0.0, 1.0\)", id="sgd-momentum=1"),
        pytest.param(lambda: gt.rmsprop(momentum=-0.5), ValueError,
                     r"rmsprop: momentum must be in \[0.0, 1.0\)", id="rmsprop-momentum=-0.5"),
        pytest.param(lambda: gt.adam(eps=-1e-8), ValueError, r"eps must be in \[0.0, inf",
                     id="adam-eps<0"),
        pytest.param(lambda: gt.adagrad(eps=-1e-8), ValueError, r"eps must be in \[0.0, inf",
                     id="adagrad-eps<0"),
        pytest.param(lambda: gt.adamax(eps=-1e-8), ValueError,
                     r"adamax: eps must be in \[0.0, inf", id="adamax-eps<0"),
        pytest.param(lambda: gt.adadelta(eps=-1e-8), ValueError,
                     r"adadelta: eps must be in \[0.0, inf", id="adadelta-eps<0"),
        pytest.param(lambda: gt.adam(eps_root=-1.0), ValueError,
                     r"eps_root must be in \[0.0, inf", id="adam-eps_root<0"),
        pytest.param(lambda: gt.adamw(weight_decay=-0.1), ValueError,
                     r"adamw: weight_decay must be in \[0.0, inf", id="adamw-weight_decay<0"),
        pytest.param(lambda: gt.sgd(0.1, weight_decay="0.1"), TypeError,
                     r"sgd: weight_decay must be a number or a schedule, got str",
                     id="sgd-weight_decay-str"),
        pytest.param(lambda: gt.adagrad(initial_accumulator_value=-1.0), ValueError,
                     r"initial_accumulator_value must be in \[0.0, inf",
                     id="adagrad-initial_accumulator_value<0"),
        pytest.param(lambda: gt.nadam(momentum_decay=-1.0), ValueError,
                     r"momentum_decay must be in \[0.0, inf", id="nadam-momentum_decay<0"),
        pytest.param(lambda: gt.sgd(0.1, nesterov=1), TypeError,
                     r"sgd: nesterov must be a bool, got int", id="sgd-nesterov-int"),
        pytest.param(lambda: gt.rmsprop(centered="yes"), TypeError,
                     r"centered must be a bool, got str", id="rmsprop-centered-str"),
        pytest.param(lambda: gt.sgd(0.1, nesterov=True), ValueError,
                     r"sgd: nesterov=True needs a momentum in \(0, 1\)",
                     id="sgd-nesterov-without-momentum"),
    ],
)
def test_bad_hyperparameter_is_rejected_at_construction(make, error, match):
    with pytest.raises(error, match=match):
        make()


# --- Schedules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [pytest.param(lambda s, a=alias: a(s), id=name) for name, alias in sorted(ALIASES.items())]
    + [
        pytest.param(lambda s: gt.unified(s, preconditioner="adam"), id="unified"),
        pytest.param(lambda s: gt.scale_by_learning_rate(s), id="scale_by_learning_rate"),
    ],
)
def test_a_schedule_is_accepted_wherever_a_learning_rate_is(make):
    _, state = run(make(halving), steps=3)
    # The third update (step 2) used α_2 = 0.1 · 0.5².
    assert float(gt.get_hyperparams(state)["learning_rate"]) == pytest.approx(0.025, rel=1e-15)


# --- Errors at update time --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(DEFAULTS) - {"sgd"}))
def test_gradient_tree_of_another_structure_is_rejected_naming_the_key_path(name):
    tx = DEFAULTS[name]()
    grads = {"bias": GRADS["bias"], "weights": GRADS["kernel"]}
    with pytest.raises(ValueError, match=r"gradient tree does not match the state tree: first "
                                         r"difference at \['kernel'\] .* vs \['weights'\]"):
        tx.update(grads, tx.init(PARAMS), PARAMS)


def test_stateless_sgd_leaves_the_structure_check_to_apply_updates():
    tx = gt.sgd(0.1)
    grads = {"bias": GRADS["bias"], "weights": GRADS["kernel"]}
    updates, _ = tx.update(grads, tx.init(PARAMS), PARAMS)
    with pytest.raises(ValueError, match=r"apply_updates: updates does not match the params "
                                         r"tree: first difference at \['kernel'\]"):
        gt.apply_updates(PARAMS, updates)


@pytest.mark.parametrize(
    "tx, other, match",
    [
        pytest.param(gt.adam(), gt.sgd(0.1),
                     r"adam: expected states for parts \['adam', 'learning_rate'\], "
                     r"got \['learning_rate'\]", id="adam-given-sgd-state"),
        pytest.param(gt.rmsprop(), gt.adagrad(),
                     r"rmsprop: expected states for parts \['learning_rate', 'rmsprop'\], "
                     r"got \['adagrad', 'learning_rate'\]", id="rmsprop-given-adagrad-state"),
        pytest.param(gt.adamw(), gt.adam(),
                     r"adamw: expected states for parts \['adam', 'learning_rate', "
                     r"'weight_decay'\], got \['adam', 'learning_rate'\]",
                     id="adamw-given-adam-state"),
        pytest.param(gt.scale_by_amsgrad(), gt.scale_by_adam(),
                     r"scale_by_amsgrad: expected a state of type ScaleByAmsgradState, "
                     r"got ScaleByAdamState", id="scale_by_amsgrad-given-scale_by_adam-state"),
        pytest.param(gt.trace(), gt.ema(debias=False),
                     r"trace: expected a state of type TraceState, got EmaState",
                     id="trace-given-ema-state"),
    ],
)
def test_state_from_another_transform_is_rejected_naming_expected_and_received(tx, other, match):
    with pytest.raises(TypeError, match=match):
        tx.update(GRADS, other.init(PARAMS), PARAMS)


@pytest.mark.parametrize(
    "tx",
    [
        pytest.param(gt.adamw(), id="adamw"),
        pytest.param(gt.sgd(0.1, weight_decay=0.01), id="sgd-l2"),
        pytest.param(gt.adam(weight_decay=0.01), id="adam-l2"),
        pytest.param(gt.add_decayed_weights(0.01), id="add_decayed_weights"),
    ],
)
def test_weight_decay_without_params_is_rejected_naming_the_transform(tx):
    with pytest.raises(ValueError, match=r"add_decayed_weights: needs the params"):
        tx.update(GRADS, tx.init(PARAMS))


# --- jit, dtypes, the step counter ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_jitted_update_equals_the_eager_update(name):
    tx = DEFAULTS[name]()
    update = jax.jit(tx.update)
    eager_state = jit_state = tx.init(PARAMS)
    for _ in range(3):
        eager, eager_state = tx.update(GRADS, eager_state, PARAMS)
        jitted, jit_state = update(GRADS, jit_state, PARAMS)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-16),
                 eager, jitted)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_updates_have_the_params_dtype(name, dtype):
    tx = DEFAULTS[name]()
    params = jax.tree.map(lambda x: x.astype(dtype), PARAMS)
    grads = jax.tree.map(lambda x: x.astype(dtype), GRADS)
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(grads, state, params)
    assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(dtype)}


def test_adamw_with_schedules_holds_exactly_one_step_counter():
    state = gt.adamw(halving, weight_decay=halving).init(PARAMS)
    counters = [x for x in jax.tree.leaves(state) if x.dtype == jnp.int32]
    assert len(counters) == 1
