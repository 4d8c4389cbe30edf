"""The Flax recipes of the flat path (docs/flat.md): an nnx model whose ``nnx.Param`` state is
raveled, and a linen ``TrainState`` holding ``FlatParams``; both train exactly as the same
model with tree params."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from flax.training import train_state

import gradtx

X = jax.random.normal(jax.random.key(0), (16, 4), jnp.float32)
Y = jax.random.normal(jax.random.key(1), (16, 2), jnp.float32)
STEPS = 5


class NnxModel(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.dense1 = nnx.Linear(4, 8, use_bias=False, rngs=rngs)  # a bias before BatchNorm has
        # no gradient but rounding noise, which Adam would amplify into ±lr steps
        self.norm = nnx.BatchNorm(8, rngs=rngs)
        self.dense2 = nnx.Linear(8, 2, rngs=rngs)

    def __call__(self, x):
        return self.dense2(nnx.relu(self.norm(self.dense1(x))))


def _tx():
    return gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(1e-2, weight_decay=0.1))


def _nnx_tree_run():
    graphdef, params, rest = nnx.split(NnxModel(nnx.Rngs(0)), nnx.Param, ...)
    tx = _tx()
    opt_state = tx.init(params)

    @jax.jit
    def step(params, rest, opt_state):
        def loss(params):
            model = nnx.merge(graphdef, params, rest, copy=True)
            return jnp.mean((model(X) - Y) ** 2), nnx.state(model, nnx.BatchStat)

        (value, stats), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return gradtx.apply_updates(params, updates), stats, opt_state, value

    for _ in range(STEPS):
        params, stats, opt_state, value = step(params, rest, opt_state)
        rest = nnx.merge_state(rest, stats)
    return params, rest, value


def _nnx_flat_run():
    # The recipe: split, ravel the nnx.Param state, merge flat.unravel() inside the loss.
    graphdef, params, rest = nnx.split(NnxModel(nnx.Rngs(0)), nnx.Param, ...)
    flat = gradtx.flat.ravel(params)
    tx = _tx()
    opt_state = tx.init(flat)

    @jax.jit
    def step(flat, rest, opt_state):
        def loss(flat):
            model = nnx.merge(graphdef, flat.unravel(), rest, copy=True)
            return jnp.mean((model(X) - Y) ** 2), nnx.state(model, nnx.BatchStat)

        (value, stats), grads = jax.value_and_grad(loss, has_aux=True)(flat)
        assert isinstance(grads, gradtx.flat.FlatParams) and grads.layout == flat.layout
        updates, opt_state = tx.update(grads, opt_state, flat)
        return gradtx.apply_updates(flat, updates), stats, opt_state, value

    for _ in range(STEPS):
        flat, stats, opt_state, value = step(flat, rest, opt_state)
        rest = nnx.merge_state(rest, stats)
    return flat, rest, opt_state, value


def test_nnx_recipe_trains_as_tree_params():
    params, rest, value = _nnx_tree_run()
    flat, flat_rest, opt_state, flat_value = _nnx_flat_run()
    np.testing.assert_allclose(flat_value, value, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(flat.unravel()), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for a, b in zip(jax.tree.leaves(flat_rest), jax.tree.leaves(rest), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # the optimizer state is flat: two buffers (m, v) per bucket, not two per leaf
    moments = opt_state[1]["adam"]
    assert isinstance(moments.mu, gradtx.flat.FlatParams)
    assert len(jax.tree.leaves(moments.mu)) == len(flat.buffers) == 1
    model = nnx.merge(nnx.graphdef(NnxModel(nnx.Rngs(0))), flat.unravel(), flat_rest)
    assert model(X).shape == (16, 2)


class LinenModel(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(2)(nn.relu(nn.Dense(8)(x)))


def _linen_run(flat: bool):
    model = LinenModel()
    params = model.init(jax.random.key(2), X)["params"]
    if flat:
        params = gradtx.flat.ravel(params)

    def apply_fn(variables, x):  # the recipe: unravel where linen reads the params
        p = variables["params"]
        return model.apply({"params": p.unravel() if flat else p}, x)

    state = train_state.TrainState.create(apply_fn=apply_fn, params=params,
                                          tx=gradtx.adam(1e-2))

    @jax.jit
    def step(state):
        def loss(p):
            return jnp.mean((state.apply_fn({"params": p}, X) - Y) ** 2)

        value, grads = jax.value_and_grad(loss)(state.params)
        return state.apply_gradients(grads=grads), value

    for _ in range(STEPS):
        state, value = step(state)
    return state, value


def test_linen_train_state_recipe_trains_as_tree_params():
    tree_state, tree_value = _linen_run(flat=False)
    flat_state, flat_value = _linen_run(flat=True)
    assert isinstance(flat_state.params, gradtx.flat.FlatParams)
    assert int(flat_state.step) == STEPS
    np.testing.assert_allclose(flat_value, tree_value, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(flat_state.params.unravel()),
                    jax.tree.leaves(tree_state.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
