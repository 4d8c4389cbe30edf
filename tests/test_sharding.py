"""gradtx on several devices: sharded params, shard_map data parallelism, pmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import gradtx

TRANSFORMS = {
    "adamw": lambda: gradtx.adamw(1e-2),
    "clip_adamw": lambda: gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(1e-2)),
    "sgd_nesterov": lambda: gradtx.sgd(0.1, momentum=0.9, nesterov=True),
    "rmsprop_centered": lambda: gradtx.rmsprop(1e-2, centered=True),
    "amsgrad": lambda: gradtx.amsgrad(1e-2),
}


def make_params(mesh):
    specs = {"w": P("data", "model"), "b": P("model"), "v": P("data")}
    shapes = {"w": (8, 4), "b": (4,), "v": (16,)}
    return {
        k: jax.device_put(jnp.arange(np.prod(shapes[k]), dtype=jnp.float32).reshape(shapes[k]),
                          NamedSharding(mesh, specs[k]))
        for k in shapes
    }


def assert_state_follows_params(state, params):
    for leaf_path, leaf in jax.tree_util.tree_leaves_with_path(state):
        key = getattr(leaf_path[-1], "key", None)
        if key in params and leaf.shape == params[key].shape:
            assert leaf.sharding.is_equivalent_to(params[key].sharding, leaf.ndim), (
                f"{jax.tree_util.keystr(leaf_path)}: {leaf.sharding} vs {params[key].sharding}"
            )


@pytest.mark.parametrize("axis_type", [AxisType.Explicit, AxisType.Auto])
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_state_leaves_are_sharded_like_their_params(name, axis_type):
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(axis_type, axis_type))
    tx = TRANSFORMS[name]()
    with jax.set_mesh(mesh):
        params = make_params(mesh)
        state = jax.jit(tx.init)(params)
        assert_state_follows_params(state, params)
        grads = jax.tree.map(lambda x: 0.01 * x + 1.0, params)

        @jax.jit
        def step(params, state, grads):
            updates, state = tx.update(grads, state, params)
            return gradtx.apply_updates(params, updates), state

        new_params, state = step(params, state, grads)
        assert_state_follows_params(state, params)
        for k in params:
            assert new_params[k].sharding.is_equivalent_to(params[k].sharding, params[k].ndim)


EVERY_OPTIMIZER = {
    **TRANSFORMS,
    "adafactor": lambda: gradtx.adafactor(1e-2, min_dim_size_to_factor=2, momentum=0.9),
    "adafactor_unfactored": lambda: gradtx.adafactor(1e-2),
    "adagrad": lambda: gradtx.adagrad(1e-2),
    "adadelta": lambda: gradtx.adadelta(),
    "adamax": lambda: gradtx.adamax(1e-2),
    "nadam": lambda: gradtx.nadam(1e-2),
    "lion": lambda: gradtx.lion(1e-3),
    "lamb": lambda: gradtx.lamb(1e-2),
    "lars": lambda: gradtx.lars(1e-2),
    "muon": lambda: gradtx.muon(1e-2),
    "lookahead_adam": lambda: gradtx.lookahead(gradtx.adam(1e-2)),
    "param_ema": lambda: gradtx.chain(gradtx.sgd(0.1), gradtx.param_ema(0.9)),
}


@pytest.mark.parametrize("name", sorted(EVERY_OPTIMIZER))
def test_state_shardings_after_eager_init_equal_those_after_an_update(name):
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)
    tx = EVERY_OPTIMIZER[name]()
    with jax.set_mesh(mesh):
        params = make_params(mesh)
        state = tx.init(params)
        grads = jax.tree.map(lambda x: 0.01 * x + 1.0, params)
        _, new_state = jax.jit(tx.update)(grads, state, params)
    flat_new = jax.tree_util.tree_leaves_with_path(new_state)
    for (path, before), (_, after) in zip(jax.tree_util.tree_leaves_with_path(state), flat_new,
                                          strict=True):
        if before.ndim == 0:
            continue  # scalars: the counter and hyperparameters
        assert after.sharding.is_equivalent_to(before.sharding, before.ndim), (
            f"{jax.tree_util.keystr(path)}: {before.sharding.spec} after init, "
            f"{after.sharding.spec} after an update"
        )


def loss_fn(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def test_shard_map_data_parallel_step_equals_full_batch_step():
    mesh = jax.make_mesh((8,), ("batch",), axis_types=(AxisType.Auto,))
    k1, k2 = jax.random.split(jax.random.key(0))
    x = jax.random.normal(k1, (64, 5))
    y = jax.random.normal(k2, (64, 3))
    params = {"w": jnp.ones((5, 3)) * 0.1, "b": jnp.zeros(3)}
    tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adam(1e-2))

    def local_step(params, state, x, y):
        # The gradient of the batch-mean loss; shard_map's typing inserts the reduction of the
        # replicated params' cotangents, so the mean is taken on the loss.
        grads = jax.grad(lambda p: jax.lax.pmean(loss_fn(p, x, y), "batch"))(params)
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state

    dp_step = jax.jit(jax.shard_map(local_step, mesh=mesh,
                                    in_specs=(P(), P(), P("batch"), P("batch")),
                                    out_specs=(P(), P())))
    s_dp = s_full = tx.init(params)
    p_dp = p_full = params
    for _ in range(3):
        p_dp, s_dp = dp_step(p_dp, s_dp, x, y)
        g = jax.grad(loss_fn)(p_full, x, y)
        u, s_full = tx.update(g, s_full, p_full)
        p_full = gradtx.apply_updates(p_full, u)
    for a, b in zip(jax.tree.leaves(p_dp), jax.tree.leaves(p_full), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_pmap_step_matches_single_device():
    n = 4
    params = {"w": jnp.ones((5, 3)) * 0.1, "b": jnp.zeros(3)}
    x = jax.random.normal(jax.random.key(1), (n, 8, 5))
    y = jax.random.normal(jax.random.key(2), (n, 8, 3))
    tx = gradtx.adamw(1e-2)

    def step(params, state, x, y):
        grads = jax.lax.pmean(jax.grad(loss_fn)(params, x, y), "i")
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state

    replicate = lambda t: jax.tree.map(lambda a: jnp.stack([a] * n), t)  # noqa: E731
    p_rep, s_rep = jax.pmap(step, axis_name="i", devices=jax.devices()[:n])(
        replicate(params), replicate(tx.init(params)), x, y)
    g = jax.grad(loss_fn)(params, x.reshape(-1, 5), y.reshape(-1, 3))
    u, _ = tx.update(g, tx.init(params), params)
    expected = gradtx.apply_updates(params, u)
    for k in params:
        for i in range(n):
            np.testing.assert_allclose(p_rep[k][i], expected[k], rtol=1e-10, atol=1e-12)
