"""Wrappers at the edges: donated states, counters at the int32 limit, callable pytree
masks, non-float leaves, and empty (``None``) trees.

References are the same transform run on the equivalent problem (the float leaves alone,
the plain optimizer) or NumPy transcriptions of the documented formulas.
"""

import dataclasses
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx.wrappers._inner import zeros_like_output
from gradtx.wrappers.accumulate import accumulate_gradients
from gradtx.wrappers.averaging import lookahead, param_ema, polyak_average
from gradtx.wrappers.finite import apply_if_finite
from gradtx.wrappers.groups import freeze, masked, partition

INT32_MAX = 2**31 - 1
PARAMS = {"w": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "b": jnp.array([0.1, -0.2])}
GRADS = {"w": jnp.array([[0.3, -0.1], [0.2, 0.4]]), "b": jnp.array([1.0, -1.0])}
GRADS2 = {"w": jnp.array([[-0.7, 0.25], [0.1, 0.05]]), "b": jnp.array([0.5, 2.0])}
MATRICES = {"w": True, "b": False}

INNERS = {
    "sgd_momentum": lambda: gradtx.sgd(0.1, momentum=0.9),
    "adam": lambda: gradtx.adam(1e-2),
}

# Every wrapper, holding the inner transform ``inner()`` where it holds one.
WRAPPERS = {
    "apply_if_finite": lambda inner: apply_if_finite(inner(), 2),
    "accumulate_gradients": lambda inner: accumulate_gradients(inner(), 2),
    "masked": lambda inner: masked(inner(), MATRICES),
    "partition": lambda inner: partition({"m": inner(), "v": inner()}, {"w": "m", "b": "v"}),
    "freeze": lambda inner: gradtx.chain(freeze(MATRICES), inner()),
    "param_ema": lambda inner: gradtx.chain(inner(), param_ema(0.9)),
    "polyak_average": lambda inner: gradtx.chain(inner(), polyak_average()),
    "lookahead": lambda inner: lookahead(inner(), 2),
}

# The wrappers that hold a transform themselves (not through a chain).
HOLDERS = {
    "apply_if_finite": lambda inner: apply_if_finite(inner, 2),
    "accumulate_gradients": lambda inner: accumulate_gradients(inner, 2),
    "masked": lambda inner: masked(inner, {"w": True, "b": True}),
    "partition": lambda inner: partition({"all": inner}, {"w": "all", "b": "all"}),
    "lookahead": lambda inner: lookahead(inner, 2),
}


