"""gradtx.flat: FlatParams, its layout, views and gradients, state conversions, shardings."""

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from jax.extend.core import jaxprs_in_params
from jax.flatten_util import ravel_pytree
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import gradtx
from gradtx.flat import FlatParams, ravel, state_from_tree, state_to_tree


def params32():
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    return {
        "dense": {"kernel": jax.random.normal(k1, (4, 3), jnp.float32),
                  "bias": jnp.arange(3, dtype=jnp.float32)},
        "norm": (jax.random.normal(k2, (3,), jnp.float32), None),
        "head": jax.random.normal(k3, (3, 2), jnp.float32),
    }


def loss_fn(params, x):
    h = jnp.tanh(x @ params["dense"]["kernel"] + params["dense"]["bias"]) * params["norm"][0]
    return jnp.mean((h @ params["head"]) ** 2)


X = jnp.linspace(-1.0, 1.0, 20, dtype=jnp.float32).reshape(5, 4)


def primitives(jaxpr):
    """Names of all primitives in a jaxpr, sub-jaxprs included."""
    names = []
    for eqn in jaxpr.eqns:
        names.append(eqn.primitive.name)
        for sub in jaxprs_in_params(eqn.params):
            names.extend(primitives(sub))
    return names


# ----------------------------------------------------------------------------- ravel / unravel


def test_one_dtype_gives_one_buffer_equal_to_ravel_pytree():
    p = params32()
    flat = ravel(p)
    assert len(flat.buffers) == 1
    np.testing.assert_array_equal(flat.buffers[0], ravel_pytree(p)[0])


def test_unravel_gives_back_the_tree_bitwise_with_none_leaves():
    p = params32()
    out = ravel(p).unravel()
    assert jax.tree.structure(out) == jax.tree.structure(p)
    assert out["norm"][1] is None
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(p), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_unravel_under_jit_equals_unravel_outside():
    flat = ravel(params32())
    jitted = jax.jit(lambda f: f.unravel())(flat)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(flat.unravel()), strict=True):
        np.testing.assert_array_equal(a, b)


def test_buckets_are_keyed_by_dtype_including_int_and_bool():
    tree = {"a": jnp.ones(3, jnp.float32), "b": jnp.arange(4, dtype=jnp.int32),
            "c": jnp.ones(2, jnp.bfloat16), "d": jnp.array([True, False]),
            "e": jnp.full((2, 2), 2.0, jnp.float32), "f": jnp.arange(2, dtype=jnp.int32)}
    flat = ravel(tree)
    assert [b.dtype for b in flat.buffers] == [jnp.float32, jnp.int32, jnp.bfloat16, jnp.bool_]
    assert [str(b.dtype) for b in flat.layout.buckets] == ["float32", "int32", "bfloat16", "bool"]
    np.testing.assert_array_equal(flat.buffers[0], np.concatenate([np.ones(3), np.full(4, 2.0)]))
    np.testing.assert_array_equal(flat.buffers[1], np.array([0, 1, 2, 3, 0, 1]))
    for a, b in zip(jax.tree.leaves(flat.unravel()), jax.tree.leaves(tree), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_empty_tree_has_no_buffers_and_unravels_to_itself():
    for tree in ({}, [], (None,)):
        flat = ravel(tree)
        assert flat.buffers == ()
        assert flat.unravel() == tree


def test_group_labels_tree_prefix_and_function_split_buckets():
    p = params32()
    by_tree = ravel(p, group={"dense": {"kernel": "w", "bias": "b"}, "norm": ("b", None),
                              "head": "w"})
    by_prefix = ravel(p, group={"dense": "w", "norm": "b", "head": "w"})
    by_function = ravel(p, group=lambda t: jax.tree.map(lambda a: "w" if a.ndim == 2 else "b", t))
    assert [b.group for b in by_tree.layout.buckets] == ["b", "w"]  # first leaf: dense.bias
    assert [len(b.leaves) for b in by_tree.layout.buckets] == [2, 2]
    assert [b.group for b in by_prefix.layout.buckets] == ["w", "b"]
    assert [len(b.leaves) for b in by_prefix.layout.buckets] == [3, 1]
    assert by_function.layout == by_tree.layout
    for flat in (by_tree, by_prefix, by_function):
        for a, b in zip(jax.tree.leaves(flat.unravel()), jax.tree.leaves(p), strict=True):
            np.testing.assert_array_equal(a, b)


def test_group_that_is_not_a_prefix_raises():
    with pytest.raises(ValueError, match="group="):
        ravel(params32(), group={"dense": "w", "other": "b"})


def test_like_reflattens_into_the_same_layout():
    p = params32()
    flat = ravel(p)
    q = jax.tree.map(lambda a: 2.0 * a + 1.0, p)
    again = ravel(q, like=flat)
    assert again.layout is flat.layout
    np.testing.assert_array_equal(again.buffers[0], ravel_pytree(q)[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: {**p, "extra": jnp.ones(2)}, r"\['extra'\]"),
        (lambda p: {**p, "head": jnp.ones((2, 3), jnp.float32)},
         r"\['head'\]: expected shape \(3, 2\), got \(2, 3\)"),
        (lambda p: {**p, "head": p["head"].astype(jnp.float64)},
         r"\['head'\]: expected dtype float32, got float64"),
    ],
    ids=["structure", "shape", "dtype"],
)
def test_like_rejects_a_different_tree_naming_the_key_path(change, message):
    p = params32()
    with pytest.raises(ValueError, match=message):
        ravel(change(p), like=ravel(p))


