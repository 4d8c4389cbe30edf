"""Hyperparameters held in the state: read, set, dtype, recompilation; reduce_on_plateau."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gradtx


def quadratic_grad(params):
    return jax.tree.map(lambda p: 2.0 * p - 1.0, params)


def test_get_hyperparams_names_every_numeric_hyperparameter():
    s = gradtx.adamw(1e-3, weight_decay=0.05).init({"w": jnp.ones(3, jnp.float32)})
    hp = gradtx.get_hyperparams(s)
    assert sorted(hp) == ["b1", "b2", "eps", "eps_root", "learning_rate", "weight_decay"]
    assert float(hp["weight_decay"]) == pytest.approx(0.05)
    assert all(v.dtype == jnp.float32 for v in hp.values())


def test_hyperparams_are_float32_for_low_precision_params_and_float64_for_float64():
    for dtype, expected in [(jnp.bfloat16, jnp.float32), (jnp.float16, jnp.float32),
                            (jnp.float64, jnp.float64)]:
        s = gradtx.adam(1e-3).init({"w": jnp.ones(3, dtype)})
        assert {v.dtype for v in gradtx.get_hyperparams(s).values()} == {jnp.dtype(expected)}
        assert float(gradtx.get_hyperparams(s)["b2"]) == pytest.approx(0.999, rel=1e-7)


def test_ambiguous_names_are_qualified_and_bare_name_raises():
    tx = gradtx.named_chain(fast=gradtx.scale_by_learning_rate(0.1),
                            slow=gradtx.scale_by_learning_rate(0.01))
    s = tx.init({"w": jnp.ones(2)})
    assert sorted(gradtx.get_hyperparams(s)) == ["fast/learning_rate", "slow/learning_rate"]
    with pytest.raises(KeyError, match="ambiguous: qualify it as one of"):
        gradtx.set_hyperparams(s, learning_rate=0.5)
    s = gradtx.set_hyperparams(s, {"slow/learning_rate": 0.5})
    assert float(gradtx.get_hyperparams(s)["slow/learning_rate"]) == 0.5


def test_unknown_hyperparameter_name_lists_known_ones():
    s = gradtx.sgd(0.1).init({"w": jnp.ones(2)})
    with pytest.raises(KeyError, match=r"no hyperparameter named 'lr'; the state holds "
                                       r"\['learning_rate'\]"):
        gradtx.set_hyperparams(s, lr=0.5)


def test_scheduled_learning_rate_is_readable_and_cannot_be_set():
    schedule = lambda step: 0.1 / (1.0 + step)  # noqa: E731
    tx = gradtx.sgd(schedule)
    p = {"w": jnp.ones(2, jnp.float32)}
    s = tx.init(p)
    for step in range(3):
        _, s = tx.update(quadratic_grad(p), s, p)
        assert float(gradtx.get_hyperparams(s)["learning_rate"]) == pytest.approx(
            0.1 / (1.0 + step))
    with pytest.raises(ValueError, match="'learning_rate' follows a schedule"):
        gradtx.set_hyperparams(s, learning_rate=0.3)


def test_changing_learning_rate_between_steps_reuses_the_compiled_step():
    tx = gradtx.adam(1e-2)
    p = {"w": jnp.ones(4, jnp.float32)}
    traces = []

    @jax.jit
    def step(params, state):
        traces.append(1)
        updates, state = tx.update(quadratic_grad(params), state, params)
        return gradtx.apply_updates(params, updates), state

    s = tx.init(p)
    p1, s = step(p, s)
    s = gradtx.set_hyperparams(s, learning_rate=0.5)
    p2, s = step(p1, s)
    assert len(traces) == 1
    # and the new value was used: the second Adam update of size ~lr
    np.testing.assert_allclose(np.abs(np.asarray(p2["w"] - p1["w"])), 0.5, rtol=1e-3)


def test_adam_on_bfloat16_params_stays_finite_for_1000_steps():
    tx = gradtx.adam(1e-3, b2=0.999)
    p = {"w": jnp.linspace(-1, 1, 16, dtype=jnp.bfloat16)}

    def body(carry, _):
        params, state = carry
        updates, state = tx.update(quadratic_grad(params), state, params)
        return (gradtx.apply_updates(params, updates), state), None

    (p, s), _ = jax.jit(lambda c: jax.lax.scan(body, c, None, length=1000))((p, tx.init(p)))
    assert p["w"].dtype == jnp.bfloat16
    assert bool(jnp.all(jnp.isfinite(p["w"])))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(s))


def test_state_held_hyperparams_give_optax_numbers_in_float32():
    p = {"w": jnp.linspace(-1, 1, 8, dtype=jnp.float32)}
    ours, ref = gradtx.adamw(3e-3, weight_decay=1e-2), optax.adamw(3e-3, weight_decay=1e-2)
    s, rs, q, rq = ours.init(p), ref.init(p), p, p
    for _ in range(20):
        u, s = ours.update(quadratic_grad(q), s, q)
        q = gradtx.apply_updates(q, u)
        ru, rs = ref.update(quadratic_grad(rq), rs, rq)
        rq = optax.apply_updates(rq, ru)
    np.testing.assert_allclose(q["w"], rq["w"], rtol=2e-6, atol=1e-7)


def test_adamw_with_two_schedules_has_one_int32_counter():
    sched = lambda step: 1e-3 * (0.9 ** step)  # noqa: E731
    s = gradtx.adamw(sched, weight_decay=sched).init({"w": jnp.ones(3)})
    ints = [x for x in jax.tree.leaves(s) if jnp.issubdtype(x.dtype, jnp.integer)]
    assert len(ints) == 1 and ints[0].dtype == jnp.int32


def plateau_reference(losses, factor, patience, threshold, mode, cooldown, min_scale):
    """torch's ReduceLROnPlateau (mode 'min') with |best| in the relative test."""
    best, bad, cool, scale, out = np.inf, 0, 0, 1.0, []
    for loss in losses:
        margin = threshold * abs(best) if mode == "rel" else threshold
        if loss < (best - margin if np.isfinite(best) else np.inf):
            best, bad = loss, 0
        else:
            bad += 1
        if cool > 0:
            cool, bad = cool - 1, 0
        if bad > patience:
            scale, cool, bad = max(scale * factor, min_scale), cooldown, 0
        out.append(scale)
    return out