def assert_trees_equal(a, b):
    """Same structure, dtypes and bit-for-bit values (NaN equals NaN)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def buffers(tree):
    """The device buffers of the concrete array leaves of ``tree``, one entry per shard."""
    return [shard.data.unsafe_buffer_pointer()
            for leaf in jax.tree.leaves(tree) if isinstance(leaf, jax.Array)
            for shard in leaf.addressable_shards]


def assert_no_aliasing(state, params):
    own = buffers(state)
    assert len(own) == len(set(own)), "two leaves of the state share a buffer"
    assert not set(own) & set(buffers(params)), "a leaf of the state is a buffer of the params"


def fresh_params():
    return jax.tree.map(jnp.array, PARAMS)  # copies: donating them leaves PARAMS intact


# --- 1. a fresh state can be donated ------------------------------------------------------


@pytest.mark.parametrize("donate", [(1,), (1, 2)], ids=["state", "state_and_params"])
@pytest.mark.parametrize("inner", sorted(INNERS))
@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_fresh_state_can_be_donated(name, inner, donate):
    tx = WRAPPERS[name](INNERS[inner])
    expected = jax.jit(tx.update)(GRADS, tx.init(fresh_params()), fresh_params())
    params = fresh_params()
    state = tx.init(params)
    assert_no_aliasing(state, params)
    got = jax.jit(tx.update, donate_argnums=donate)(GRADS, state, params)
    assert_trees_equal(got, expected)


def aliasing_inner():
    """A held transform whose state reuses one array twice and holds the params themselves."""
    zero = jnp.zeros([], jnp.int32)

    def init(params):
        return (zero, zero, params)

    def update(updates, state, params=None, **extra):
        del params, extra
        return updates, state

    return gradtx.GradientTransformation(init, update)


@pytest.mark.parametrize("name", sorted(HOLDERS))
def test_wrapper_state_never_aliases_even_when_the_held_state_does(name):
    tx = HOLDERS[name](aliasing_inner())
    params = fresh_params()
    state = tx.init(params)
    assert_no_aliasing(state, params)
    expected = jax.jit(tx.update)(GRADS, tx.init(fresh_params()), fresh_params())
    got = jax.jit(tx.update, donate_argnums=(1, 2))(GRADS, state, params)
    assert_trees_equal(got, expected)


def test_state_of_a_jitted_init_can_be_donated():
    tx = apply_if_finite(gradtx.adam(1e-2), 2)
    state = jax.jit(tx.init)(PARAMS)
    assert_no_aliasing(state, PARAMS)
    got = jax.jit(tx.update, donate_argnums=1)(GRADS, state, PARAMS)
    assert_trees_equal(got, jax.jit(tx.update)(GRADS, tx.init(PARAMS), PARAMS))


# --- 2. counters at the int32 limit -------------------------------------------------------


def i32(value):
    return jnp.array(value, jnp.int32)


def sgd_reference(grads, lr=0.1):
    """The updates of plain SGD (a constant rate, so its step does not matter)."""
    tx = gradtx.sgd(lr)
    return tx.update(grads, tx.init(PARAMS), PARAMS)[0]


def only_at_the_limit(step):
    """A learning rate of 0.1 at step 2³¹ − 1 and 0 at every other step."""
    return jnp.where(step == INT32_MAX, 0.1, 0.0)


def test_apply_if_finite_counters_saturate_on_applied_steps():
    tx = apply_if_finite(gradtx.sgd(only_at_the_limit), 2)
    state = tx.init(PARAMS)._replace(total_notfinite=i32(INT32_MAX), count=i32(INT32_MAX))
    step = jax.jit(tx.update)
    for _ in range(2):  # the inner transform sees step 2³¹ − 1 both times
        updates, state = step(GRADS, state, PARAMS)
        assert_trees_equal(updates, sgd_reference(GRADS))
        assert int(state.count) == INT32_MAX
        assert int(state.total_notfinite) == INT32_MAX
        assert int(state.notfinite_count) == 0 and bool(state.last_finite)


def test_apply_if_finite_counters_saturate_on_skipped_steps():
    nan_grads = {**GRADS, "b": GRADS["b"].at[0].set(jnp.nan)}
    tx = apply_if_finite(gradtx.sgd(only_at_the_limit), 2)
    limit = i32(INT32_MAX)
    state = tx.init(PARAMS)._replace(notfinite_count=limit, total_notfinite=limit, count=limit)
    updates, state = jax.jit(tx.update)(nan_grads, state, PARAMS)
    # 2³¹ − 1 > max_consecutive_errors non-finite calls: the update goes through (NaN included).
    assert_trees_equal(updates, sgd_reference(nan_grads))
    assert int(state.notfinite_count) == INT32_MAX
    assert int(state.total_notfinite) == INT32_MAX
    assert int(state.count) == INT32_MAX
    assert not bool(state.last_finite)


def test_accumulate_gradients_count_saturates():
    tx = accumulate_gradients(gradtx.sgd(only_at_the_limit), 2)
    state = tx.init(PARAMS)._replace(count=i32(INT32_MAX))
    step = jax.jit(tx.update)
    for _ in range(2):  # two full cycles; the inner transform sees step 2³¹ − 1 in both
        zeros, state = step(GRADS, state, PARAMS)
        assert_trees_equal(zeros, jax.tree.map(jnp.zeros_like, GRADS))
        assert int(state.micro_step) == 1 and int(state.count) == INT32_MAX
        updates, state = step(GRADS2, state, PARAMS)
        mean = {k: (GRADS[k] + GRADS2[k]) / 2 for k in GRADS}
        assert_trees_equal(updates, sgd_reference(mean))
        assert int(state.micro_step) == 0 and int(state.count) == INT32_MAX
        assert_trees_equal(state.grad_sum, jax.tree.map(jnp.zeros_like, GRADS))


@pytest.mark.parametrize("sync_period", [1, 2, 3, 4, 7, INT32_MAX])
def test_lookahead_syncs_correctly_at_the_last_step(sync_period):
    alpha = 0.5
    tx = lookahead(gradtx.sgd(0.1), sync_period=sync_period, slow_step_size=alpha)
    state = tx.init(PARAMS)._replace(count=i32(INT32_MAX))
    updates, new = jax.jit(tx.update)(GRADS, state, PARAMS)
    fast = sgd_reference(GRADS)
    if INT32_MAX % sync_period == sync_period - 1:  # the (2³¹)-th update is a sync
        phi = {k: np.asarray(PARAMS[k]) + alpha * ((np.asarray(PARAMS[k]) + np.asarray(fast[k]))
                                                   - np.asarray(PARAMS[k])) for k in PARAMS}
        expected = {k: phi[k] - np.asarray(PARAMS[k]) for k in PARAMS}
    else:
        phi, expected = PARAMS, fast
    assert_trees_equal(updates, jax.tree.map(jnp.asarray, expected))
    assert_trees_equal(new.slow, jax.tree.map(jnp.asarray, phi))
    assert int(new.count) == INT32_MAX


def test_periods_beyond_the_int32_counters_are_rejected():
    assert lookahead(gradtx.sgd(0.1), sync_period=INT32_MAX) is not None
    with pytest.raises(ValueError, match=r"^lookahead: sync_period must be at most 2\*\*31 - 1 "
                                         r"\(the step counter is int32\), got 2147483648$"):
        lookahead(gradtx.sgd(0.1), sync_period=2**31)
    assert accumulate_gradients(gradtx.sgd(0.1), INT32_MAX) is not None
    with pytest.raises(ValueError, match=r"^accumulate_gradients: every_k must be at most "
                                         r"2\*\*31 - 1 \(micro_step is int32\), got 2147483648$"):
        accumulate_gradients(gradtx.sgd(0.1), 2**31)


def test_polyak_average_weight_at_the_last_step_is_one_over_two_to_the_31():
    tx = gradtx.chain(gradtx.sgd(0.1), polyak_average())
    state = tx.init(PARAMS)
    average = {"w": jnp.array([[0.5, 0.5], [0.5, 0.5]]), "b": jnp.array([-1.0, 1.0])}
    state = state._replace(count=i32(INT32_MAX),
                           states=(state[0], state[1]._replace(average=average)))
    updates, new = jax.jit(tx.update)(GRADS, state, PARAMS)
    assert_trees_equal(updates, sgd_reference(GRADS))
    for k in PARAMS:
        theta = np.asarray(PARAMS[k]) + np.asarray(updates[k])
        a = np.asarray(average[k])
        np.testing.assert_array_equal(new[1].average[k], a + (theta - a) / 2.0**31)
    assert int(new.count) == INT32_MAX


def test_debiased_param_ema_at_the_last_step_weights_by_one_minus_rho():
    rho = 0.5
    tx = gradtx.chain(gradtx.sgd(0.1), param_ema(rho))
    state = tx.init(PARAMS)
    state = state._replace(count=i32(INT32_MAX))
    updates, new = jax.jit(tx.update)(GRADS, state, PARAMS)
    for k in PARAMS:  # 1 − ρ^(2³¹) is 1 in floating point: the weight is 1 − ρ
        theta = np.asarray(PARAMS[k]) + np.asarray(updates[k])
        a = np.asarray(PARAMS[k])
        np.testing.assert_array_equal(new[1].average[k], a + (1 - rho) * (theta - a))


# --- 3. callable pytrees as masks and labels ----------------------------------------------


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class DataclassLinear:
    """An equinox-style module: a dataclass pytree that can be called."""

    w: Any
    b: Any

    def __call__(self, x):
        return x @ self.w + self.b


@jax.tree_util.register_pytree_node_class
class NodeLinear:
    """The same, registered as a pytree node class."""

    def __init__(self, w, b):
        self.w, self.b = w, b

    def __call__(self, x):
        return x @ self.w + self.b

    def tree_flatten(self):
        return (self.w, self.b), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        del aux
        return cls(*children)


MODULES = pytest.mark.parametrize("module", [DataclassLinear, NodeLinear],
                                  ids=["register_dataclass", "register_pytree_node_class"])


def module_problem(module):
    return module(PARAMS["w"], PARAMS["b"]), module(GRADS["w"], GRADS["b"])


@MODULES
@pytest.mark.parametrize("with_params", [True, False], ids=["params", "no_params"])
def test_masked_reads_a_callable_module_mask_as_a_tree(module, with_params):
    params, grads = module_problem(module)
    tx = masked(gradtx.scale(-2.0), module(True, False))
    updates, _ = tx.update(grads, tx.init(params), params if with_params else None)
    assert isinstance(updates, module)
    np.testing.assert_array_equal(updates.w, -2.0 * np.asarray(GRADS["w"]))
    assert updates.b is grads.b


@MODULES
def test_freeze_reads_a_callable_module_mask_as_a_tree(module):
    params, grads = module_problem(module)
    tx = freeze(module(True, False))
    updates, _ = tx.update(grads, tx.init(params), params)
    assert isinstance(updates, module)
    np.testing.assert_array_equal(updates.w, np.zeros((2, 2)))
    assert updates.b is grads.b


@MODULES
def test_partition_reads_callable_module_labels_as_a_tree(module):
    params, grads = module_problem(module)
    tx = partition({"m": gradtx.scale(2.0), "v": gradtx.scale(-1.0)}, module("m", "v"))
    updates, _ = tx.update(grads, tx.init(params), params)
    assert isinstance(updates, module)
    np.testing.assert_array_equal(updates.w, 2.0 * np.asarray(GRADS["w"]))
    np.testing.assert_array_equal(updates.b, -np.asarray(GRADS["b"]))


@MODULES
def test_weight_decay_reads_a_callable_module_mask_as_a_tree(module):
    params, grads = module_problem(module)
    tx = gradtx.add_decayed_weights(0.1, mask=module(True, False))
    updates, _ = tx.update(grads, tx.init(params), params)
    assert isinstance(updates, module)
    np.testing.assert_array_equal(updates.w, np.asarray(GRADS["w"]) + 0.1 * np.asarray(PARAMS["w"]))
    np.testing.assert_array_equal(updates.b, np.asarray(GRADS["b"]))


@MODULES
def test_a_function_mask_is_still_called_on_module_params(module):
    params, grads = module_problem(module)
    by_tree = masked(gradtx.scale(-2.0), module(True, False))
    by_fn = masked(gradtx.scale(-2.0), lambda p: module(True, False))
    assert_trees_equal(by_fn.update(grads, by_fn.init(params), params)[0],
                       by_tree.update(grads, by_tree.init(params), params)[0])
    decay = gradtx.add_decayed_weights(0.1, mask=lambda p: jax.tree.map(lambda x: x.ndim == 2, p))
    updates, _ = decay.update(grads, decay.init(params), params)
    np.testing.assert_array_equal(updates.w, np.asarray(GRADS["w"]) + 0.1 * np.asarray(PARAMS["w"]))


@MODULES
def test_a_callable_module_mask_of_the_wrong_shape_names_the_path(module):
    params = module(PARAMS["w"], {"inner": PARAMS["b"], "extra": PARAMS["b"]})
    mask = module(True, {"inner": False})
    path = {DataclassLinear: ".b['extra']", NodeLinear: "[<flat index 1>]['extra']"}[module]
    with pytest.raises(ValueError, match=f"^masked: the params have {re.escape(path)}, which "
                                         "the mask does not cover$"):
        masked(gradtx.scale(1.0), mask).init(params)
    first = {DataclassLinear: ".b", NodeLinear: "[<flat index 1>]"}[module]
    message = (f"add_decayed_weights: mask does not match the params tree: first difference at "
               f"{path} (expected) vs {first}['inner'] (received)")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        gradtx.add_decayed_weights(0.1, mask=mask).init(params)


# --- 4. non-float leaves ------------------------------------------------------------------

INT_PARAMS = {"w": jnp.array([1.0, -2.0, 0.5], jnp.float32), "n": jnp.array([3, 4], jnp.int32)}


def int_loss(params):
    return jnp.sum(params["w"] ** 2 * params["n"][0] - 0.3 * params["w"])


def float0_grads(params):
    """The gradient of ``int_loss``: float32 for ``w``, float0 for the int leaf ``n``."""
    grads = jax.grad(int_loss, allow_int=True)(params)
    assert grads["n"].dtype == jax.dtypes.float0
    return grads


FLOAT_INNERS = {
    "identity": gradtx.identity,
    # A stateless optimizer that, like the core's policy, leaves non-float updates alone,
    # without going through the core's per-array lifting.
    "float_only_scale": lambda: gradtx.stateless(lambda u, p: jax.tree.map(
        lambda x: -0.1 * x if jnp.issubdtype(x.dtype, jnp.inexact) else x, u)),
    "sgd": lambda: gradtx.sgd(0.1),
}

INT_WRAPPERS = {
    "apply_if_finite": lambda inner: apply_if_finite(inner(), 1),
    "accumulate_gradients": lambda inner: accumulate_gradients(inner(), 2),
    "masked": lambda inner: masked(inner(), lambda p: jax.tree.map(lambda _: True, p)),
    "partition": lambda inner: partition({"a": inner(), "b": inner()},
                                         lambda p: {k: "a" if k == "w" else "b" for k in p}),
    "freeze": lambda inner: gradtx.chain(freeze(lambda p: {k: k == "n" for k in p}), inner()),
    "param_ema": lambda inner: gradtx.chain(inner(), param_ema(0.5)),
    "polyak_average": lambda inner: gradtx.chain(inner(), polyak_average()),
    "lookahead": lambda inner: lookahead(inner(), 2),
}


def apply_float_updates(params, updates):
    """θ ← θ + u on the float leaves; the int leaves are not trained."""
    return {k: params[k] + updates[k] if jnp.issubdtype(params[k].dtype, jnp.inexact)
            else params[k] for k in params}


@pytest.mark.parametrize("inner", list(FLOAT_INNERS.values()), ids=list(FLOAT_INNERS))
@pytest.mark.parametrize("name", sorted(INT_WRAPPERS))
def test_int_leaves_pass_through_and_float_leaves_train_as_alone(name, inner):
    tx, tx_alone = INT_WRAPPERS[name](inner), INT_WRAPPERS[name](inner)
    params, alone = INT_PARAMS, {"w": INT_PARAMS["w"]}
    state, state_alone = tx.init(params), tx_alone.init(alone)
    step, step_alone = jax.jit(tx.update), jax.jit(tx_alone.update)
    for _ in range(4):
        grads = float0_grads(params)
        updates, state = step(grads, state, params)
        updates_alone, state_alone = step_alone({"w": grads["w"]}, state_alone, alone)
        assert_trees_equal(updates["w"], updates_alone["w"])
        assert updates["n"].dtype == jax.dtypes.float0 and updates["n"].shape == (2,)
        params = apply_float_updates(params, updates)
        alone = apply_float_updates(alone, updates_alone)
    # The state's int leaves (copies of the params, untouched sums) are left as they were.
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        if getattr(path[-1], "key", None) == "n":
            assert leaf.dtype == jnp.int32
            expected = 0 if name == "accumulate_gradients" else INT_PARAMS["n"]
            np.testing.assert_array_equal(leaf, np.broadcast_to(expected, (2,)))


@pytest.mark.parametrize("name", ["param_ema", "polyak_average", "lookahead"])
def test_an_int_param_keeps_its_average_even_given_a_float_update(name):
    tx = {"param_ema": lambda: param_ema(0.5), "polyak_average": polyak_average,
          "lookahead": lambda: lookahead(gradtx.identity(), 1)}[name]()
    updates = {"w": jnp.array([0.5, 0.25, -1.0], jnp.float32), "n": jnp.ones(2, jnp.float32)}
    out, state = jax.jit(tx.update)(updates, tx.init(INT_PARAMS), INT_PARAMS)
    kept = state.slow if name == "lookahead" else state.average
    assert_trees_equal(kept["n"], INT_PARAMS["n"])  # apply_updates leaves the int param as is
    assert_trees_equal(out["n"], updates["n"])
    theta = np.asarray(INT_PARAMS["w"]) + np.asarray(updates["w"])
    if name == "lookahead":  # k = 1: every call syncs, φ ← φ + ½ (θ − φ), emitted φ − θ_0
        phi = np.asarray(INT_PARAMS["w"]) + np.float32(0.5) * np.asarray(updates["w"])
        np.testing.assert_allclose(kept["w"], phi, rtol=1e-7)
        np.testing.assert_allclose(out["w"], phi - np.asarray(INT_PARAMS["w"]), rtol=1e-7)
    else:  # the updates pass unchanged; after one step the (debiased) average is θ_1
        assert_trees_equal(out["w"], updates["w"])
        np.testing.assert_allclose(kept["w"], theta, rtol=1e-7)


def test_apply_if_finite_ignores_int_leaves_and_skips_on_a_nan_next_to_them():
    tx = apply_if_finite(gradtx.identity(), 1)
    grads = float0_grads(INT_PARAMS)
    bad = {**grads, "w": grads["w"].at[1].set(jnp.inf)}
    for g in [grads, {**grads, "n": INT_PARAMS["n"]}]:  # a float0 or an int32 leaf
        updates, state = jax.jit(tx.update)(g, tx.init(INT_PARAMS), INT_PARAMS)
        assert bool(state.last_finite) and int(state.count) == 1
        assert_trees_equal(updates, g)
    updates, state = jax.jit(tx.update)(bad, tx.init(INT_PARAMS), INT_PARAMS)
    assert not bool(state.last_finite) and int(state.count) == 0
    assert_trees_equal(updates["w"], jnp.zeros(3, jnp.float32))
    assert updates["n"].dtype == jax.dtypes.float0 and updates["n"].shape == (2,)


def test_apply_if_finite_of_only_int_leaves_always_applies():
    tx = apply_if_finite(gradtx.identity(), 0)
    params = {"n": jnp.array([1, 2], jnp.int32), "flag": jnp.array([True, False])}
    updates, state = jax.jit(tx.update)(params, tx.init(params), params)
    assert bool(state.last_finite) and int(state.count) == 1
    assert_trees_equal(updates, params)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_zeros_like_output_follows_the_output_dtypes(jit):
    float0 = np.zeros((2,), jax.dtypes.float0)
    outputs = {"a": float0, "b": jnp.ones(3, jnp.int32), "c": jnp.ones(2, bool),
               "d": jnp.ones(2, jnp.float32), "e": float0}
    updates = {"a": jnp.ones(2), "b": float0[:1].repeat(3), "c": jnp.ones(2, jnp.int32),
               "d": float0, "e": float0}

    def zeros(u):
        return zeros_like_output(lambda: (outputs, None), u)

    got = jax.jit(zeros)(updates) if jit else zeros(updates)
    for k in ["a", "e"]:
        assert isinstance(got[k], np.ndarray) and got[k].dtype == jax.dtypes.float0
        assert got[k].shape == (2,)
    assert_trees_equal({k: got[k] for k in "bcd"},
                       {"b": jnp.zeros(3, jnp.int32), "c": jnp.zeros(2, bool),
                        "d": jnp.zeros(2, jnp.float32)})


def test_accumulate_gradients_does_not_sum_float0_leaves():
    tx = accumulate_gradients(gradtx.identity(), 3)
    grads = float0_grads(INT_PARAMS)
    state = tx.init(INT_PARAMS)
    step = jax.jit(tx.update)
    for _ in range(2):
        zeros, state = step(grads, state, INT_PARAMS)
        assert_trees_equal(zeros["w"], jnp.zeros(3, jnp.float32))
        assert zeros["n"].dtype == jax.dtypes.float0
    assert_trees_equal(state.grad_sum, {"n": jnp.zeros(2, jnp.int32), "w": 2 * grads["w"]})
    updates, state = step(grads, state, INT_PARAMS)
    assert_trees_equal(updates["w"], (2 * grads["w"] + grads["w"]) / 3)
    assert updates["n"].dtype == jax.dtypes.float0 and updates["n"].shape == (2,)


# --- 5. empty trees -----------------------------------------------------------------------

EMPTY_WRAPPERS = {
    **WRAPPERS,
    "masked": lambda inner: masked(inner(), lambda p: jax.tree.map(lambda _: True, p)),
    "partition": lambda inner: partition({"m": inner(), "v": inner()},
                                         lambda p: jax.tree.map(lambda _: "m", p)),
    "freeze": lambda inner: gradtx.chain(freeze(lambda p: jax.tree.map(lambda _: True, p)),
                                         inner()),
}


@pytest.mark.parametrize("empty", [None, {}], ids=["None", "empty_dict"])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(EMPTY_WRAPPERS))
def test_empty_model_updates_are_empty_and_the_state_advances(name, jit, empty):
    tx = EMPTY_WRAPPERS[name](INNERS["sgd_momentum"])
    state = tx.init(empty)
    step = jax.jit(tx.update) if jit else tx.update
    for _ in range(3):
        updates, new = step(empty, state, None)
        assert updates == empty
        assert jax.tree.structure(new) == jax.tree.structure(state)
        state = new
    if name == "apply_if_finite":  # three applied (finite: no leaves) updates
        assert int(state.count) == 3 and int(state.notfinite_count) == 0
        assert int(state.total_notfinite) == 0 and bool(state.last_finite)
    elif name == "accumulate_gradients":  # one emitted update, one micro-batch pending
        assert int(state.count) == 1 and int(state.micro_step) == 1
    else:  # the step counter of the chain
        assert int(state.count) == 3


@pytest.mark.parametrize("owner", ["param_ema", "polyak_average", "lookahead"])
def test_needs_the_params_only_when_the_updates_have_leaves(owner):
    tx = {"param_ema": lambda: param_ema(0.9), "polyak_average": polyak_average,
          "lookahead": lambda: lookahead(gradtx.sgd(0.1))}[owner]()
    assert tx.update(None, tx.init(None), None)[0] is None
    assert tx.update({"a": None}, tx.init({"a": None}), None)[0] == {"a": None}
    message = f"^{owner}: needs the params; call update\\(updates, state, params\\)$"
    with pytest.raises(ValueError, match=message):
        tx.update(GRADS, tx.init(PARAMS))