def test_pad_to_multiple_and_align_pad_with_zeros():
    p = params32()
    flat = ravel(p, pad_to_multiple=16, align=8)
    bucket = flat.layout.buckets[0]
    assert bucket.size % 16 == 0
    assert [flat.layout.leaves[i].offset for i in bucket.leaves] == [0, 8, 24, 32]
    buf = np.asarray(flat.buffers[0])
    used = np.zeros(bucket.size, bool)
    for leaf, x in zip(flat.layout.leaves, jax.tree.leaves(p), strict=True):
        np.testing.assert_array_equal(buf[leaf.offset:leaf.offset + leaf.size], np.ravel(x))
        used[leaf.offset:leaf.offset + leaf.size] = True
    np.testing.assert_array_equal(buf[~used], 0.0)
    for a, b in zip(jax.tree.leaves(flat.unravel()), jax.tree.leaves(p), strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_padding_arguments_raise_naming_them():
    with pytest.raises(ValueError, match="pad_to_multiple must be a positive int, got 0"):
        ravel(params32(), pad_to_multiple=0)
    with pytest.raises(ValueError, match="align"):
        ravel(params32(), align=2.5)


# ----------------------------------------------------------------------------- the layout


def test_layout_is_static_hashable_and_equal_for_equal_trees():
    a, b = ravel(params32()).layout, ravel(jax.tree.map(jnp.zeros_like, params32())).layout
    assert a == b and hash(a) == hash(b) and a is not b
    assert a != ravel(params32(), align=4).layout
    traces = []

    @jax.jit
    def f(flat):
        traces.append(1)
        return flat.buffers[0].sum()

    f(ravel(params32()))
    f(ravel(jax.tree.map(jnp.zeros_like, params32())))
    assert len(traces) == 1


def test_leaf_specs_give_paths_shapes_buckets_offsets_and_sizes():
    p = params32()
    layout = ravel(p).layout
    assert [leaf.name for leaf in layout.leaves] == [
        "['dense']['bias']", "['dense']['kernel']", "['head']", "['norm'][0]"]
    assert [leaf.shape for leaf in layout.leaves] == [(3,), (4, 3), (3, 2), (3,)]
    assert [(leaf.bucket, leaf.offset, leaf.size) for leaf in layout.leaves] == [
        (0, 0, 3), (0, 3, 12), (0, 15, 6), (0, 21, 3)]


def test_bucket_to_leaves_and_back_is_the_identity():
    tree = {"a": jnp.ones(3, jnp.float32), "b": jnp.arange(4, dtype=jnp.int32),
            "c": jnp.arange(6.0, dtype=jnp.float32).reshape(2, 3)}
    flat = ravel(tree, align=4)
    layout = flat.layout
    views = layout.bucket_to_leaves(0, flat.buffers[0])
    assert [v.shape for v in views] == [(3,), (2, 3)]
    np.testing.assert_array_equal(layout.bucket_from_leaves(0, views), flat.buffers[0])


def test_segment_ids_sum_each_leaf_like_numpy():
    p = params32()
    flat = ravel(p, align=4, pad_to_multiple=8)
    ids = flat.layout.segment_ids(0)
    n = len(flat.layout.buckets[0].leaves)
    assert ids.dtype == np.int32 and ids.shape == flat.buffers[0].shape
    sums = jax.ops.segment_sum(flat.buffers[0], ids, num_segments=n + 1)
    np.testing.assert_allclose(sums[:n], [np.sum(x) for x in jax.tree.leaves(p)], rtol=1e-6)
    assert sums[n] == 0.0


# ----------------------------------------------------------------------------- gradients


def test_gradient_is_flat_params_of_the_same_layout_equal_to_the_tree_gradient():
    p = params32()
    flat = ravel(p)
    g = jax.grad(lambda f: loss_fn(f.unravel(), X))(flat)
    assert isinstance(g, FlatParams) and g.layout == flat.layout
    ref = jax.grad(loss_fn)(p, X)
    for a, b in zip(jax.tree.leaves(g.unravel()), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_gradient_is_one_concatenate_per_bucket_without_pad_chains():
    p = {**params32(), "scale": jnp.ones(3, jnp.float64), "shift": jnp.ones(2, jnp.float64)}
    flat = ravel(p)  # two buckets, float32 and float64

    def loss(f):
        q = f.unravel()
        return loss_fn(q, X) * jnp.sum(q["scale"]) + jnp.sum(q["shift"] ** 2)

    grad = jax.grad(loss)
    names = primitives(jax.make_jaxpr(grad)(flat).jaxpr)
    assert names.count("concatenate") == 2
    assert "pad" not in names and "dynamic_update_slice" not in names


def test_gradient_of_padded_layout_is_zero_in_the_padding():
    flat = ravel(params32(), align=8, pad_to_multiple=64)
    g = jax.grad(lambda f: loss_fn(f.unravel(), X))(flat)
    padding = flat.layout.segment_ids(0) == len(flat.layout.buckets[0].leaves)
    assert padding.sum() > 0
    np.testing.assert_array_equal(np.asarray(g.buffers[0])[padding], 0.0)


def test_forward_mode_through_unravel_equals_the_tree_jvp():
    p = params32()
    flat = ravel(p)
    tangent = jax.tree.map(jnp.ones_like, flat)
    _, out = jax.jvp(lambda f: loss_fn(f.unravel(), X), (flat,), (tangent,))
    _, ref = jax.jvp(lambda q: loss_fn(q, X), (p,), (jax.tree.map(jnp.ones_like, p),))
    np.testing.assert_allclose(out, ref, rtol=1e-6)


# ----------------------------------------------------------------------------- optimizers and state


TRANSFORMS = {
    "adam": lambda: gradtx.adam(1e-2),
    "sgd_momentum": lambda: gradtx.sgd(1e-2, momentum=0.9),
    "clip_adamw": lambda: gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(1e-3)),
}


def train(tx, params, state, steps):
    @jax.jit
    def step(params, state):
        unravel = (lambda f: f.unravel()) if isinstance(params, FlatParams) else (lambda q: q)
        g = jax.grad(lambda q: 100.0 * loss_fn(unravel(q), X))(params)
        updates, state = tx.update(g, state, params)
        return gradtx.apply_updates(params, updates), state

    for _ in range(steps):
        params, state = step(params, state)
    return params, state


def assert_trees_close(a, b, rtol):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-7)


