"""optax-named extras (gradtx.blocks.extras, gradtx.wrappers.optax_extras) against optax."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
from gradtx.blocks import extras as bx
from gradtx.flat import ravel
from gradtx.wrappers import optax_extras as wx

DTYPES = [jnp.float32, jnp.float64]


def make_tree(dtype, seed=0):
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    return {
        "w": jax.random.normal(k[0], (4, 3), dtype),
        "b": jax.random.normal(k[1], (3,), dtype),
        "conv": jax.random.normal(k[2], (2, 2, 3, 2), dtype),
        "s": jax.random.normal(k[3], (), dtype),
    }


def grads_seq(dtype, n=6, scale=1.0):
    return [jax.tree.map(lambda x: scale * x, make_tree(dtype, seed=10 + i)) for i in range(n)]


def assert_close(a, b, rtol=1e-6):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=1e-7)


def run_both(ours, theirs, dtype, grads=None, n=6, with_params=True, **extra):
    """Runs both transforms (jitted) over the same gradients, applying the updates."""
    params = make_tree(dtype)
    grads = grads if grads is not None else grads_seq(dtype, n)
    so, st = ours.init(params), theirs.init(params)
    po = pt = params
    uo_jit = jax.jit(functools.partial(ours.update, **extra))
    ut_jit = jax.jit(theirs.update)
    for g in grads:
        uo, so = uo_jit(g, so, po if with_params else None)
        ut, st = ut_jit(g, st, pt if with_params else None)
        assert_close(uo, ut)
        po, pt = optax.apply_updates(po, uo), optax.apply_updates(pt, ut)
    assert uo_jit._cache_size() == 1, "the jitted update recompiled"
    return so, st


def msg(text):
    return "^" + re.escape(text) + "$"


# ------------------------------------------------------------------------------- blocks


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_nans_matches_optax(dtype):
    grads = [jax.tree.map(np.array, g) for g in grads_seq(dtype, 3)]
    grads[1]["w"][0, 1] = np.nan
    grads[2]["s"] = np.asarray(np.nan, dtype)
    so, st = run_both(bx.zero_nans(), optax.zero_nans(), dtype, grads)
    assert_close(so.found_nan, st.found_nan)
    assert bool(so.found_nan["s"]) and not bool(so.found_nan["w"])


@pytest.mark.parametrize("name", ["centralize", "set_to_zero"])
def test_stateless_blocks_match_optax(name):
    run_both(getattr(bx, name)(), getattr(optax, name)(), jnp.float32, n=3, value=1.0)


def test_zero_nans_on_flat_params_flags_each_buffer():
    params = make_tree(jnp.float32)
    g = jax.tree.map(np.array, make_tree(jnp.float32, seed=3))
    g["b"][1] = np.nan
    tx = bx.zero_nans()
    flat = ravel(params)
    out, s = jax.jit(tx.update)(ravel(g, like=flat), tx.init(flat))
    assert np.isfinite(np.asarray(out.unravel()["b"])).all()
    assert [bool(x) for x in jax.tree.leaves(s.found_nan)] == [True]


def test_centralize_on_flat_params_equals_the_tree():
    params = make_tree(jnp.float32)
    g = make_tree(jnp.float32, seed=3)
    tx = bx.centralize()
    ref, _ = tx.update(g, tx.init(params))
    flat_g = ravel(g)
    out, _ = tx.update(flat_g, tx.init(ravel(params)))
    assert_close(out.unravel(), ref)


def test_global_norm_and_unitwise_norm_match_optax():
    dtype = jnp.float32
    t = make_tree(dtype)
    np.testing.assert_allclose(bx.global_norm(t), optax.tree.norm(t), rtol=1e-6)
    xs = [*jax.tree.leaves(t), jnp.ones((2, 3, 4), dtype), jnp.ones((1, 2, 2, 3, 2), dtype)]
    ours = jax.jit(lambda xs: [bx.unitwise_norm(x) for x in xs])(xs)
    theirs = jax.jit(lambda xs: [optax.transforms.unitwise_norm(x) for x in xs])(xs)
    assert_close(ours, theirs)
    x = jnp.arange(24.0, dtype=dtype).reshape(2, 3, 4)
    np.testing.assert_allclose(bx.unitwise_norm(x, axis=(1, 2)),
                               optax.transforms.unitwise_norm(x, axis=(1, 2)), rtol=1e-6)
    with pytest.raises(ValueError, match=msg(
            "unitwise_norm: expected an array of rank 1 to 5, got shape (2, 2, 2, 2, 2, 2); "
            "pass axis to choose the reduction axes for other shapes")):
        bx.unitwise_norm(jnp.ones((2,) * 6))


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_grad_clip_matches_optax(dtype):
    run_both(bx.adaptive_grad_clip(0.05), optax.adaptive_grad_clip(0.05), dtype, value=1.0)
    params = {k: v for k, v in make_tree(dtype).items() if k != "s"}
    g = {k: 3 * v for k, v in make_tree(dtype, 4).items() if k != "s"}
    ours, theirs = bx.adaptive_grad_clip(0.1, eps=0.5, axis=0), \
        optax.adaptive_grad_clip(0.1, eps=0.5, axis=0)
    assert_close(ours.update(g, ours.init(params), params)[0],
                 theirs.update(g, theirs.init(params), params)[0])


def test_adaptive_grad_clip_on_flat_params_equals_the_tree():
    params = make_tree(jnp.float32)
    g = make_tree(jnp.float32, seed=5)
    tx = bx.adaptive_grad_clip(0.05)
    ref, _ = tx.update(g, tx.init(params), params)
    flat_p = ravel(params)
    out, _ = jax.jit(tx.update)(ravel(g, like=flat_p), tx.init(flat_p), flat_p)
    assert_close(out.unravel(), ref)


def test_adaptive_grad_clip_errors():
    with pytest.raises(ValueError, match=msg(
            "adaptive_grad_clip: clipping must be in [0.0, inf), got -1.0")):
        bx.adaptive_grad_clip(-1.0)
    with pytest.raises(ValueError, match=msg(
            "adaptive_grad_clip: eps must be in [0.0, inf), got -0.1")):
        bx.adaptive_grad_clip(0.1, eps=-0.1)
    with pytest.raises(TypeError, match=msg(
            "adaptive_grad_clip: axis must be None, an int or a tuple of ints, got str 'a'")):
        bx.adaptive_grad_clip(0.1, axis="a")
    tx = bx.adaptive_grad_clip(0.1)
    p = make_tree(jnp.float32)
    with pytest.raises(ValueError, match=msg(
            "adaptive_grad_clip: needs the params; call update(updates, state, params)")):
        tx.update(p, tx.init(p))


# ------------------------------------------------------------------------------ wrappers


@pytest.mark.parametrize(("dtype", "k"), [(jnp.float32, 1), (jnp.float64, 3)])
def test_apply_every_matches_optax(dtype, k):
    so, st = run_both(gradtx.chain(wx.apply_every(k), gradtx.sgd(0.1)),
                      optax.chain(optax.apply_every(k), optax.sgd(0.1)), dtype, n=7)
    assert int(so[0].count) == int(st[0].count)
    assert_close(so[0].grad_acc, st[0].grad_acc)


@pytest.mark.parametrize(("dtype", "name"), [(jnp.float32, "conditionally_mask"),
                                             (jnp.float64, "conditionally_transform")])
def test_conditional_wrappers_match_optax(dtype, name):
    def fn(step):
        return step % 3 != 1

    ours = getattr(wx, name)(optax.adam(0.1), fn)
    theirs = getattr(optax, name)(optax.adam(0.1), fn)
    so, st = run_both(ours, theirs, dtype, n=7)
    assert int(so.step) == int(st.step) == 7
    assert int(so.count) == 5
    assert_close(so.inner_state, st.inner_state)


def test_conditional_wrappers_forward_extra_args_and_step_gradtx_inner():
    def fn(step, value):
        return value > 0

    ours = wx.conditionally_mask(gradtx.adam(0.1), fn, forward_extra_args=True)
    theirs = optax.conditionally_mask(optax.adam(0.1), fn, forward_extra_args=True)
    p = make_tree(jnp.float64)
    so, st = ours.init(p), theirs.init(p)
    step_o, step_t = jax.jit(ours.update), jax.jit(theirs.update)
    for i, g in enumerate(grads_seq(jnp.float64, 4)):
        v = jnp.float64(-1.0 if i == 1 else 1.0)
        uo, so = step_o(g, so, p, value=v)
        ut, st = step_t(g, st, p, value=v)
        assert_close(uo, ut)
    assert int(so.count) == 3 and step_o._cache_size() == 1


def test_incremental_and_periodic_update_match_optax():
    new, old = make_tree(jnp.float32, 1), make_tree(jnp.float32, 2)
    assert_close(wx.incremental_update(new, old, 0.3), optax.incremental_update(new, old, 0.3))
    for s in range(4):
        assert_close(wx.periodic_update(new, old, s, 2), optax.periodic_update(new, old, s, 2))
    assert_close(jax.jit(wx.periodic_update)(new, old, 3, 3), new)
    with pytest.raises(ValueError, match=msg(
            "incremental_update: step_size must be in [0.0, 1.0], got 1.5")):
        wx.incremental_update(new, old, 1.5)
    with pytest.raises(ValueError, match=msg(
            "periodic_update: update_period must be in [1, inf), got 0")):
        wx.periodic_update(new, old, 1, 0)


@pytest.mark.parametrize(("dtype", "mean"), [(jnp.float32, True), (jnp.float64, False)])
def test_multisteps_matches_optax(dtype, mean):
    ours = wx.MultiSteps(optax.adam(0.1), 3, use_grad_mean=mean)
    theirs = optax.MultiSteps(optax.adam(0.1), 3, use_grad_mean=mean)
    so, st = run_both(ours.gradient_transformation(), theirs.gradient_transformation(),
                      dtype, n=7)
    assert int(so.gradient_step) == int(st.gradient_step) == 2
    assert bool(ours.has_updated(so)) == bool(theirs.has_updated(st))
    assert_close(so.acc_grads, st.acc_grads)


@pytest.mark.parametrize("skip", ["not_finite", "large"])
def test_multisteps_skip_functions_match_optax(skip):
    if skip == "not_finite":
        fo, ft = wx.skip_not_finite, optax.skip_not_finite
    else:
        fo = functools.partial(wx.skip_large_updates, max_squared_norm=60.0)
        ft = functools.partial(optax.skip_large_updates, max_squared_norm=60.0)
    grads = grads_seq(jnp.float32, 8)
    grads[2]["b"] = grads[2]["b"].at[0].set(jnp.inf)
    grads[5] = jax.tree.map(lambda x: 100 * x, grads[5])
    ours = wx.MultiSteps(optax.sgd(0.1), lambda step: 2 + step % 2, should_skip_update_fn=fo)
    theirs = optax.MultiSteps(optax.sgd(0.1), lambda step: 2 + step % 2,
                              should_skip_update_fn=ft)
    so, st = run_both(ours.gradient_transformation(), theirs.gradient_transformation(),
                      jnp.float32, grads)
    assert_close(so.skip_state, st.skip_state)
    assert int(so.mini_step) == int(st.mini_step)


def test_multisteps_with_a_gradtx_inner_matches_optax_and_accepts_extra_args():
    ours = wx.MultiSteps(gradtx.adam(0.1), 2)
    theirs = optax.MultiSteps(optax.adam(0.1), 2)
    run_both(ours.gradient_transformation(), theirs.gradient_transformation(), jnp.float64,
             n=6, value=jnp.float64(1.0))


def test_multisteps_errors():
    with pytest.raises(ValueError, match=msg(
            "MultiSteps: every_k_schedule must be in [1, inf), got 0")):
        wx.MultiSteps(optax.sgd(0.1), 0)
    with pytest.raises(TypeError, match=msg(
            "MultiSteps: every_k_schedule must be an int, got float 2.0")):
        wx.MultiSteps(optax.sgd(0.1), 2.0)
    with pytest.raises(TypeError, match=msg(
            "MultiSteps: should_skip_update_fn must be callable or None, got int 3")):
        wx.MultiSteps(optax.sgd(0.1), 2, should_skip_update_fn=3)
    with pytest.raises(TypeError, match=msg("MultiSteps: opt must be a GradientTransformation, "
                                            "got int")):
        wx.MultiSteps(3, 2)
    m = wx.MultiSteps(optax.sgd(0.1), 2, should_skip_update_fn=lambda u, s, p: (1, ()))
    p = make_tree(jnp.float32)
    with pytest.raises(ValueError, match="should return a boolean scalar"):
        m.update(p, m.init(p), p)


def test_apply_every_and_conditional_errors():
    with pytest.raises(ValueError, match=msg("apply_every: k must be in [1, inf), got 0")):
        wx.apply_every(0)
    with pytest.raises(TypeError, match=msg("apply_every: k must be an int, got float 2.0")):
        wx.apply_every(2.0)
    with pytest.raises(TypeError, match=msg(
            "conditionally_mask: should_transform_fn must be callable, got int 1")):
        wx.conditionally_mask(optax.sgd(0.1), 1)
    with pytest.raises(TypeError, match=msg(
            "conditionally_transform: forward_extra_args must be a bool, got int 1")):
        wx.conditionally_transform(optax.sgd(0.1), lambda s: True, 1)


# ---------------------------------------------------------------------- inject_hyperparams


@pytest.mark.parametrize("dtype", DTYPES)
def test_inject_hyperparams_matches_optax_with_schedules(dtype):
    sched = optax.linear_schedule(0.1, 0.01, 5)
    ours = wx.inject_hyperparams(optax.adam)(learning_rate=sched, b1=0.8)
    theirs = optax.inject_hyperparams(optax.adam)(learning_rate=sched, b1=0.8)
    so, st = run_both(ours, theirs, dtype, n=6, value=1.0)
    assert set(so.hyperparams) == set(st.hyperparams)
    for k in st.hyperparams:
        np.testing.assert_allclose(so.hyperparams[k], st.hyperparams[k], rtol=1e-6)
        assert so.hyperparams[k].dtype == st.hyperparams[k].dtype
    assert_close(so.inner_state, st.inner_state)


def test_inject_hyperparams_dict_writes_take_effect_without_recompiling():
    ours = wx.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9)
    theirs = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9)
    p = make_tree(jnp.float32)
    so, st = ours.init(p), theirs.init(p)
    step = jax.jit(ours.update)
    for i, g in enumerate(grads_seq(jnp.float32, 4)):
        if i == 2:
            so.hyperparams["learning_rate"] = jnp.asarray(0.5, jnp.float32)
            st.hyperparams["learning_rate"] = jnp.asarray(0.5, jnp.float32)
        uo, so = step(g, so, p)
        ut, st = theirs.update(g, st, p)
        assert_close(uo, ut)
    assert step._cache_size() == 1
    np.testing.assert_allclose(so.hyperparams["learning_rate"], 0.5)
    so = so._replace(hyperparams={**so.hyperparams, "momentum": jnp.float32(0.0)})
    g = make_tree(jnp.float32, 9)
    uo, _ = step(g, so, p)
    assert_close(uo, jax.tree.map(lambda x: -0.5 * x, g))


def test_inject_hyperparams_static_args_and_errors():
    def factory(learning_rate, fn=None, flag=False):
        return optax.chain(optax.scale(-learning_rate), optax.stateless(
            lambda u, p: jax.tree.map(fn, u) if fn else u))

    tx = wx.inject_hyperparams(factory, static_args="fn")(0.5, fn=jnp.negative, flag=True)
    p = {"a": jnp.ones(2, jnp.float32)}
    u, s = tx.update(p, tx.init(p), p)
    np.testing.assert_allclose(u["a"], 0.5 * np.ones(2))
    assert set(s.hyperparams) == {"learning_rate"}
    with pytest.raises(ValueError, match=msg(
            "inject_hyperparams: static_args must name parameters of inner_factory; unknown "
            "['nope'], inner_factory takes ['learning_rate', 'fn', 'flag']")):
        wx.inject_hyperparams(factory, static_args=("nope",))
    with pytest.raises(TypeError, match=msg(
            "inject_hyperparams: inner_factory must be callable, got int 3")):
        wx.inject_hyperparams(3)
    with pytest.raises(TypeError, match=msg(
            "inject_hyperparams: hyperparam_dtype must be a dtype or None, got 'nodtype'")):
        wx.inject_hyperparams(factory, hyperparam_dtype="nodtype")


def test_inject_hyperparams_dtype_override_and_gradtx_chain():
    tx = gradtx.chain(wx.inject_hyperparams(optax.sgd, hyperparam_dtype=jnp.float32)(0.1))
    p = make_tree(jnp.float64)
    s = tx.init(p)
    assert s[0].hyperparams["learning_rate"].dtype == jnp.float32
    u, s = jax.jit(tx.update)(p, s, p)
    assert_close(u, jax.tree.map(lambda x: -0.1 * x, p), rtol=1e-6)


def test_inject_hyperparams_with_a_gradtx_inner_sets_its_stored_hyperparams():
    sched = optax.linear_schedule(0.1, 0.02, 3)
    ours = wx.inject_hyperparams(gradtx.sgd)(learning_rate=sched)
    theirs = optax.inject_hyperparams(optax.sgd)(learning_rate=sched)
    run_both(ours, theirs, jnp.float32, n=4)

    ours = wx.inject_hyperparams(gradtx.sgd)(0.1)
    p = make_tree(jnp.float32)
    s = ours.init(p)
    assert set(s.hyperparams) == {"learning_rate"}  # momentum=0 builds no block: fixed
    step = jax.jit(ours.update)
    _, s = step(p, s, p)
    s.hyperparams["learning_rate"] = jnp.asarray(0.5, jnp.float32)
    u, s = step(p, s, p)
    assert_close(u, jax.tree.map(lambda x: -0.5 * x, p))
    assert step._cache_size() == 1
    tx = wx.inject_hyperparams(gradtx.sgd)(0.1, momentum=0.0)
    with pytest.raises(ValueError, match=msg(
            "inject_hyperparams: the inner transform keeps its hyperparameters in its state "
            "(a gradtx transform) but holds none named ['momentum']; it holds "
            "['learning_rate']")):
        tx.init(p)
    with pytest.raises(ValueError, match="learning_rate must be in"):
        wx.inject_hyperparams(gradtx.sgd)(-1.0)
