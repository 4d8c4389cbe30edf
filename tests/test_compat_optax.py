"""``gradtx.compat.optax`` gives optax 0.2.8's numbers: every alias, with optax's defaults and
with non-default arguments, against optax itself on the shared problem (float64, 50 steps),
jitted without recompiling, with extra arguments accepted and dtypes kept."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference_numpy as ref

import gradtx.compat.optax as goptax

PROBLEM = ref.make_problem()
MASK = {"bias": False, "kernel": True}


@jax.jit
def _grad_tree(params):
    theta = jnp.concatenate([params["bias"], params["kernel"].ravel()])
    g = jnp.asarray(PROBLEM.A) @ theta - jnp.asarray(PROBLEM.b) + PROBLEM.gamma * theta**3
    return {"bias": g[:3], "kernel": g[3:].reshape(2, 2)}


def trajectory(tx, steps=ref.STEPS, dtype=jnp.float64):
    params = {k: jnp.asarray(v, dtype) for k, v in ref.to_params(PROBLEM.theta0).items()}
    state = tx.init(params)
    step = jax.jit(lambda g, s, p: tx.update(g, s, p))
    out = [ref.from_params(params)]
    for _ in range(steps):
        updates, state = step(_grad_tree(params), state, params)
        params = optax.apply_updates(params, updates)
        out.append(ref.from_params(params))
    return np.array(out)


# (name, args, kwargs): each runs in both libraries with the same arguments.
CASES = [
    ("sgd", (0.05,), {}),
    ("sgd", (0.05,), {"momentum": 0.9, "nesterov": True}),
    ("adam", (0.05,), {}),
    ("adam", (0.05, 0.8, 0.99, 1e-6, 1e-4), {"nesterov": True}),
    ("adamw", (0.05,), {}),
    ("adamw", (0.05,), {"weight_decay": 0.1, "mask": MASK}),
    ("nadam", (0.05,), {}),
    ("rmsprop", (0.01,), {}),
    ("rmsprop", (0.01,), {"eps_in_sqrt": False, "centered": True, "momentum": 0.9}),
    ("rmsprop", (0.01,), {"initial_scale": 0.1, "momentum": 0.5, "nesterov": True}),
    ("rmsprop", (0.01,), {"bias_correction": True}),
    ("rmsprop", (0.01,), {"centered": True, "bias_correction": True, "initial_scale": 1.0}),
    ("adagrad", (0.5,), {}),
    ("adadelta", (), {}),
    ("adadelta", (1.0,), {"rho": 0.8, "weight_decay": 0.01}),
    ("adamax", (0.05,), {}),
    ("lion", (0.01,), {}),
    ("lamb", (0.01,), {"weight_decay": 0.02}),
    ("lars", (0.5,), {"trust_coefficient": 0.01}),
    ("lars", (0.5,), {"weight_decay": 0.01, "trust_coefficient": 0.01, "nesterov": True}),
    ("adafactor", (0.05,), {"min_dim_size_to_factor": 2, "momentum": 0.9}),
    ("yogi", (0.05,), {}),
    ("radam", (0.05,), {}),
    ("adabelief", (0.05,), {}),
    ("nadamw", (0.05,), {"weight_decay": 0.1}),
    ("adamaxw", (0.05,), {}),
    ("novograd", (0.05,), {}),
    ("sign_sgd", (0.01,), {}),
    ("signum", (0.01,), {}),
    ("fromage", (0.01,), {}),
    ("sm3", (0.1,), {}),
    ("optimistic_gradient_descent", (0.05,), {}),
    ("optimistic_adam", (0.05,), {"optimism": 0.05}),
    ("optimistic_adam_v2", (0.05,), {"alpha": 0.7, "beta": 0.2}),
    # optax's own formulas, where gradtx's native aliases follow the papers or torch
    ("amsgrad", (0.05,), {}),
    ("amsgrad", (0.05,), {"bias_correction_mu": False, "bias_correction_nu": False}),
    ("adan", (0.05,), {}),
    ("adan", (0.05, 0.9, 0.8, 0.95), {"weight_decay": 0.01}),
    ("rprop", (0.05,), {}),
    ("rprop", (0.05, 0.4, 1.5, 1e-3, 0.2), {}),
]


def _id(case):
    name, args, kwargs = case
    return "-".join([name, *map(str, args), *(f"{k}={v}" for k, v in kwargs.items()
                                              if k != "mask")])


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_alias_equals_optax(case):
    name, args, kwargs = case
    ours = trajectory(getattr(goptax, name)(*args, **kwargs))
    theirs = trajectory(getattr(optax, name)(*args, **kwargs))
    # optax computes Adafactor's decay 1 − t^(−0.8) in float32 whatever the params' dtype
    rtol, atol = (1e-4, 1e-6) if name == "adafactor" else (1e-9, 1e-12)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop", "lion"])
def test_alias_keeps_dtypes_accepts_extra_args_and_does_not_recompile(name):
    tx = getattr(goptax, name)(1e-2)
    params = {"w": jnp.ones((3, 2), jnp.bfloat16), "b": jnp.zeros(2, jnp.float32)}
    state = tx.init(params)
    traces = []

    @jax.jit
    def step(grads, state, params):
        traces.append(1)
        return tx.update(grads, state, params, value=jnp.float32(1.0))

    for _ in range(2):
        updates, state = step(jax.tree.map(jnp.ones_like, params), state, params)
    assert len(traces) == 1
    assert jax.tree.map(lambda u: u.dtype, updates) == jax.tree.map(lambda p: p.dtype, params)


def test_adadelta_without_learning_rate_climbs_as_in_optax():
    ours = trajectory(goptax.adadelta())
    assert PROBLEM.loss(ours[-1]) > PROBLEM.loss(ours[0])


def test_what_is_not_provided_says_so():
    with pytest.raises(NotImplementedError, match="decay_offset != 0 is not provided"):
        goptax.adafactor(0.1, decay_offset=10)
    with pytest.raises(NotImplementedError, match="step_offset != 0 is not provided"):
        goptax.scale_by_factored_rms(step_offset=10)
    with pytest.raises(NotImplementedError, match="a decay_rate_fn is not provided"):
        goptax.scale_by_factored_rms(decay_rate_fn=lambda t, c: 0.5)
    with pytest.raises(NotImplementedError, match="min_norm > 0 together with"):
        goptax.scale_by_trust_ratio(min_norm=0.1, trust_coefficient=0.5)


def _train_linen_with(opt_lib, steps=30):
    """A linen ``TrainState`` loop written against optax's API, run with ``opt_lib``."""
    import flax.linen as nn
    from flax.training import train_state

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(3)(nn.gelu(nn.Dense(16)(x)))

    x = jax.random.normal(jax.random.key(0), (32, 5), jnp.float32)
    y = jax.random.normal(jax.random.key(1), (32, 3), jnp.float32)
    model = Model()
    schedule = opt_lib.join_schedules(
        [opt_lib.linear_schedule(0.0, 1e-2, 5),
         opt_lib.cosine_decay_schedule(1e-2, steps - 5, alpha=0.1)], [5])
    tx = opt_lib.chain(opt_lib.clip_by_global_norm(1.0),
                       opt_lib.adamw(schedule, weight_decay=1e-3))
    state = train_state.TrainState.create(apply_fn=model.apply,
                                          params=model.init(jax.random.key(2), x)["params"],
                                          tx=tx)

    @jax.jit
    def step(state):
        def loss(p):
            return jnp.mean((state.apply_fn({"params": p}, x) - y) ** 2)

        value, grads = jax.value_and_grad(loss)(state.params)
        return state.apply_gradients(grads=grads), value

    losses = []
    for _ in range(steps):
        state, value = step(state)
        losses.append(float(value))
    return np.array(losses)