def test_state_of_an_elementwise_transform_on_flat_params_is_flat():
    flat = ravel(params32())
    state = gradtx.adam(1e-2).init(flat)
    assert isinstance(state["adam"].mu, FlatParams) and state["adam"].mu.layout == flat.layout
    np.testing.assert_array_equal(state["adam"].nu.buffers[0], np.zeros(flat.buffers[0].shape))


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_five_flat_steps_equal_five_per_leaf_steps(name):
    tx = TRANSFORMS[name]()
    p = params32()
    flat = ravel(p)
    tree_params, tree_state = train(tx, p, tx.init(p), 5)
    flat_params, flat_state = train(tx, flat, tx.init(flat), 5)
    assert_trees_close(flat_params.unravel(), tree_params, rtol=1e-6)
    assert_trees_close(state_to_tree(flat_state, flat), tree_state, rtol=1e-6)


@pytest.mark.parametrize("name", ["adam", "sgd_momentum"])
def test_per_leaf_state_converted_to_flat_and_back_is_bitwise_equal(name):
    tx = TRANSFORMS[name]()
    p = params32()
    flat = ravel(p)
    _, state = train(tx, p, tx.init(p), 2)
    as_flat = state_from_tree(state, flat)
    assert jax.tree.structure(as_flat) == jax.tree.structure(tx.init(flat))
    back = state_to_tree(as_flat, flat)
    assert jax.tree.structure(back) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(state), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_per_leaf_checkpoint_resumes_flat_and_flat_resumes_per_leaf():
    tx = TRANSFORMS["clip_adamw"]()
    p = params32()
    flat = ravel(p)
    ref_params, ref_state = train(tx, p, tx.init(p), 6)
    q, s = train(tx, p, tx.init(p), 2)  # per leaf
    q, s = train(tx, ravel(q, like=flat), state_from_tree(s, flat), 2)  # resumed flat
    q, s = train(tx, q.unravel(), state_to_tree(s, flat), 2)  # resumed per leaf
    assert_trees_close(q, ref_params, rtol=1e-6)
    assert_trees_close(s, ref_state, rtol=1e-6)


