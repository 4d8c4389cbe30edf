"""static_hyperparams: hyperparameters compiled in as constants, the same numbers bit for bit.

The reference is the transform itself with its hyperparameters in the state (the default,
checked against NumPy, torch and optax elsewhere): folding must not change one bit of the
updates or of the state, and must take the folded scalars out of the compiled step's operands.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from paths import in_path
from test_edges import MATRIX_PARAMS, PARAMS, PUBLIC, _grads

import gradtx as gt
from gradtx.core.hyperparams import ScheduledValue, StaticValue, entries
from gradtx.core.hyperparams import fold_hyperparams as fold
from gradtx.core.hyperparams import unfold_hyperparams as unfold


def _more_optimizers():
    return {
        name: (make, PARAMS, {}) for name, make in {
            "radam": lambda: gt.radam(0.01),
            "adabelief": lambda: gt.adabelief(0.01),
            "yogi": lambda: gt.yogi(0.01),
            "novograd": lambda: gt.novograd(0.01),
            "sm3": lambda: gt.sm3(0.1),
            "adan": lambda: gt.adan(0.01),
            "nadamw": lambda: gt.nadamw(0.01),
            "adamaxw": lambda: gt.adamaxw(0.01),
            "rprop": lambda: gt.rprop(0.01),
            "sign_sgd": lambda: gt.sign_sgd(0.01),
            "signum": lambda: gt.signum(0.01),
            "fromage": lambda: gt.fromage(0.01),
            "optimistic_gd": lambda: gt.optimistic_gradient_descent(0.01),
            "optimistic_adam": lambda: gt.optimistic_adam(0.01),
            "noisy_sgd": lambda: gt.noisy_sgd(0.01),
            "adaptive_grad_clip": lambda: gt.chain(gt.adaptive_grad_clip(0.1), gt.sgd(0.1)),
            "centralize_adamw": lambda: gt.chain(gt.centralize(), gt.adamw(0.01)),
            "scheduled_clip_adamw": lambda: gt.chain(
                gt.clip_by_global_norm(1.0),
                gt.adamw(gt.schedules.warmup_cosine(1e-2, 2, 10), weight_decay=0.1)),
            "muon_matrices": lambda: gt.muon(0.01),
        }.items()
    }


CASES = {**PUBLIC, **_more_optimizers()}
CASES["muon_matrices"] = (CASES["muon_matrices"][0], MATRIX_PARAMS, {})


def _folded_count(state):
    return sum(isinstance(e.value, StaticValue) for e in entries(state).values())


def _run(tx, params, extra, steps=4):
    state = tx.init(params)
    step = jax.jit(lambda g, s, p: tx.update(g, s, p, **extra))
    outs = []
    for k in range(steps):
        u, state = step(_grads(params, scale=1.0 + k), state, params)
        params = gt.apply_updates(params, u)
        outs.append(u)
    return outs, state


def _assert_bitwise(a, b, maxulp=0):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        if maxulp and jnp.issubdtype(x.dtype, jnp.floating):
            np.testing.assert_array_max_ulp(np.asarray(x), np.asarray(y), maxulp=maxulp)
        else:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# Where a rule applies a transcendental function or a reassociable product to the
# hyperparameters alone (Adan's and SM3's powers of β, AGC's clip bound, Fromage's
# √(1 + α²)), XLA evaluates the folded expression once with its constant folder, whose
# sqrt/pow/exp are not the compiled kernel's vectorized ones: up to 2 ulps apart (measured;
# every other case is bit for bit).
WITHIN_ULPS = {"adan": 2, "adaptive_grad_clip": 2, "fromage": 2, "sm3": 2}


@pytest.mark.parametrize("name", sorted(CASES))
def test_static_hyperparams_give_the_same_updates_and_state_bit_for_bit(name):
    make, params, extra = CASES[name]
    default, static = make(), gt.static_hyperparams(make())
    ref_updates, ref_state = _run(default, params, extra)
    updates, state = _run(static, params, extra)
    _assert_bitwise(updates, ref_updates, WITHIN_ULPS.get(name, 0))
    _assert_bitwise(unfold(state), ref_state, WITHIN_ULPS.get(name, 0))
    # every hyperparameter given as a number left the compiled step's operands
    numbers = sum(not isinstance(e.value, ScheduledValue) for e in entries(ref_state).values())
    assert _folded_count(state) == numbers
    assert len(jax.tree.leaves(state)) == len(jax.tree.leaves(ref_state)) - sum(
        np.size(e.value) > 0 for e in entries(ref_state).values()
        if not isinstance(e.value, ScheduledValue))


@pytest.mark.parametrize("name", ["adam", "clip_by_block_rms", "lamb", "scheduled_clip_adamw"])
def test_static_hyperparams_on_the_flat_path_are_bitwise_the_flat_path(name):
    make, params, extra = CASES[name]
    ref_updates, ref_state = _run(in_path(make(), "flat"), params, extra)
    for tx in (in_path(gt.static_hyperparams(make()), "flat"),
               gt.static_hyperparams(in_path(make(), "flat"))):
        updates, state = _run(tx, params, extra)
        _assert_bitwise(updates, ref_updates)
        _assert_bitwise(unfold(state), ref_state)
        assert _folded_count(state) > 0
    flat = gt.flat.ravel(params)
    ref_updates, _ = _run(make(), flat, extra)
    updates, _ = _run(gt.static_hyperparams(make()), flat, extra)
    _assert_bitwise(updates, ref_updates)


def test_the_constants_are_in_the_compiled_step_not_its_operands():
    tx = gt.static_hyperparams(gt.adam(0.125, b1=0.5))
    state = tx.init(PARAMS)
    lowered = jax.jit(tx.update).lower(_grads(PARAMS), state, PARAMS)
    # operands: the grads, the state's arrays (counts, mu, nu), the params; no scalars
    arrays = len(jax.tree.leaves((_grads(PARAMS), state, PARAMS)))
    assert len(jax.tree.leaves(lowered.args_info)) == arrays
    text = lowered.as_text()
    assert "dense<-1.250000e-01>" in text and "dense<5.000000e-01>" in text  # −α, β₁
    default = gt.adam(0.125, b1=0.5)
    lowered = jax.jit(default.update).lower(_grads(PARAMS), default.init(PARAMS), PARAMS)
    assert len(jax.tree.leaves(lowered.args_info)) == arrays + 5  # b1, b2, eps, eps_root, lr


def test_the_step_compiles_once_and_retraces_for_another_static_value():
    traces = []
    tx = gt.static_hyperparams(gt.sgd(0.5, momentum=0.9))

    @jax.jit
    def step(g, s, p):
        traces.append(1)
        return tx.update(g, s, p)

    state = tx.init(PARAMS)
    for _ in range(3):
        u, state = step(_grads(PARAMS), state, PARAMS)
    assert len(traces) == 1
    # a state folded from other values is another program: its constants are used
    other = fold(gt.set_hyperparams(gt.sgd(0.5, momentum=0.9).init(PARAMS), learning_rate=0.25))
    u_other, _ = step(_grads(PARAMS), other, PARAMS)
    u_first, _ = step(_grads(PARAMS), tx.init(PARAMS), PARAMS)
    assert len(traces) == 2
    np.testing.assert_array_equal(np.asarray(u_other["b"]) * 2, np.asarray(u_first["b"]))


def test_names_fold_only_the_named_hyperparameters():
    tx = gt.static_hyperparams(gt.chain(gt.clip_by_global_norm(1.0), gt.adamw(0.1)),
                               names=["b1", "weight_decay"])
    state = tx.init(PARAMS)
    folded = {p[-1] for p, e in entries(state).items() if isinstance(e.value, StaticValue)}
    assert folded == {"b1", "weight_decay"}
    one = entries(gt.static_hyperparams(gt.adam(0.1), "b2").init(PARAMS))
    assert one[("adam", "b2")].value == StaticValue(float(np.float32(0.999)), np.float32)
    assert not isinstance(one[("adam", "b1")].value, StaticValue)
    # the learning rate is still in the state, and can be set without recompiling
    state = gt.set_hyperparams(state, learning_rate=0.05)
    assert float(gt.get_hyperparams(state)["learning_rate"]) == pytest.approx(0.05)


def test_static_values_read_as_before_and_refuse_to_be_set():
    state = gt.static_hyperparams(gt.adam(1e-3)).init(PARAMS)
    hp = gt.get_hyperparams(state)
    assert hp["b2"].dtype == jnp.float32 and float(hp["b2"]) == float(np.float32(0.999))
    assert hp.keys() == gt.get_hyperparams(gt.adam(1e-3).init(PARAMS)).keys()
    with pytest.raises(ValueError, match=r"hyperparameter 'b2' is static \(compiled into the "
                                         r"step by static_hyperparams\); build the transform "
                                         r"with the new value instead"):
        gt.set_hyperparams(state, b2=0.99)


def test_float64_params_fold_float64_constants():
    params = jax.tree.map(lambda x: x.astype(jnp.float64), PARAMS)
    make = lambda: gt.adamw(0.1, b1=0.8)  # noqa: E731
    ref_updates, ref_state = _run(make(), params, {})
    updates, state = _run(gt.static_hyperparams(make()), params, {})
    _assert_bitwise(updates, ref_updates)
    value = entries(state)[("adam", "b1")].value
    assert value.dtype == np.float64 and value.value == 0.8


def test_bad_arguments_are_rejected_naming_them():
    with pytest.raises(TypeError, match="static_hyperparams: tx must be a "
                                        "GradientTransformation, got int"):
        gt.static_hyperparams(3)
    with pytest.raises(TypeError, match="static_hyperparams: names must be bare hyperparameter "
                                        "names such as 'learning_rate' or 'b1', got 'adam/b1'"):
        gt.static_hyperparams(gt.adam(0.1), names=["adam/b1"])
    with pytest.raises(TypeError, match="static_hyperparams: names must be a hyperparameter "
                                        "name, an iterable of names or None, got float"):
        gt.static_hyperparams(gt.adam(0.1), names=0.5)
    tx = gt.static_hyperparams(gt.adam(0.1), names=["b1", "momentum"])
    with pytest.raises(KeyError, match=r"static_hyperparams: no hyperparameter given as a "
                                       r"number is named \['momentum'\]; the transform's are "
                                       r"\['b1', 'b2', 'eps', 'eps_root', 'learning_rate'\]"):
        tx.init(PARAMS)
    sched = gt.static_hyperparams(gt.adam(gt.schedules.cosine(0.1, 10)), "learning_rate")
    with pytest.raises(KeyError, match=r"named \['learning_rate'\]"):
        sched.init(PARAMS)


def test_fold_and_unfold_convert_checkpoints_between_the_two():
    make = lambda: gt.chain(gt.clip_by_global_norm(1.0), gt.adamw(0.1))  # noqa: E731
    default, static = make(), gt.static_hyperparams(make())
    _, trained = _run(default, PARAMS, {}, steps=2)
    folded = fold(trained)
    assert jax.tree.structure(folded) == jax.tree.structure(static.init(PARAMS))
    _assert_bitwise(unfold(folded), trained)
    # resuming: one more step from the converted state equals one more default step
    g = _grads(PARAMS)
    ref_u, ref_s = jax.jit(default.update)(g, trained, PARAMS)
    u, s = jax.jit(static.update)(g, folded, PARAMS)
    _assert_bitwise(u, ref_u)
    _assert_bitwise(unfold(s), ref_s)
    with pytest.raises(ValueError, match="fold_hyperparams: hyperparameter 0/max_norm is "
                                         "traced; fold a concrete state, outside jit"):
        jax.jit(fold)(trained)


def test_abstract_and_jitted_init_keep_the_constants():
    tx = gt.static_hyperparams(gt.adam(0.1))
    abstract = jax.tree.map(lambda p: jax.ShapeDtypeStruct(p.shape, p.dtype), PARAMS)
    concrete = tx.init(PARAMS)
    for state in (jax.eval_shape(tx.init, abstract), jax.jit(tx.init)(PARAMS),
                  tx.init(abstract)):
        assert jax.tree.structure(state) == jax.tree.structure(concrete)
        assert _folded_count(state) == 5


@pytest.mark.parametrize("wrap", ["native", "compat"])
def test_injected_hyperparameters_stay_in_the_state_the_others_fold(wrap):
    if wrap == "native":
        inject = gt.inject_hyperparams
    else:
        from gradtx.compat import optax as goptax
        inject = goptax.inject_hyperparams
    # every numeric argument is injected (settable each step), but those in static_args
    make = lambda: inject(gt.adam, static_args="b2")(learning_rate=0.1, b1=0.8)  # noqa: E731
    ref_updates, ref_state = _run(make(), PARAMS, {})
    static = gt.static_hyperparams(make())
    state = static.init(PARAMS)
    folded = {p[-1] for p, e in entries(state).items() if isinstance(e.value, StaticValue)}
    assert folded == {"b2"}
    updates, new_state = _run(static, PARAMS, {})
    assert jax.tree.structure(new_state) == jax.tree.structure(state)  # no retrace
    _assert_bitwise(updates, ref_updates)
    _assert_bitwise(unfold(new_state), ref_state)


def test_a_static_state_is_sharded_like_the_default_less_its_scalars():
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = jax.make_mesh((8,), ("data",))
    params = {"w": jax.device_put(jnp.ones((16, 4)), NamedSharding(mesh, P("data"))),
              "b": jax.device_put(jnp.ones(8), NamedSharding(mesh, P()))}
    make = lambda: gt.adamw(0.1)  # noqa: E731
    default = gt.sharding.state_shardings(make(), params)
    static = gt.sharding.state_shardings(gt.static_hyperparams(make()), params)
    tx = gt.static_hyperparams(make())
    assert jax.tree.structure(static) == jax.tree.structure(jax.eval_shape(tx.init, params))
    specs = [sh.spec for sh in jax.tree.leaves(static)]
    ref = [sh.spec for sh in jax.tree.leaves(default)]
    assert [x for x in specs if x != P()] == [x for x in ref if x != P()]
    assert len(ref) - len(specs) == 6  # b1, b2, eps, eps_root, weight decay, learning rate
    state = jax.jit(tx.init, out_shardings=static)(params)
    _, state = jax.jit(tx.update)(params, state, params)
    assert state["adam"].mu["w"].sharding.spec == P("data", None)


def test_a_static_state_can_be_donated_and_every_buffer_is_reused():
    import warnings

    tx = gt.static_hyperparams(gt.chain(gt.clip_by_global_norm(1.0), gt.adamw(0.1)))
    state = tx.init(PARAMS)
    step = jax.jit(lambda g, s, p: tx.update(g, s, p), donate_argnums=(1,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Some donated buffers were not usable" fails here
        _, new_state = step(_grads(PARAMS), state, PARAMS)
    assert all(x.is_deleted() for x in jax.tree.leaves(state))
    assert jax.tree.structure(new_state) == jax.tree.structure(state)


@pytest.mark.parametrize("search", ["zoom", "backtracking"])
def test_lbfgs_and_its_line_searches_are_bitwise_the_same(search):
    def loss(p):
        return sum(jnp.sum((x - 0.3) ** 2 * (1.0 + jnp.arange(x.size).reshape(x.shape)))
                   for x in jax.tree.leaves(p))

    line_search = None if search == "zoom" else gt.scale_by_backtracking_linesearch(
        max_backtracking_steps=15)
    make = lambda: gt.lbfgs(linesearch=line_search) if line_search else gt.lbfgs()  # noqa: E731

    def run(tx):
        params, state, out = PARAMS, tx.init(PARAMS), []
        step = jax.jit(lambda p, s: tx.update(jax.grad(loss)(p), s, p, value=loss(p),
                                              grad=jax.grad(loss)(p), value_fn=loss))
        for _ in range(5):
            u, state = step(params, state)
            params = gt.apply_updates(params, u)
            out.append(u)
        return out, state

    ref_updates, ref_state = run(make())
    updates, state = run(gt.static_hyperparams(make()))
    assert _folded_count(state) > 0
    _assert_bitwise(updates, ref_updates)
    _assert_bitwise(unfold(state), ref_state)


def test_equal_static_values_hash_equal_nan_included():
    a, b = StaticValue(float("nan"), np.float32), StaticValue(float("nan"), np.float32)
    assert a == b and hash(a) == hash(b)
    assert StaticValue(0.0, np.float32) != StaticValue(-0.0, np.float32)
    assert StaticValue(0.5, np.float32) != StaticValue(0.5, np.float64)
