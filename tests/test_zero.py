"""gradtx.sharding on the 8-device host mesh: ZeRO-1, shardings for jit and Orbax, resuming."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import gradtx
from gradtx.sharding import (
    abstract_state,
    replicated_leaves,
    restore_latest,
    shard_state,
    state_shardings,
)

SHAPES = {"w1": (8, 16), "b1": (16,), "w2": (16, 3), "b2": (3,)}
TRANSFORMS = {
    "clip_adamw": lambda: gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(1e-2)),
    "lamb": lambda: gradtx.lamb(1e-2),  # per-layer trust ratios: segment sums on flat buffers
    "adafactor": lambda: gradtx.adafactor(1e-2, min_dim_size_to_factor=4, momentum=0.9),
}


@pytest.fixture(params=[AxisType.Explicit, AxisType.Auto], ids=["explicit", "auto"])
def mesh(request):
    return jax.make_mesh((8,), ("data",), axis_types=(request.param,))


def host_params():
    rng = np.random.default_rng(0)
    return {k: (rng.normal(size=s) / np.sqrt(s[0])).astype(np.float32) for k, s in SHAPES.items()}


def batches(n):
    rng = np.random.default_rng(1)
    return [(rng.normal(size=(32, 8)).astype(np.float32), rng.normal(size=(32, 3)).astype(
        np.float32)) for _ in range(n)]


def loss_fn(p, x, y):
    h = jnp.tanh(x @ p["w1"] + p["b1"])
    return jnp.mean((h @ p["w2"] + p["b2"] - y) ** 2)


def make_step(tx, flat, gather=False):
    def loss(q, x, y):
        q = q.unravel() if flat else q
        if gather:  # FSDP: each layer's params gathered for the forward pass
            q = jax.tree.map(lambda a: jax.sharding.reshard(a, P()), q)
        return loss_fn(q, x, y)

    def step(params, state, x, y):
        grads = jax.grad(loss)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return gradtx.apply_updates(params, updates), state

    return step


def run(tx, params, state, steps, flat, *, out_shardings=None, batch_sharding=None,
        gather=False):
    step = jax.jit(make_step(tx, flat, gather), out_shardings=out_shardings)
    for x, y in batches(steps):
        if batch_sharding is not None:
            x, y = jax.device_put((x, y), batch_sharding)
        params, state = step(params, state, x, y)
    return params, state


def bytes_per_device(tree):
    out = {}
    for leaf in jax.tree.leaves(tree):
        for shard in leaf.addressable_shards:
            out[shard.device] = out.get(shard.device, 0) + shard.data.nbytes
    return out


def shardings_of(tree):
    return jax.tree.map(lambda a: a.sharding, tree)


# ----------------------------------------------------------------------------- ZeRO-1


def test_zero_state_of_flat_params_puts_an_eighth_of_each_buffer_on_each_device(mesh):
    flat = gradtx.flat.ravel(jax.device_put(host_params(), NamedSharding(mesh, P())),
                             pad_to_multiple=8)
    tx = TRANSFORMS["clip_adamw"]()
    state = jax.jit(tx.init, out_shardings=state_shardings(tx, flat, zero_axis="data"))(flat)
    buffers = [x for x in jax.tree.leaves(state) if x.ndim]
    scalars = [x for x in jax.tree.leaves(state) if not x.ndim]
    assert len(buffers) == 2  # Adam's mu and nu, one bucket each
    padded = flat.layout.buckets[0].size
    assert padded == 8 * -(-sum(np.prod(s) for s in SHAPES.values()) // 8)
    expected = 2 * padded * 4 // 8 + sum(x.nbytes for x in scalars)
    assert bytes_per_device(state) == {d: expected for d in mesh.devices.flat}
    assert replicated_leaves(state, "data") == {}

    whole = jax.jit(tx.init, out_shardings=state_shardings(tx, flat))(flat)
    assert set(bytes_per_device(whole).values()) == {2 * padded * 4 + sum(
        x.nbytes for x in scalars)}


def test_zero_splits_per_leaf_state_along_a_divisible_dimension_and_reports_the_rest(mesh):
    params = jax.device_put(host_params(), NamedSharding(mesh, P()))
    tx = gradtx.adam(1e-2)
    shardings = state_shardings(tx, params, zero_axis="data")
    mu = shardings["adam"].mu
    assert {k: mu[k].spec for k in SHAPES} == {
        "w1": P("data"), "b1": P("data"), "w2": P("data"), "b2": P()}
    assert shardings.count.spec == P() and shardings["adam"].hyperparams["b1"].spec == P()
    state = jax.jit(tx.init, out_shardings=shardings)(params)
    assert replicated_leaves(state, "data") == {
        ".states['adam'].mu['b2']": (3,), ".states['adam'].nu['b2']": (3,)}
    per_leaf = sum(4 * np.prod(s) for s in SHAPES.values())
    scalars = sum(x.nbytes for x in jax.tree.leaves(state) if not x.ndim)
    expected = 2 * ((per_leaf - 4 * 3) // 8 + 4 * 3) + scalars
    assert set(bytes_per_device(state).values()) == {expected}


@pytest.mark.parametrize(("name", "flat"), [("clip_adamw", False), ("clip_adamw", True)],
                         ids=["tree", "flat"])
def test_zero_trajectory_equals_the_unsharded_run(name, flat, mesh):
    check_zero_trajectory(name, flat, mesh)


@pytest.mark.parametrize(("name", "flat"), [("lamb", True), ("adafactor", False)],
                         ids=["lamb-flat", "adafactor-tree"])
def test_zero_trajectory_of_block_and_factored_rules_equals_the_unsharded_run(name, flat):
    check_zero_trajectory(name, flat,
                          jax.make_mesh((8,), ("data",), axis_types=(AxisType.Explicit,)))


def check_zero_trajectory(name, flat, mesh):
    tx = TRANSFORMS[name]()
    p0 = host_params()
    ravel = (lambda t: gradtx.flat.ravel(t, pad_to_multiple=8)) if flat else (lambda t: t)

    reference = ravel(jax.device_put(p0, jax.devices()[0]))
    ref_params, _ = run(tx, reference, tx.init(reference), 3, flat)

    with jax.set_mesh(mesh):
        params = ravel(jax.device_put(p0, NamedSharding(mesh, P())))
        shardings = state_shardings(tx, params, zero_axis="data")
        state = jax.jit(tx.init, out_shardings=shardings)(params)
        params, state = run(tx, params, state, 3, flat,
                            out_shardings=(shardings_of(params), shardings),
                            batch_sharding=NamedSharding(mesh, P("data")))
    for leaf in jax.tree.leaves(params):
        assert leaf.sharding.is_equivalent_to(NamedSharding(mesh, P()), leaf.ndim)
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(shardings), strict=True):
        assert got.sharding.is_equivalent_to(want, got.ndim)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("axis_type", [AxisType.Explicit, AxisType.Auto],
                         ids=["explicit", "auto"])
def test_fsdp_sharded_params_keep_their_sharding_and_zero_splits_the_rest(axis_type):
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(axis_type,) * 2)
    specs = {"w1": P("data", "model"), "b1": P("model"), "w2": P(), "b2": P()}
    p0 = host_params()
    params = {k: jax.device_put(p0[k], NamedSharding(mesh, specs[k])) for k in SHAPES}
    tx = TRANSFORMS["clip_adamw"]()
    shardings = state_shardings(tx, params, zero_axis="data")
    mu = shardings[1]["adam"].mu
    # Already over data: kept. Split over data: the first unsharded dimension 4 divides.
    # b1's only dimension is sharded over model, b2's (3,) divides by nothing: kept.
    assert {k: mu[k].spec for k in SHAPES} == {
        "w1": P("data", "model"), "b1": P("model"), "w2": P("data"), "b2": P()}
    assert set(replicated_leaves(jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
        jax.eval_shape(tx.init, params), shardings), "data")) == {
        ".states[1]['adam'].mu['b1']", ".states[1]['adam'].mu['b2']",
        ".states[1]['adam'].nu['b1']", ".states[1]['adam'].nu['b2']"}
    assert {k: v.spec for k, v in state_shardings(tx, params)[1]["adam"].mu.items()} == specs

    ref_params, _ = run(tx, p0, tx.init(p0), 3, False)
    with jax.set_mesh(mesh):
        state = jax.jit(tx.init, out_shardings=shardings)(params)
        params, state = run(tx, params, state, 3, False,
                            out_shardings=(shardings_of(params), shardings),
                            batch_sharding=NamedSharding(mesh, P("data")), gather=True)
    for k in SHAPES:
        assert params[k].sharding.spec == specs[k]
        np.testing.assert_allclose(np.asarray(params[k]), ref_params[k], rtol=1e-6, atol=1e-6)


def test_shard_state_places_an_eager_state_as_state_shardings_does(mesh):
    params = jax.device_put(host_params(), NamedSharding(mesh, P()))
    tx = TRANSFORMS["clip_adamw"]()
    state = tx.init(params)
    placed = shard_state(state, params, "data")
    for got, want, before in zip(jax.tree.leaves(placed),
                                 jax.tree.leaves(state_shardings(tx, params, zero_axis="data")),
                                 jax.tree.leaves(state), strict=True):
        assert got.sharding.is_equivalent_to(want, got.ndim)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(before))


# ----------------------------------------------------------------------------- on a mesh


EVERY_KIND = {
    "adamw": lambda: gradtx.adamw(1e-2),
    "scale_by_rms": lambda: gradtx.scale_by_rms(),  # a block on its own, no chain
    "apply_if_finite": lambda: gradtx.apply_if_finite(gradtx.adam(1e-2), 3),  # a wrapper
    "multi_steps": lambda: gradtx.MultiSteps(gradtx.sgd(0.1, momentum=0.9), 2),  # optax's class
}


def fsdp_params(mesh):
    return {k: jax.device_put(v, NamedSharding(mesh, P("data") if v.shape[0] % 4 == 0 else P()))
            for k, v in host_params().items()}


@pytest.mark.parametrize("name", sorted(EVERY_KIND))
def test_eager_init_on_sharded_params_puts_every_state_leaf_on_the_mesh(name):
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    params = fsdp_params(mesh)
    state = EVERY_KIND[name]().init(params)
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        assert leaf.sharding.device_set == set(mesh.devices.flat), jax.tree_util.keystr(path)
    # What a restore gives: every leaf committed where it is. A jitted function of it and
    # the params used to raise "Received incompatible devices" on the scalars.
    committed = jax.tree.map(lambda a: jax.device_put(a, a.sharding), state)
    jax.jit(lambda p, s: (p, s))(params, committed)


def test_a_committed_eager_state_on_sharded_params_steps_under_jit_as_unsharded():
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    params = fsdp_params(mesh)
    tx = gradtx.adamw(1e-2)
    committed = jax.tree.map(lambda a: jax.device_put(a, a.sharding), tx.init(params))
    updates, _ = jax.jit(tx.update)(jax.tree.map(jnp.cos, params), committed, params)
    unsharded = jax.device_put(host_params(), jax.devices()[0])
    expected, _ = jax.jit(tx.update)(jax.tree.map(jnp.cos, unsharded), tx.init(unsharded),
                                     unsharded)
    for k in SHAPES:
        np.testing.assert_allclose(np.asarray(updates[k]), np.asarray(expected[k]), rtol=1e-6)


def test_state_shardings_follow_the_params_and_replicate_the_scalars():
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    specs = {"w1": P("data", "model"), "b1": P("model"), "w2": P("model"), "b2": P()}
    params = {k: jax.device_put(v, NamedSharding(mesh, specs[k]))
              for k, v in host_params().items()}
    shardings = state_shardings(gradtx.adam(1e-2), params)
    for path, s in jax.tree_util.tree_leaves_with_path(shardings):
        key = getattr(path[-1], "key", None)
        assert s.mesh == mesh
        assert s.spec == (specs[key] if key in specs and "hyperparams" not in str(path) else P())


def test_a_checkpoint_restored_into_state_shardings_continues_on_the_mesh(tmp_path):
    mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Explicit,))
    params = jax.device_put(host_params(), NamedSharding(mesh, P()))
    tx = TRANSFORMS["clip_adamw"]()
    state = tx.init(params)  # eager: its scalars are on the mesh too
    grads = jax.tree.map(jnp.cos, params)
    manager = ocp.CheckpointManager(tmp_path / "ckpt")
    manager.save(0, args=ocp.args.StandardSave(state))
    manager.wait_until_finished()
    with jax.set_mesh(mesh):
        step = jax.jit(tx.update)
        expected, _ = step(grads, state, params)
        for target in (abstract_state(tx, params, zero_axis="data"),
                       jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype,
                                                                   sharding=a.sharding), state)):
            restored = manager.restore(0, args=ocp.args.StandardRestore(target))
            for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(target), strict=True):
                assert got.sharding.is_equivalent_to(want.sharding, got.ndim)
            updates, _ = step(grads, restored, params)
            for k in SHAPES:
                np.testing.assert_allclose(np.asarray(updates[k]), np.asarray(expected[k]),
                                           rtol=1e-6)
    manager.close()


# ----------------------------------------------------------------------------- restore_latest


def saved_steps(directory, steps):
    """A manager holding ``{"x": step}`` for each step."""
    manager = ocp.CheckpointManager(directory)
    for step in steps:
        manager.save(step, args=ocp.args.StandardSave({"x": jnp.full(3, float(step))}))
    manager.wait_until_finished()
    return manager


TARGET = {"x": jax.ShapeDtypeStruct((3,), jnp.float32)}


def test_restore_latest_restores_the_newest_step(tmp_path):
    manager = saved_steps(tmp_path, [1, 2, 3])
    step, restored = restore_latest(manager, TARGET)
    assert step == 3
    np.testing.assert_array_equal(restored["x"], [3.0, 3.0, 3.0])


def test_restore_latest_skips_a_damaged_newest_checkpoint_naming_its_step(tmp_path):
    manager = saved_steps(tmp_path, [1, 2, 3])
    (tmp_path / "3" / "default" / "_METADATA").unlink()  # as a kill mid-write leaves it
    with pytest.raises(Exception):  # noqa: B017 - Orbax's own error, which names no step
        manager.restore(3, args=ocp.args.StandardRestore(TARGET))
    with pytest.warns(UserWarning, match="skipping the checkpoint of step 3 .*trying step 2"):
        step, restored = restore_latest(manager, TARGET)
    assert step == 2
    np.testing.assert_array_equal(restored["x"], [2.0, 2.0, 2.0])


def test_restore_latest_returns_none_when_there_is_no_checkpoint(tmp_path):
    assert restore_latest(ocp.CheckpointManager(tmp_path), TARGET) is None


def test_restore_latest_raises_naming_every_step_when_none_restores(tmp_path):
    manager = saved_steps(tmp_path, [1, 2])
    for step in (1, 2):
        (tmp_path / str(step) / "default" / "_METADATA").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(RuntimeError, match="no checkpoint in .* restores: step 2: .*step 1: "):
            restore_latest(manager, TARGET)


# ----------------------------------------------------------------------------- errors


def test_state_shardings_needs_params_on_a_mesh():
    with pytest.raises(ValueError, match=r"every params leaf must have a NamedSharding.*\['b1'\]"):
        state_shardings(gradtx.adam(1e-2), host_params())


def test_state_shardings_names_an_unknown_zero_axis():
    mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
    params = jax.device_put(host_params(), NamedSharding(mesh, P()))
    with pytest.raises(ValueError, match=r"zero_axis must be one of the mesh's axes \('data',\) "
                                         r"or None, got 'batch'"):
        state_shardings(gradtx.adam(1e-2), params, zero_axis="batch")


def test_state_shardings_refuses_params_on_two_meshes():
    devices = np.array(jax.devices())
    a, b = Mesh(devices[:4], ("data",)), Mesh(devices[4:], ("data",))
    params = {"w1": jax.device_put(jnp.ones(4), NamedSharding(a, P())),
              "w2": jax.device_put(jnp.ones(4), NamedSharding(b, P()))}
    with pytest.raises(ValueError, match=r"params leaves are on two meshes.*\['w2'\]"):
        state_shardings(gradtx.adam(1e-2), params)


def test_shard_state_checks_its_params_and_axis():
    mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
    with pytest.raises(ValueError, match=r"shard_state: every params leaf must have a "
                                         r"NamedSharding.*\['b1'\]"):
        shard_state({}, host_params(), "data")
    params = jax.device_put(host_params(), NamedSharding(mesh, P()))
    with pytest.raises(ValueError, match=r"shard_state: axis must be one of the mesh's axes "
                                         r"\('data',\), got 'model'"):
        shard_state({}, params, "model")