def test_state_kept_in_another_float_dtype_converts_to_buffers_of_that_dtype():
    tx = gradtx.chain(gradtx.scale_by_adam(mu_dtype=jnp.bfloat16), gradtx.scale(-1e-2))
    p = params32()
    flat = ravel(p)
    state = tx.init(p)
    as_flat = state_from_tree(state, flat)
    assert as_flat[0].mu.buffers[0].dtype == jnp.bfloat16
    assert as_flat[0].nu.buffers[0].dtype == jnp.float32
    assert jax.tree.structure(as_flat) == jax.tree.structure(tx.init(flat))
    assert state_to_tree(as_flat, flat)[0].mu["head"].dtype == jnp.bfloat16


def test_orbax_checkpoint_of_flat_params_and_flat_state_round_trips_exactly(tmp_path):
    tx = TRANSFORMS["clip_adamw"]()
    flat = ravel(params32())
    flat, state = train(tx, flat, tx.init(flat), 2)
    ints = ravel({"step": jnp.arange(3, dtype=jnp.int32), "mask": jnp.array([True, False])})
    ckpt = {"params": flat, "state": state, "ints": ints}
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "ckpt", ckpt)
    checkpointer.wait_until_finished()
    target = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding),
                          ckpt)
    restored = checkpointer.restore(tmp_path / "ckpt", target)
    assert jax.tree.structure(restored) == jax.tree.structure(ckpt)
    assert restored["params"].layout == flat.layout
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(ckpt), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- sharding


SPECS = {"w": P("data", "model"), "wt": P("model", "data"), "b": P("model"), "v": P("data"),
         "u": P(None, "data"), "r": P()}
SHAPES = {"w": (8, 4), "wt": (4, 8), "b": (4,), "v": (16,), "u": (3, 8), "r": (5,)}


def sharded_params(mesh):
    return {k: jax.device_put(jnp.arange(np.prod(SHAPES[k]), dtype=jnp.float32).reshape(SHAPES[k])
                              + 100 * i, NamedSharding(mesh, SPECS[k]))
            for i, k in enumerate(sorted(SHAPES))}


@pytest.fixture(params=[AxisType.Explicit, AxisType.Auto], ids=["explicit", "auto"])
def mesh(request):
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(request.param,) * 2)
    with jax.set_mesh(mesh):
        yield mesh


@pytest.fixture
def explicit_mesh():
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)
    with jax.set_mesh(mesh):
        yield mesh


def test_sharded_params_get_one_bucket_per_set_of_mesh_axes(mesh):
    flat = ravel(sharded_params(mesh))
    layout = flat.layout
    expected = [  # buckets in the order of their first leaf: b, r, u, v, w, wt
        (P("model"), ["['b']"], 2),
        (P(), ["['r']"], 1),
        (P("data"), ["['u']", "['v']"], 4),
        (P(("data", "model")), ["['w']", "['wt']"], 8),
    ]
    assert [(b.sharding.spec, [layout.leaves[i].name for i in b.leaves], b.shards)
            for b in layout.buckets] == expected
    for bucket, buffer in zip(layout.buckets, flat.buffers, strict=True):
        assert buffer.sharding.is_equivalent_to(bucket.sharding, 1)