@pytest.mark.parametrize("mode", ["rel", "abs"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_reduce_on_plateau_follows_reference_including_negative_losses(mode, sign):
    rng = np.random.default_rng(0)
    losses = sign * (10.0 + np.concatenate([np.linspace(5, 0, 10), rng.uniform(0, 0.05, 30)]))
    if sign < 0:
        losses = -np.concatenate([np.linspace(10, 15, 10), 15 - rng.uniform(0, 0.05, 30)])
    kw = dict(factor=0.5, patience=3, threshold=1e-2, threshold_mode=mode, cooldown=2,
              min_scale=0.1)
    tx = gradtx.reduce_on_plateau(**kw)
    p = {"w": jnp.ones(2)}
    s, got = tx.init(p), []
    step = jax.jit(tx.update)
    for loss in losses:
        u, s = step(p, s, p, value=loss)
        got.append(float(s.scale))
        np.testing.assert_allclose(u["w"], float(s.scale))
    expected = plateau_reference(losses, kw["factor"], kw["patience"], kw["threshold"], mode,
                                 kw["cooldown"], kw["min_scale"])
    np.testing.assert_allclose(got, expected)
    assert min(got) < 1.0


def test_reduce_on_plateau_without_value_names_itself():
    tx = gradtx.reduce_on_plateau()
    with pytest.raises(ValueError, match="reduce_on_plateau: needs the loss"):
        tx.update({"w": jnp.ones(2)}, tx.init({"w": jnp.ones(2)}))


@pytest.mark.parametrize("kwargs, match", [
    (dict(factor=1.0), r"factor must be in \(0.0, 1.0\), got 1.0"),
    (dict(patience=-1), "patience must be a non-negative integer, got -1"),
    (dict(threshold_mode="relative"), "threshold_mode must be 'rel' or 'abs'"),
])
def test_reduce_on_plateau_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gradtx.reduce_on_plateau(**kwargs)


def test_reduce_on_plateau_through_nnx_optimizer():
    model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(model, gradtx.chain(gradtx.sgd(0.1), gradtx.reduce_on_plateau(
        factor=0.5, patience=0)), wrt=nnx.Param)
    grads = jax.tree.map(jnp.ones_like, nnx.state(model, nnx.Param))
    for loss in [3.0, 2.0, 2.0, 2.0]:
        opt.update(model, grads, value=jnp.asarray(loss))
    assert float(opt.opt_state[1].scale[...]) == 0.25


def test_entries_list_every_hyperparameter_by_full_path_with_its_holder():
    from gradtx.blocks.learning_rate import ScaleState
    from gradtx.blocks.preconditioners import ScaleByAdamState
    from gradtx.core import hyperparams

    found = hyperparams.entries(gradtx.adam(1e-3).init({"w": jnp.ones(2, jnp.float32)}))
    assert sorted(found) == [("adam", "b1"), ("adam", "b2"), ("adam", "eps"),
                             ("adam", "eps_root"), ("learning_rate", "learning_rate")]
    assert found[("adam", "b2")].holder is ScaleByAdamState
    assert found[("learning_rate", "learning_rate")].holder is ScaleState
    assert float(found[("adam", "b2")].value) == pytest.approx(0.999)


def test_replace_sets_the_given_paths_unchecked_and_rejects_unknown_ones():
    from gradtx.core import hyperparams

    state = gradtx.adam(1e-3).init({"w": jnp.ones(2, jnp.float32)})
    # 1.5 is out of b1's range: replace does not check
    new = hyperparams.replace(state, {("adam", "b1"): jnp.float32(1.5)})
    assert float(hyperparams.entries(new)[("adam", "b1")].value) == 1.5
    assert float(hyperparams.entries(state)[("adam", "b1")].value) == pytest.approx(0.9)
    with pytest.raises(KeyError, match=r"holds no hyperparameter at \[.adam/b3.\]"):
        hyperparams.replace(state, {("adam", "b3"): 0.5})


def test_a_transform_built_inside_jit_from_traced_values_runs_and_concrete_ones_are_checked():
    params = {"w": jnp.ones(2, jnp.float32)}

    @jax.jit
    def step(lr, b2):
        tx = gradtx.adam(lr, b2=b2)
        return tx.update(quadratic_grad(params), tx.init(params), params)[0]

    np.testing.assert_allclose(step(0.1, 0.99)["w"], gradtx.adam(0.1, b2=0.99).update(
        quadratic_grad(params), gradtx.adam(0.1, b2=0.99).init(params), params)[0]["w"])
    with pytest.raises(ValueError, match=r"b2 must be in \[0.0, 1.0\), got 1.0"):
        gradtx.adam(0.1, b2=1.0)