def test_a_linen_training_loop_runs_unchanged_with_the_same_loss_curve():
    theirs = _train_linen_with(optax)
    ours = _train_linen_with(goptax)
    assert theirs[-1] < theirs[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_inject_hyperparams_and_multisteps_read_and_run_as_in_optax():
    def run(lib):
        tx = lib.MultiSteps(lib.inject_hyperparams(lib.adamw)(learning_rate=0.05,
                                                               weight_decay=0.1), 2)
        params = {k: jnp.asarray(v) for k, v in ref.to_params(PROBLEM.theta0).items()}
        state = tx.init(params)
        for i in range(6):
            if i == 4:
                inner = state.inner_opt_state
                inner.hyperparams["learning_rate"] = jnp.asarray(0.01, jnp.float64)
            updates, state = tx.update(_grad_tree(params), state, params)
            params = optax.apply_updates(params, updates)
        return ref.from_params(params), state.inner_opt_state.hyperparams["learning_rate"]

    (ours, our_lr), (theirs, their_lr) = run(goptax), run(optax)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7)
    assert float(our_lr) == float(their_lr) == 0.01


def _train_nnx_cnn_with(opt_lib, steps=15):
    """An nnx CNN loop (``nnx.Optimizer``) written against optax's API, run with ``opt_lib``."""
    from flax import nnx

    class CNN(nnx.Module):
        def __init__(self, rngs):
            self.conv = nnx.Conv(1, 4, kernel_size=(3, 3), rngs=rngs)
            self.dense = nnx.Linear(8 * 8 * 4, 10, rngs=rngs)

        def __call__(self, x):
            return self.dense(nnx.relu(self.conv(x)).reshape(x.shape[0], -1))

    x = jax.random.normal(jax.random.key(3), (16, 8, 8, 1), jnp.float32)
    labels = jax.random.randint(jax.random.key(4), (16,), 0, 10)
    model = CNN(nnx.Rngs(0))
    tx = opt_lib.chain(opt_lib.clip_by_global_norm(1.0), opt_lib.adamw(
        opt_lib.warmup_cosine_decay_schedule(0.0, 1e-2, 3, steps), weight_decay=1e-4))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        def loss_fn(m):
            logits = m(x)
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1))

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    return np.array([float(step(model, optimizer)) for _ in range(steps)])