def test_each_device_shard_of_a_bucket_holds_that_devices_leaf_shards(mesh):
    params = sharded_params(mesh)
    flat = ravel(params)
    leaves = jax.tree.leaves(params)
    for bucket, buffer in zip(flat.layout.buckets, flat.buffers, strict=True):
        for shard in buffer.addressable_shards:
            parts = []
            for i in bucket.leaves:
                leaf_shard = next(s for s in leaves[i].addressable_shards
                                  if s.device == shard.device)
                parts.append(np.ravel(leaf_shard.data))
            np.testing.assert_array_equal(shard.data, np.concatenate(parts))


def test_unravel_of_sharded_flat_params_keeps_each_leafs_sharding(mesh):
    params = sharded_params(mesh)
    flat = ravel(params)
    for out in (flat.unravel(), jax.jit(lambda f: f.unravel())(flat)):
        for k, a in out.items():
            assert a.sharding.is_equivalent_to(params[k].sharding, a.ndim), k
            np.testing.assert_array_equal(a, params[k])


def test_gradient_of_sharded_flat_params_is_sharded_like_the_buckets(mesh):
    params = sharded_params(mesh)
    flat = ravel(params)
    loss = lambda f: sum(jnp.sum(jnp.sin(a)) for a in jax.tree.leaves(f.unravel()))  # noqa: E731
    g = jax.jit(jax.grad(loss))(flat)
    for bucket, buffer in zip(flat.layout.buckets, g.buffers, strict=True):
        assert buffer.sharding.is_equivalent_to(bucket.sharding, 1)
    for k, a in g.unravel().items():
        np.testing.assert_allclose(a, np.cos(np.asarray(params[k])), rtol=1e-6)


def test_sharded_ravel_and_unravel_need_no_communication(mesh):
    params = sharded_params(mesh)
    flat = ravel(params)
    collectives = ("all-gather", "all-reduce", "all-to-all", "collective-permute",
                   "reduce-scatter")
    texts = [
        jax.jit(lambda f: f.unravel()).lower(flat).compile().as_text(),
        jax.jit(lambda q: ravel(q, like=flat)).lower(params).compile().as_text(),
        jax.jit(jax.grad(lambda f: sum(jnp.sum(a * a) for a in jax.tree.leaves(f.unravel()))))
        .lower(flat).compile().as_text(),
    ]
    for text in texts:
        assert not [c for c in collectives if f" {c}(" in text or f" {c}-start(" in text]


def test_adam_on_sharded_flat_params_equals_per_leaf_adam(explicit_mesh):
    params = sharded_params(explicit_mesh)
    flat = ravel(params)
    tx = gradtx.adam(1e-2)
    g = jax.tree.map(lambda a: jnp.cos(a), params)
    u_tree, _ = jax.jit(tx.update)(g, tx.init(params), params)
    u_flat, s_flat = jax.jit(tx.update)(ravel(g, like=flat), tx.init(flat), flat)
    for bucket, buffer in zip(flat.layout.buckets, s_flat["adam"].mu.buffers, strict=True):
        assert buffer.sharding.is_equivalent_to(bucket.sharding, 1)
    for k, a in u_flat.unravel().items():
        np.testing.assert_allclose(a, u_tree[k], rtol=1e-6)


def test_ravel_of_traced_sharded_leaves_gives_unsharded_buckets(explicit_mesh):
    params = sharded_params(explicit_mesh)
    bucket_shardings = []

    def f(p):
        flat = ravel(p)
        bucket_shardings.extend(b.sharding for b in flat.layout.buckets)
        return flat.buffers

    buffers = jax.jit(f)(params)
    assert bucket_shardings == [None]
    np.testing.assert_array_equal(
        buffers[0], np.concatenate([np.ravel(params[k]) for k in sorted(params)]))


def test_pad_to_multiple_lets_a_replicated_bucket_be_sharded_along_data(mesh):
    params = {"a": jnp.arange(5.0, dtype=jnp.float32), "b": jnp.ones((3, 3), jnp.float32)}
    flat = ravel(params, pad_to_multiple=mesh.shape["data"])
    assert flat.layout.buckets[0].size == 16
    zero = jax.device_put(flat.buffers[0], NamedSharding(mesh, P("data")))
    out = FlatParams([zero], flat.layout).unravel()
    for k, a in out.items():
        np.testing.assert_array_equal(a, params[k])

