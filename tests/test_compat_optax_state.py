"""A run checkpointed with optax resumes with gradtx at the same step, and back: the states of
the optimizers both libraries have convert into each other (``gradtx.compat.optax``), and a
``gradtx.compat.optax`` state has optax's layout: the same paths, the same leaves."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx
import gradtx.compat.optax as goptax

RNG = np.random.default_rng(0)
PARAMS = {"w": jnp.asarray(RNG.normal(size=(4, 3))), "b": jnp.asarray(RNG.normal(size=3))}
GRADS = [jax.tree.map(lambda p: jnp.asarray(RNG.normal(size=p.shape)), PARAMS)
         for _ in range(10)]


def _schedule(lib):
    return lib.cosine_decay_schedule(0.05, 20, alpha=0.1)


# name -> lambda lib: optimizer built the same way from optax or from gradtx.compat.optax
OPTIMIZERS = {
    "adam": lambda lib: lib.adam(0.05),
    "adamw": lambda lib: lib.adamw(0.05, weight_decay=0.1),
    "clip+adamw+schedule": lambda lib: lib.chain(lib.clip_by_global_norm(1.0),
                                                 lib.adamw(_schedule(lib))),
    "sgd-momentum": lambda lib: lib.sgd(0.05, momentum=0.9),
    "rmsprop": lambda lib: lib.rmsprop(0.01),
    "lion": lambda lib: lib.lion(0.01),
    "adafactor": lambda lib: lib.adafactor(0.05, min_dim_size_to_factor=2, momentum=0.9),
    "clip+adafactor": lambda lib: lib.chain(lib.clip_by_global_norm(1.0),
                                            lib.adafactor(0.05, min_dim_size_to_factor=2)),
}


def _run(tx, params, state, grads):
    step = jax.jit(tx.update)
    for g in grads:
        updates, state = step(g, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optax_checkpoint_resumes_with_gradtx_at_the_same_step(name):
    otx, gtx = OPTIMIZERS[name](optax), OPTIMIZERS[name](goptax)
    params, ostate = _run(otx, PARAMS, otx.init(PARAMS), GRADS[:5])
    expected, _ = _run(otx, params, ostate, GRADS[5:])
    gstate = goptax.state_from_optax(ostate, gtx.init(PARAMS), step=5)
    counts = [int(leaf) for path, leaf in jax.tree_util.tree_leaves_with_path(gstate)
              if jax.tree_util.keystr(path).endswith(".count")]
    assert counts == [5] * len(counts)
    got, _ = _run(gtx, params, gstate, GRADS[5:])
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_gradtx_state_converts_back_to_optax(name):
    otx, gtx = OPTIMIZERS[name](optax), OPTIMIZERS[name](goptax)
    params, gstate = _run(gtx, PARAMS, gtx.init(PARAMS), GRADS[:5])
    expected, _ = _run(gtx, params, gstate, GRADS[5:])
    ostate = goptax.state_to_optax(gstate, otx.init(PARAMS))
    got, _ = _run(otx, params, ostate, GRADS[5:])
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)


def test_states_of_different_optimizers_do_not_convert():
    with pytest.raises(ValueError, match="state_from_optax: the target state has 1 'mu' statistic"):
        goptax.state_from_optax(optax.sgd(0.1, 0.9).init(PARAMS),
                                gradtx.adam(0.1).init(PARAMS))
    with pytest.raises(ValueError, match="the target state has 1 'trace' statistic"):
        goptax.state_from_optax(optax.adam(0.1).init(PARAMS), gradtx.sgd(0.1, 0.9).init(PARAMS))
    with pytest.raises(ValueError, match="has no place for the source's {'trace': 1}"):
        goptax.state_from_optax(optax.chain(optax.adam(0.1), optax.trace(0.9)).init(PARAMS),
                                gradtx.adam(0.1).init(PARAMS))


def _paths(state):
    return [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(state)]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_compat_state_has_optax_paths_and_an_optax_state_runs_as_it_is(name):
    otx, gtx = OPTIMIZERS[name](optax), OPTIMIZERS[name](goptax)
    params, ostate = _run(otx, PARAMS, otx.init(PARAMS), GRADS[:5])
    assert _paths(gtx.init(PARAMS)) == _paths(ostate)
    # the leaves of an optax state, in gradtx's classes (what an Orbax restore gives)
    gstate = jax.tree.unflatten(jax.tree.structure(gtx.init(PARAMS)), jax.tree.leaves(ostate))
    expected, _ = _run(otx, params, ostate, GRADS[5:])
    got, _ = _run(gtx, params, gstate, GRADS[5:])
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)


def test_the_common_access_paths_read_what_optax_reads():
    lib_states = {}
    for lib in (optax, goptax):
        tx = lib.chain(lib.clip_by_global_norm(1.0),
                       lib.inject_hyperparams(lib.adamw)(learning_rate=0.05))
        _, lib_states[lib] = _run(tx, PARAMS, tx.init(PARAMS), GRADS[:3])
    theirs, ours = lib_states[optax], lib_states[goptax]
    assert int(ours[1].inner_state[0].count) == int(theirs[1].inner_state[0].count) == 3
    assert int(ours[1].count) == int(theirs[1].count) == 3
    assert float(ours[1].hyperparams["learning_rate"]) == \
        float(theirs[1].hyperparams["learning_rate"])
    for field in ("mu", "nu"):
        for a, b in zip(jax.tree.leaves(getattr(ours[1].inner_state[0], field)),
                        jax.tree.leaves(getattr(theirs[1].inner_state[0], field)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    assert type(ours[0]).__name__ == type(theirs[0]).__name__ == "EmptyState"


def test_an_orbax_checkpoint_of_an_optax_state_restores_into_the_compat_state(tmp_path):
    import orbax.checkpoint as ocp

    make = OPTIMIZERS["clip+adamw+schedule"]
    otx, gtx = make(optax), make(goptax)
    params, ostate = _run(otx, PARAMS, otx.init(PARAMS), GRADS[:5])
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(tmp_path / "optax_state", ostate)
        ckpt.wait_until_finished()
        restored = ckpt.restore(tmp_path / "optax_state", target=gtx.init(PARAMS))
    assert jax.tree.structure(restored) == jax.tree.structure(gtx.init(PARAMS))
    expected, _ = _run(otx, params, ostate, GRADS[5:])
    got, _ = _run(gtx, params, restored, GRADS[5:])
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
