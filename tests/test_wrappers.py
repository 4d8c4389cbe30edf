"""Wrappers: parameter groups, gradient accumulation, NaN-safe steps, param averaging, lookahead.

References are NumPy transcriptions written here, or the same optimizer run
without the wrapper on the equivalent problem (the large batch, the sequence
without the bad step).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import gradtx
from gradtx.wrappers.accumulate import AccumulateState, accumulate_gradients
from gradtx.wrappers.averaging import lookahead, param_ema, polyak_average
from gradtx.wrappers.finite import ApplyIfFiniteState, apply_if_finite
from gradtx.wrappers.groups import MaskedNode, MaskedState, freeze, masked, partition

PARAMS = {"w": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "b": jnp.array([0.1, -0.2])}
GRADS = {"w": jnp.array([[0.3, -0.1], [0.2, 0.4]]), "b": jnp.array([1.0, -1.0])}
MATRICES = {"w": True, "b": False}


def is_matrix(params):
    return jax.tree.map(lambda p: p.ndim == 2, params)


def run(tx, grads_seq, params):
    """Applies ``tx`` to each gradient in turn (jitted); returns the final params and state."""
    state = tx.init(params)

    @jax.jit
    def step(g, state, params):
        updates, state = tx.update(g, state, params)
        return gradtx.apply_updates(params, updates), state

    for g in grads_seq:
        params, state = step(g, state, params)
    return params, state


def assert_trees_close(a, b, rtol=1e-12, atol=1e-14):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def random_grads(n, seed=0):
    rng = np.random.default_rng(seed)
    return [{k: jnp.asarray(rng.normal(size=v.shape)) for k, v in PARAMS.items()}
            for _ in range(n)]


# --- parameter groups ---------------------------------------------------------------------


def test_masked_applies_inner_where_mask_is_true_and_passes_the_rest():
    tx = masked(gradtx.scale(-2.0), MATRICES)
    updates, _ = tx.update(GRADS, tx.init(PARAMS), PARAMS)
    np.testing.assert_array_equal(updates["w"], -2.0 * GRADS["w"])
    np.testing.assert_array_equal(updates["b"], GRADS["b"])


def test_masked_keeps_inner_state_only_for_selected_leaves():
    state = masked(gradtx.scale_by_adam(), MATRICES).init(PARAMS)
    assert isinstance(state.states, MaskedState)
    mu = state.states.inner_state.mu
    assert mu["b"] == MaskedNode() and mu["w"].shape == (2, 2)


def test_masked_adam_on_selected_leaves_equals_adam_on_them_alone():
    params, _ = run(masked(gradtx.adam(0.1), MATRICES), random_grads(3), PARAMS)
    alone, _ = run(gradtx.adam(0.1), [{"w": g["w"]} for g in random_grads(3)], {"w": PARAMS["w"]})
    np.testing.assert_allclose(params["w"], alone["w"], rtol=1e-12)
    b_expected = PARAMS["b"] + sum(g["b"] for g in random_grads(3))
    np.testing.assert_allclose(params["b"], b_expected, rtol=1e-12)


def test_mask_may_be_a_function_of_the_params():
    by_tree = masked(gradtx.scale(3.0), MATRICES)
    by_fn = masked(gradtx.scale(3.0), is_matrix)
    assert_trees_close(by_fn.update(GRADS, by_fn.init(PARAMS), PARAMS)[0],
                       by_tree.update(GRADS, by_tree.init(PARAMS), PARAMS)[0])


def test_mask_function_is_called_on_the_updates_without_params():
    tx = masked(gradtx.scale(3.0), is_matrix)
    updates, _ = tx.update(GRADS, tx.init(PARAMS))
    np.testing.assert_array_equal(updates["w"], 3.0 * GRADS["w"])
    np.testing.assert_array_equal(updates["b"], GRADS["b"])


def test_mask_prefix_selects_a_whole_subtree():
    params = {"layer": {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, "head": jnp.ones(3)}
    grads = jax.tree.map(jnp.ones_like, params)
    tx = masked(gradtx.scale(0.5), {"layer": True, "head": False})
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_array_equal(updates["layer"]["w"], 0.5)
    np.testing.assert_array_equal(updates["layer"]["b"], 0.5)
    np.testing.assert_array_equal(updates["head"], 1.0)


def test_mask_with_a_key_the_params_lack_names_the_path():
    with pytest.raises(ValueError, match=r"masked: the mask has \['c'\], which the params do not"):
        masked(gradtx.scale(1.0), {"w": True, "c": False}).init(PARAMS)


def test_mask_missing_a_param_names_the_path():
    with pytest.raises(ValueError, match=r"freeze: the params have \['b'\], which the mask"):
        freeze({"w": True}).init(PARAMS)


def test_mask_leaves_must_be_static_bools():
    with pytest.raises(TypeError, match=r"masked: mask leaves must be Python bools.*\['b'\]"):
        masked(gradtx.scale(1.0), {"w": True, "b": jnp.array(False)}).init(PARAMS)


def test_freeze_zeroes_the_updates_where_mask_is_true():
    tx = freeze(MATRICES)
    updates, _ = tx.update(GRADS, tx.init(PARAMS), PARAMS)
    np.testing.assert_array_equal(updates["w"], 0.0)
    np.testing.assert_array_equal(updates["b"], GRADS["b"])


def test_true_selects_the_same_leaves_in_masked_freeze_and_weight_decay():
    def changed(tx):
        updates, _ = tx.update(GRADS, tx.init(PARAMS), PARAMS)
        return {k: not np.array_equal(updates[k], GRADS[k]) for k in GRADS}

    assert changed(masked(gradtx.scale(2.0), MATRICES)) == MATRICES
    assert changed(freeze(MATRICES)) == MATRICES
    assert changed(gradtx.add_decayed_weights(0.1, MATRICES)) == MATRICES


def test_partition_transforms_each_leaf_by_its_label():
    tx = partition({"sgd": gradtx.sgd(0.1), "adam": gradtx.adam(0.01)},
                   {"w": "adam", "b": "sgd"})
    params, _ = run(tx, random_grads(3), PARAMS)
    w_alone, _ = run(gradtx.adam(0.01), [{"w": g["w"]} for g in random_grads(3)],
                     {"w": PARAMS["w"]})
    np.testing.assert_allclose(params["w"], w_alone["w"], rtol=1e-12)
    np.testing.assert_allclose(params["b"], PARAMS["b"] - 0.1 * sum(g["b"] for g in
                                                                      random_grads(3)))


def test_partition_labels_may_be_a_function_of_the_params():
    labels = lambda p: jax.tree.map(lambda x: "m" if x.ndim == 2 else "v", p)  # noqa: E731
    tx = partition({"m": gradtx.scale(2.0), "v": gradtx.scale(-1.0)}, labels)
    updates, _ = tx.update(GRADS, tx.init(PARAMS), PARAMS)
    np.testing.assert_array_equal(updates["w"], 2.0 * GRADS["w"])
    np.testing.assert_array_equal(updates["b"], -GRADS["b"])


def test_partition_label_without_transform_names_label_and_path():
    tx = partition({"a": gradtx.scale(1.0)}, {"w": "a", "b": "bias"})
    with pytest.raises(ValueError, match=r"partition: label 'bias' at \['b'\] has no transform"):
        tx.init(PARAMS)


def test_partition_groups_share_the_one_step_counter_of_the_chain():
    schedule = lambda step: 0.1 / (1.0 + step)  # noqa: E731
    tx = partition({"a": gradtx.sgd(schedule), "b": gradtx.sgd(schedule)}, {"w": "a", "b": "b"})
    state = tx.init(PARAMS)
    for _ in range(3):
        updates, state = tx.update(GRADS, state, PARAMS)
    counters = [x for x in jax.tree.leaves(state) if x.dtype == jnp.int32]
    assert len(counters) == 1 and int(state.count) == 3
    np.testing.assert_allclose(updates["w"], -schedule(2) * GRADS["w"])
    np.testing.assert_allclose(updates["b"], -schedule(2) * GRADS["b"])


def test_masked_inner_schedule_reads_the_enclosing_chain_step():
    schedule = lambda step: 1.0 + step  # noqa: E731
    tx = gradtx.chain(gradtx.identity(), masked(gradtx.scale_by_schedule(schedule), MATRICES))
    state = tx.init(PARAMS)
    for _ in range(3):
        updates, state = tx.update(GRADS, state, PARAMS)
    np.testing.assert_allclose(updates["w"], 3.0 * GRADS["w"])


def test_wrappers_hold_optax_transforms():
    grads_seq = random_grads(3)
    got, _ = run(apply_if_finite(masked(optax.adam(0.1), MATRICES), 1), grads_seq, PARAMS)
    expected, _ = run(masked(gradtx.adam(0.1), MATRICES), grads_seq, PARAMS)
    assert_trees_close(got, expected)


def test_hyperparams_are_readable_through_wrappers():
    tx = partition({"a": gradtx.adam(0.01), "b": masked(gradtx.sgd(0.5), {"w": False, "b": True})},
                   {"w": "a", "b": "b"})
    hp = gradtx.get_hyperparams(tx.init(PARAMS))
    assert float(hp["a/learning_rate/learning_rate"]) == pytest.approx(0.01)
    assert float(hp["b/learning_rate/learning_rate"]) == pytest.approx(0.5)


# --- gradient accumulation ----------------------------------------------------------------


def regression_data(n=32, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=n)
    return jnp.asarray(x), jnp.asarray(y)


def mse(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


@pytest.mark.parametrize("make", [
    lambda: gradtx.sgd(0.05, momentum=0.9),
    lambda: gradtx.adam(lambda step: 0.1 / (1.0 + step)),
], ids=["sgd_momentum", "adam_scheduled"])
def test_k_micro_batches_of_b_equal_one_batch_of_kb(make):
    x, y = regression_data()
    k, updates_n = 4, 3
    params0 = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    tx_large, tx_acc = make(), accumulate_gradients(make(), k)

    def step(tx):
        @jax.jit
        def f(params, state, x, y):
            updates, state = tx.update(jax.grad(mse)(params, x, y), state, params)
            return gradtx.apply_updates(params, updates), state
        return f

    large_step, acc_step = step(tx_large), step(tx_acc)
    p_large, s_large = params0, tx_large.init(params0)
    p_acc, s_acc = params0, tx_acc.init(params0)
    for _ in range(updates_n):
        p_large, s_large = large_step(p_large, s_large, x, y)
        for j in range(k):
            p_acc, s_acc = acc_step(p_acc, s_acc, x[8 * j: 8 * (j + 1)], y[8 * j: 8 * (j + 1)])
    assert_trees_close(p_acc, p_large, rtol=1e-12, atol=1e-14)
    assert int(s_acc.count) == updates_n and int(s_acc.micro_step) == 0


def test_accumulation_emits_zeros_and_leaves_inner_state_alone_between_updates():
    tx = accumulate_gradients(gradtx.adam(0.1), 3)
    state = tx.init(PARAMS)
    inner_before = state.inner_state
    for j in range(2):
        updates, state = jax.jit(tx.update)(GRADS, state, PARAMS)
        assert all(np.all(np.asarray(u) == 0) for u in jax.tree.leaves(updates))
        assert int(state.micro_step) == j + 1 and int(state.count) == 0
    assert isinstance(state, AccumulateState)
    assert_trees_close(state.inner_state, inner_before, rtol=0, atol=0)
    assert_trees_close(state.grad_sum, jax.tree.map(lambda g: 2 * g, GRADS))


def test_accumulation_runs_the_inner_update_only_when_it_emits():
    calls = []

    def spy(updates, params):
        jax.debug.callback(lambda: calls.append(1))
        return updates

    tx = jax.jit(accumulate_gradients(gradtx.stateless(spy), 4).update)
    state = accumulate_gradients(gradtx.stateless(spy), 4).init(PARAMS)
    for _ in range(8):
        _, state = tx(GRADS, state, PARAMS)
    jax.effects_barrier()
    assert len(calls) == 2


def test_accumulator_dtype_is_configurable():
    params = jax.tree.map(lambda p: p.astype(jnp.float32), PARAMS)
    tx = accumulate_gradients(gradtx.sgd(0.1), 2, accumulator_dtype=jnp.bfloat16)
    _, state = jax.jit(tx.update)(params, tx.init(params), params)
    assert {x.dtype for x in jax.tree.leaves(state.grad_sum)} == {jnp.dtype(jnp.bfloat16)}


def test_accumulation_rejects_a_bad_every_k():
    with pytest.raises(ValueError, match=r"accumulate_gradients: every_k must be in \[1, inf\)"):
        accumulate_gradients(gradtx.sgd(0.1), 0)
    with pytest.raises(TypeError, match="accumulate_gradients: every_k must be an int"):
        accumulate_gradients(gradtx.sgd(0.1), 2.0)


# --- apply_if_finite ----------------------------------------------------------------------


def with_nan(grads):
    return {**grads, "b": grads["b"].at[0].set(jnp.nan)}


def test_skipped_step_leaves_params_and_inner_state_untouched():
    tx = apply_if_finite(gradtx.adam(0.1), max_consecutive_errors=3)
    step = jax.jit(tx.update)
    state = tx.init(PARAMS)
    _, state = step(GRADS, state, PARAMS)
    updates, after = step(with_nan(GRADS), state, PARAMS)
    assert_trees_close(gradtx.apply_updates(PARAMS, updates), PARAMS, rtol=0, atol=0)
    assert_trees_close(after.inner_state, state.inner_state, rtol=0, atol=0)
    assert int(after.count) == int(state.count) == 1


def test_state_counts_skipped_steps():
    tx = apply_if_finite(gradtx.sgd(0.1), max_consecutive_errors=5)
    state = tx.init(PARAMS)
    for g in [with_nan(GRADS), with_nan(GRADS), GRADS, with_nan(GRADS)]:
        _, state = jax.jit(tx.update)(g, state, PARAMS)
    assert isinstance(state, ApplyIfFiniteState)
    assert int(state.notfinite_count) == 1
    assert int(state.total_notfinite) == 3
    assert not bool(state.last_finite)
    assert int(state.count) == 1


def test_skipped_step_is_as_if_the_bad_batch_never_arrived():
    g1, g2 = random_grads(2)
    guarded, _ = run(apply_if_finite(gradtx.adam(lambda s: 0.1 / (1 + s)), 2),
                     [g1, with_nan(g1), g2], PARAMS)
    plain, _ = run(gradtx.adam(lambda s: 0.1 / (1 + s)), [g1, g2], PARAMS)
    assert_trees_close(guarded, plain)


def test_update_goes_through_after_max_consecutive_errors():
    tx = apply_if_finite(gradtx.sgd(0.1), max_consecutive_errors=2)
    step = jax.jit(tx.update)
    state = tx.init(PARAMS)
    for _ in range(2):
        updates, state = step(with_nan(GRADS), state, PARAMS)
        assert not np.isnan(np.asarray(updates["b"])).any()
    updates, state = step(with_nan(GRADS), state, PARAMS)
    assert np.isnan(np.asarray(updates["b"][0]))
    assert int(state.count) == 1


# --- parameter averaging and lookahead ----------------------------------------------------


def sgd_trajectory(grads_seq, lr=0.1):
    """θ_0, θ_1, ... of plain SGD in NumPy."""
    thetas = [{k: np.asarray(v) for k, v in PARAMS.items()}]
    for g in grads_seq:
        thetas.append({k: thetas[-1][k] - lr * np.asarray(g[k]) for k in g})
    return thetas


def test_param_ema_debiased_is_the_normalized_weighted_sum_of_params():
    rho, grads_seq = 0.8, random_grads(4)
    _, state = run(gradtx.chain(gradtx.sgd(0.1), param_ema(rho)), grads_seq, PARAMS)
    thetas = sgd_trajectory(grads_seq)
    t = len(grads_seq)
    for k in PARAMS:
        expected = sum((1 - rho) * rho ** (t - tau) * thetas[tau][k] for tau in range(1, t + 1))
        np.testing.assert_allclose(state[1].average[k], expected / (1 - rho**t), rtol=1e-12)


def test_param_ema_without_debias_starts_from_the_initial_params():
    rho, grads_seq = 0.8, random_grads(3)
    _, state = run(gradtx.chain(gradtx.sgd(0.1), param_ema(rho, debias=False)), grads_seq,
                   PARAMS)
    thetas = sgd_trajectory(grads_seq)
    for k in PARAMS:
        a = thetas[0][k]
        for theta in thetas[1:]:
            a = rho * a + (1 - rho) * theta[k]
        np.testing.assert_allclose(state[1].average[k], a, rtol=1e-12)


def test_polyak_average_is_the_running_mean_of_the_params():
    grads_seq = random_grads(5)
    _, state = run(gradtx.chain(gradtx.sgd(0.1), polyak_average()), grads_seq, PARAMS)
    thetas = sgd_trajectory(grads_seq)
    for k in PARAMS:
        np.testing.assert_allclose(state[1].average[k],
                                   np.mean([th[k] for th in thetas[1:]], axis=0), rtol=1e-12)


@pytest.mark.parametrize("tx", [param_ema(0.9), polyak_average(), lookahead(gradtx.sgd(0.1))],
                         ids=["param_ema", "polyak_average", "lookahead"])
def test_param_averages_need_the_params(tx):
    with pytest.raises(ValueError, match=r"(param_ema|polyak_average|lookahead): needs the params"):
        tx.update(GRADS, tx.init(PARAMS))


def quadratic_grad(params):
    """∇ of ½ Σ c ⊙ θ² with fixed curvatures c (NumPy or jax arrays)."""
    return {"w": params["w"] * np.array([[1.0, 2.0], [3.0, 0.5]]), "b": params["b"] * 4.0}


def test_lookahead_follows_the_papers_algorithm():
    k, alpha, lr, n = 3, 0.5, 0.1, 8
    tx = lookahead(gradtx.sgd(lr, momentum=0.9), sync_period=k, slow_step_size=alpha)
    params, state = PARAMS, tx.init(PARAMS)
    for _ in range(n):
        updates, state = tx.update(quadratic_grad(params), state, params)
        params = gradtx.apply_updates(params, updates)
    # Zhang et al. 2019, Algorithm 1, with A = heavy-ball SGD (velocity kept across syncs).
    phi = {key: np.asarray(v) for key, v in PARAMS.items()}
    theta = dict(phi)
    v = {key: np.zeros_like(x) for key, x in phi.items()}
    for step in range(n):
        g = quadratic_grad(theta)
        v = {key: 0.9 * v[key] + g[key] for key in v}
        theta = {key: theta[key] - lr * v[key] for key in v}
        if (step + 1) % k == 0:
            phi = {key: phi[key] + alpha * (theta[key] - phi[key]) for key in phi}
            theta = dict(phi)
    assert_trees_close(params, theta, rtol=1e-12, atol=1e-14)
    assert_trees_close(state.slow, phi, rtol=1e-12, atol=1e-14)


def test_lookahead_slow_weights_equal_the_params_right_after_a_sync():
    tx = lookahead(gradtx.sgd(0.1), sync_period=2, slow_step_size=0.5)
    params, state = run(tx, random_grads(4), PARAMS)
    assert_trees_close(state.slow, params, rtol=1e-12, atol=1e-14)


# --- composition: chain, jit, sharding, Flax ----------------------------------------------

WRAPPERS = {
    "masked": lambda: masked(gradtx.adam(1e-2), is_matrix),
    "partition": lambda: partition({"m": gradtx.adam(1e-2), "v": gradtx.sgd(1e-2, 0.9)},
                                   lambda p: jax.tree.map(lambda x: "m" if x.ndim == 2 else "v",
                                                          p)),
    "freeze": lambda: gradtx.chain(freeze(is_matrix), gradtx.sgd(1e-2)),
    "accumulate_gradients": lambda: accumulate_gradients(gradtx.adam(1e-2), 2),
    "apply_if_finite": lambda: apply_if_finite(gradtx.adam(1e-2), 2),
    "param_ema": lambda: gradtx.chain(gradtx.adam(1e-2), param_ema(0.9)),
    "polyak_average": lambda: gradtx.chain(gradtx.adam(1e-2), polyak_average()),
    "lookahead": lambda: lookahead(gradtx.adam(1e-2), 2),
}


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_wrapper_inside_a_chain_gives_the_same_steps_under_jit(name):
    tx = gradtx.chain(gradtx.clip_by_global_norm(10.0), WRAPPERS[name]())
    grads_seq = random_grads(3)
    jitted, _ = run(tx, grads_seq, PARAMS)
    params, state = PARAMS, tx.init(PARAMS)
    for g in grads_seq:
        updates, state = tx.update(g, state, params)
        params = gradtx.apply_updates(params, updates)
    assert_trees_close(jitted, params, rtol=1e-12, atol=1e-14)


def make_sharded_params(mesh):
    specs = {"w": P("data", "model"), "b": P("model")}
    shapes = {"w": (8, 4), "b": (4,)}
    return {k: jax.device_put(jnp.linspace(-1.0, 1.0, int(np.prod(shapes[k]))).reshape(shapes[k]),
                              NamedSharding(mesh, specs[k])) for k in shapes}


def assert_state_follows_params(state, params):
    checked = 0
    for leaf_path, leaf in jax.tree_util.tree_leaves_with_path(state):
        key = getattr(leaf_path[-1], "key", None)
        if key in params and leaf.shape == params[key].shape:
            checked += 1
            assert leaf.sharding.is_equivalent_to(params[key].sharding, leaf.ndim), (
                f"{jax.tree_util.keystr(leaf_path)}: {leaf.sharding} vs {params[key].sharding}"
            )
    return checked


@pytest.mark.parametrize("axis_type", [AxisType.Explicit, AxisType.Auto], ids=["explicit", "auto"])
@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_wrapper_state_is_sharded_like_the_params(name, axis_type):
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(axis_type, axis_type))
    tx = WRAPPERS[name]()
    with jax.set_mesh(mesh):
        params = make_sharded_params(mesh)
        state = jax.jit(tx.init)(params)
        assert_state_follows_params(state, params)

        @jax.jit
        def step(params, state):
            updates, state = tx.update(jax.tree.map(lambda p: 0.1 * p + 1.0, params), state,
                                       params)
            return gradtx.apply_updates(params, updates), state

        for _ in range(2):
            new_params, state = step(params, state)
        checked = assert_state_follows_params(state, params)
        for k in params:
            assert new_params[k].sharding.is_equivalent_to(params[k].sharding, params[k].ndim)
    assert checked > 0 or name == "freeze"


class TwoLayer(nnx.Module):
    def __init__(self, rngs):
        self.hidden = nnx.Linear(3, 4, rngs=rngs)
        self.out = nnx.Linear(4, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(jnp.tanh(self.hidden(x)))


@pytest.mark.parametrize("name", ["masked", "partition", "accumulate_gradients",
                                  "apply_if_finite", "lookahead"])
def test_wrapper_drives_flax_nnx_optimizer(name):
    x, y = regression_data(8)
    model = TwoLayer(nnx.Rngs(0))
    params = nnx.as_pure(nnx.state(model, nnx.Param))
    optimizer = nnx.Optimizer(model, WRAPPERS[name](), wrt=nnx.Param)
    loss = lambda m: jnp.mean((m(x)[:, 0] - y) ** 2)  # noqa: E731

    @nnx.jit
    def train_step(model, optimizer):
        grads = nnx.grad(loss)(model)
        optimizer.update(model, grads)
        return nnx.as_pure(grads)

    grads_seq = [train_step(model, optimizer) for _ in range(4)]
    expected, _ = run(WRAPPERS[name](), grads_seq, params)
    assert_trees_close(nnx.as_pure(nnx.state(model, nnx.Param)), expected, rtol=1e-6,
                       atol=1e-7)