def test_an_nnx_cnn_loop_runs_unchanged_with_the_same_loss_curve():
    theirs = _train_nnx_cnn_with(optax)
    ours = _train_nnx_cnn_with(goptax)
    assert theirs[-1] < theirs[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def _train_tiny_lm_with(opt_lib, steps=12, vocab=16, d=8, seq=6):
    """A one-layer attention LM with a joined warmup / rsqrt schedule, in plain JAX."""
    keys = jax.random.split(jax.random.key(5), 5)
    params = {"embed": jax.random.normal(keys[0], (vocab, d)) * 0.1,
              "qkv": jax.random.normal(keys[1], (d, 3 * d)) * 0.1,
              "out": jax.random.normal(keys[2], (d, vocab)) * 0.1,
              "norm": jnp.ones(d)}
    tokens = jax.random.randint(keys[3], (4, seq + 1), 0, vocab)

    def loss_fn(p):
        h = p["embed"][tokens[:, :-1]] * p["norm"]
        q, k, v = jnp.split(h @ p["qkv"], 3, axis=-1)
        mask = jnp.tril(jnp.ones((seq, seq), bool))
        att = jnp.where(mask, q @ k.swapaxes(-1, -2) / jnp.sqrt(d), -1e9)
        logits = (jax.nn.softmax(att) @ v + h) @ p["out"]
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, tokens[:, 1:, None], -1))

    warmup = 4
    schedule = opt_lib.join_schedules(
        [opt_lib.linear_schedule(0.0, 3e-2, warmup),
         lambda t: 3e-2 * jax.lax.rsqrt(jnp.maximum(t, 1.0) / 1.0)], [warmup])
    tx = opt_lib.chain(opt_lib.clip_by_global_norm(1.0), opt_lib.adam(schedule))
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = tx.update(grads, state, params)
        return opt_lib.apply_updates(params, updates), state, loss

    losses = []
    for _ in range(steps):
        params, state, loss = step(params, state)
        losses.append(float(loss))
    return np.array(losses)


def test_a_transformer_lm_with_a_joined_warmup_rsqrt_schedule_gives_the_same_curve():
    theirs = _train_tiny_lm_with(optax)
    ours = _train_tiny_lm_with(goptax)
    assert theirs[-1] < theirs[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
