"""gradtx inside Flax (TrainState, nnx.Optimizer), Optax (both directions) and Orbax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax import nnx
from flax import serialization as flax_serialization
from flax.training import train_state

import gradtx


class Probe:
    """A transform that stores the ``value`` extra argument it receives (NaN if none)."""

    @staticmethod
    def make():
        def init(params):
            return {"value": jnp.zeros([], jnp.float32)}

        def update(updates, state, params=None, value=None, **extra):
            seen = jnp.nan if value is None else value
            return updates, {"value": jnp.asarray(seen, jnp.float32)}

        return gradtx.GradientTransformation(init, update)


def mlp_params(key=0):
    k1, k2 = jax.random.split(jax.random.key(key))
    return {"w1": jax.random.normal(k1, (4, 8)), "w2": jax.random.normal(k2, (8, 1))}


def mlp_loss(params, x, y):
    return jnp.mean((jnp.tanh(x @ params["w1"]) @ params["w2"] - y) ** 2)


def test_flax_train_state_jitted_step_matches_manual_loop():
    x = jnp.linspace(-1, 1, 32).reshape(8, 4)
    y = jnp.sum(x, axis=1, keepdims=True)
    tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(1e-2))
    state = train_state.TrainState.create(apply_fn=None, params=mlp_params(), tx=tx)

    @jax.jit
    def step(state):
        grads = jax.grad(mlp_loss)(state.params, x, y)
        return state.apply_gradients(grads=grads)

    params, opt_state = mlp_params(), tx.init(mlp_params())
    for _ in range(5):
        state = step(state)
        grads = jax.grad(mlp_loss)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = gradtx.apply_updates(params, updates)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert int(state.opt_state.count) == 5


def test_flax_nnx_optimizer_trains_and_forwards_value_to_transform():
    model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    tx = gradtx.chain(gradtx.adam(1e-1), Probe.make(), gradtx.reduce_on_plateau(patience=0))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    x = jnp.ones((4, 3))

    @nnx.jit
    def step(model, optimizer):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - 2.0) ** 2))(model)
        optimizer.update(model, grads, value=loss)
        return loss

    losses = [float(step(model, optimizer)) for _ in range(20)]
    assert losses[-1] < 0.1 * losses[0]
    probe_state = optimizer.opt_state[1]
    assert float(probe_state["value"][...]) == pytest.approx(losses[-1], rel=1e-6)


def test_optax_transforms_inside_gradtx_chain():
    p = mlp_params()
    g = jax.tree.map(lambda x: 0.3 * x + 0.1, p)
    ours = gradtx.chain(optax.clip_by_global_norm(0.5), gradtx.scale_by_adam(),
                        optax.scale_by_learning_rate(0.1))
    ref = optax.chain(optax.clip_by_global_norm(0.5), optax.scale_by_adam(),
                      optax.scale_by_learning_rate(0.1))
    s, rs = ours.init(p), ref.init(p)
    for _ in range(3):
        u, s = ours.update(g, s, p)
        ru, rs = ref.update(g, rs, p)
    np.testing.assert_allclose(u["w1"], ru["w1"], rtol=1e-12)


def test_gradtx_transforms_inside_optax_chain():
    p = mlp_params()
    g = jax.tree.map(lambda x: 0.3 * x + 0.1, p)
    ours = optax.chain(optax.clip_by_global_norm(0.5), gradtx.adamw(1e-2, weight_decay=1e-3))
    ref = optax.chain(optax.clip_by_global_norm(0.5), optax.adamw(1e-2, weight_decay=1e-3))
    s, rs = ours.init(p), ref.init(p)
    for _ in range(3):
        u, s = ours.update(g, s, p)
        ru, rs = ref.update(g, rs, p)
    np.testing.assert_allclose(u["w2"], ru["w2"], rtol=1e-12)


def test_optax_chain_drops_extra_args_unless_adapted_with_as_optax():
    p = mlp_params()
    plain = optax.chain(optax.identity(), Probe.make())
    _, s = plain.update(p, plain.init(p), p, value=1.5)
    assert np.isnan(float(s[1]["value"]))  # optax dropped the extra argument
    adapted = optax.chain(optax.identity(), gradtx.as_optax(Probe.make()))
    _, s = adapted.update(p, adapted.init(p), p, value=1.5)
    assert float(s[1]["value"]) == 1.5


def chain_state_after_steps():
    p = {"w": jnp.arange(6.0, dtype=jnp.float32).reshape(2, 3), "b": jnp.ones(3, jnp.bfloat16)}
    tx = gradtx.named_chain(clip=gradtx.clip_by_global_norm(1.0),
                            adam=gradtx.adamw(gradtx_schedule(), weight_decay=1e-3))
    s = tx.init(p)
    for _ in range(2):
        _, s = tx.update(jax.tree.map(jnp.ones_like, p), s, p)
    return tx, p, s


def gradtx_schedule():
    return lambda step: 0.1 / (1.0 + step)


def assert_same_state(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert type(x) is type(y) or (hasattr(x, "dtype") and hasattr(y, "dtype"))
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_flax_serialization_round_trips_chain_state():
    tx, p, s = chain_state_after_steps()
    blob = flax_serialization.to_bytes(s)
    restored = flax_serialization.from_bytes(tx.init(p), blob)
    assert_same_state(s, restored)
    assert type(restored) is type(s) and type(restored["adam"]) is type(s["adam"])


def test_orbax_standard_checkpointer_round_trips_chain_state(tmp_path):
    tx, p, s = chain_state_after_steps()
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(tmp_path / "state", s)
        ckpt.wait_until_finished()
        restored = ckpt.restore(tmp_path / "state", target=tx.init(p))
    assert_same_state(s, restored)
    assert type(restored) is type(s)
