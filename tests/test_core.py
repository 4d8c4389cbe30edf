"""The core protocol: chain, named_chain, identity, stateless, apply_updates, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx.core.base import ChainState


def params64():
    return {"w": jnp.arange(6.0, dtype=jnp.float64).reshape(2, 3), "b": jnp.ones(3, jnp.float64)}


def test_chain_applies_parts_in_order():
    tx = gradtx.chain(gradtx.scale(2.0), gradtx.clip(3.0))
    u, _ = tx.update({"x": jnp.array([1.0, 2.0])}, tx.init({"x": jnp.zeros(2)}))
    np.testing.assert_array_equal(u["x"], [2.0, 3.0])  # doubled, then clipped
    tx = gradtx.chain(gradtx.clip(3.0), gradtx.scale(2.0))
    u, _ = tx.update({"x": jnp.array([1.0, 2.0])}, tx.init({"x": jnp.zeros(2)}))
    np.testing.assert_array_equal(u["x"], [2.0, 4.0])


def test_chain_state_is_indexable_by_position_and_named_chain_by_name():
    p = params64()
    s = gradtx.chain(gradtx.clip(1.0), gradtx.scale_by_adam()).init(p)
    assert isinstance(s, ChainState)
    assert s[1].mu["w"].shape == (2, 3)
    s = gradtx.named_chain(clip=gradtx.clip(1.0), adam=gradtx.scale_by_adam()).init(p)
    assert s["adam"].mu["b"].shape == (3,)


def test_named_chain_restores_by_name_when_parts_are_reordered():
    p = params64()
    g = jax.tree.map(lambda x: 0.1 * x + 1, p)
    a = gradtx.named_chain(adam=gradtx.scale_by_adam(), clip=gradtx.clip(1e6))
    b = gradtx.named_chain(clip=gradtx.clip(1e6), adam=gradtx.scale_by_adam())
    s = a.init(p)
    _, s = a.update(g, s, p)
    # The wide clip commutes with Adam, so a state addressed by name gives the same result.
    ua, sa = a.update(g, s, p)
    ub, sb = b.update(g, s, p)
    np.testing.assert_allclose(ua["w"], ub["w"], rtol=1e-15)
    np.testing.assert_allclose(sa["adam"].nu["w"], sb["adam"].nu["w"], rtol=1e-15)


def test_positional_chain_reordered_rejects_the_old_state():
    p = params64()
    s = gradtx.chain(gradtx.scale_by_adam(), gradtx.trace(0.9)).init(p)
    reordered = gradtx.chain(gradtx.trace(0.9), gradtx.scale_by_adam())
    with pytest.raises(TypeError, match="trace: expected a state of type TraceState, got "
                                        "ScaleByAdamState"):
        reordered.update(p, s, p)


def test_nested_chains_share_one_step_counter():
    tx = gradtx.chain(gradtx.clip_by_global_norm(1.0),
                      gradtx.chain(gradtx.scale_by_adam(), gradtx.scale_by_learning_rate(0.1)))
    s = tx.init(params64())
    counts = [x for x in jax.tree.leaves(s) if x.dtype == jnp.int32]
    assert len(counts) == 1
    assert isinstance(s[1], tuple) and not isinstance(s[1], ChainState)


def test_step_counter_saturates_at_int32_max():
    p = params64()
    tx = gradtx.adam(0.1)
    s = tx.init(p)
    s = s._replace(count=jnp.array(np.iinfo(np.int32).max - 1, jnp.int32))
    _, s = tx.update(p, s, p)
    assert s.count == np.iinfo(np.int32).max and s.count.dtype == jnp.int32
    u, s = tx.update(p, s, p)
    assert s.count == np.iinfo(np.int32).max
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(u))


def test_identity_returns_updates_unchanged():
    tx = gradtx.identity()
    p = params64()
    u, s = tx.update(p, tx.init(p))
    assert u is p and s == gradtx.EmptyState()


def test_stateless_applies_its_function_with_params():
    tx = gradtx.stateless(lambda u, p: jax.tree.map(lambda a, b: a - b, u, p))
    p = params64()
    u, _ = tx.update(jax.tree.map(lambda x: 2 * x, p), tx.init(p), p)
    np.testing.assert_array_equal(u["w"], p["w"])


def test_apply_updates_casts_to_param_dtype_and_passes_none():
    params = {"a": jnp.ones(2, jnp.bfloat16), "b": None, "c": jnp.ones(2, jnp.float32)}
    updates = {"a": jnp.full(2, 0.5, jnp.float32), "b": None, "c": jnp.full(2, 0.25, jnp.float64)}
    new = gradtx.apply_updates(params, updates)
    assert new["a"].dtype == jnp.bfloat16 and new["c"].dtype == jnp.float32
    assert new["b"] is None
    np.testing.assert_array_equal(new["c"], [1.25, 1.25])


def test_apply_updates_names_mismatched_path():
    with pytest.raises(ValueError, match=r"apply_updates: updates does not match the params "
                                         r"tree at \['w'\]: expected shape \(2, 3\), got \(3,\)"):
        gradtx.apply_updates(params64(), {"w": jnp.ones(3), "b": jnp.ones(3)})


def test_gradient_tree_differing_from_init_names_first_key_path():
    tx = gradtx.adam(1e-3)
    s = tx.init({"layer": {"w": jnp.ones(2), "b": jnp.ones(2)}})
    with pytest.raises(ValueError, match=r"first difference at \['layer'\]\['b'\] \(expected\) "
                                         r"vs \['layer'\]\['v'\] \(received\)"):
        tx.update({"layer": {"w": jnp.ones(2), "v": jnp.ones(2)}}, s)


def test_gradient_tree_with_missing_leaf_is_named():
    tx = gradtx.sgd(0.1, momentum=0.9)
    s = tx.init({"a": jnp.ones(2), "b": jnp.ones(2)})
    with pytest.raises(ValueError, match=r"\['b'\] is only in the expected tree"):
        tx.update({"a": jnp.ones(2)}, s)


def test_state_from_another_transform_is_a_type_error():
    p = params64()
    with pytest.raises(TypeError, match="adam: expected states for parts"):
        gradtx.adam().update(p, gradtx.sgd(0.1).init(p), p)
    with pytest.raises(TypeError, match="scale_by_rms: expected a state of type ScaleByRmsState, "
                                        "got ScaleByRssState"):
        gradtx.scale_by_rms().update(p, gradtx.scale_by_rss().init(p))


def test_transform_needing_params_names_itself():
    tx = gradtx.adamw(1e-3)
    p = params64()
    with pytest.raises(ValueError, match="add_decayed_weights: needs the params"):
        tx.update(p, tx.init(p))


def test_extra_args_reach_every_gradtx_part_and_unused_ones_are_ignored():
    seen = []

    def init(params):
        return gradtx.EmptyState()

    def update(updates, state, params=None, *, value=None, **extra):
        seen.append(value)
        return updates, state

    probe = gradtx.GradientTransformation(init, update)
    tx = gradtx.chain(gradtx.adam(0.1), probe, gradtx.named_chain(p=probe))
    p = params64()
    tx.update(p, tx.init(p), p, value=3.0, unrelated="x")
    assert seen == [3.0, 3.0]


def test_chain_rejects_non_transform():
    with pytest.raises(TypeError, match="chain: argument 1 must be a GradientTransformation, "
                                        "got int"):
        gradtx.chain(gradtx.identity(), 3)


def test_tree_helpers_match_numpy():
    t = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([[12.0]])}
    assert float(gradtx.tree_global_norm(t)) == pytest.approx(13.0)
    assert float(gradtx.tree_vdot(t, t)) == pytest.approx(169.0)
    z = gradtx.tree_zeros_like(t, jnp.bfloat16)
    assert z["b"].dtype == jnp.bfloat16 and float(z["b"].sum()) == 0.0
