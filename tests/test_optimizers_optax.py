"""gradtx equals optax wherever optax implements the same algorithm, in float64.

Where optax computes something else, the test names the difference and shows
which side the paper and torch are on:

* ``optax.amsgrad`` takes the running maximum of the *bias-corrected* second
  moment; the paper's max is over the raw moment and torch keeps the max of the
  raw moment, bias-correcting afterwards. gradtx follows torch.
* ``optax.adadelta()`` defaults to ``learning_rate=None``, which skips
  ``scale_by_learning_rate`` and with it the sign flip: its default climbs.
  gradtx's default is the paper's α = 1 (torch's ``lr=1.0``) and descends.
* ``optax.adagrad`` starts the accumulator at 0.1 with ε = 1e-7 inside the
  root; gradtx (like torch) starts it at 0 with ε = 1e-10 outside. The blocks
  give optax's form: ``scale_by_rss(eps=0, eps_root=1e-7, initial_accumulator_value=0.1)``.
* ``optax.rmsprop`` puts ε inside the root by default (``eps_in_sqrt=True``) and
  applies momentum after the learning rate (the lecture's form,
  gradtx's ``lr_inside_velocity=True``).
* ``optax.nadam`` uses the constant μ_t = ρ1: gradtx's ``nadam(momentum_decay=None)``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference_numpy as ref
from paths import in_path

import gradtx as gt

PROBLEM = ref.make_problem()
RTOL = 1e-12
ATOL = 1e-14  # for coordinates that pass near zero


@jax.jit  # one dispatch per step instead of one per operation
def _grad_tree(params):
    theta = jnp.concatenate([params["bias"], params["kernel"].ravel()])
    g = jnp.asarray(PROBLEM.A) @ theta - jnp.asarray(PROBLEM.b) + PROBLEM.gamma * theta**3
    return {"bias": g[:3], "kernel": g[3:].reshape(2, 2)}


def trajectory(tx, steps: int = ref.STEPS) -> np.ndarray:
    """θ_0 … θ_steps of a gradtx or optax transform on the shared problem."""
    params = {k: jnp.asarray(v, jnp.float64) for k, v in ref.to_params(PROBLEM.theta0).items()}
    state = tx.init(params)
    out = [ref.from_params(params)]
    for _ in range(steps):
        updates, state = tx.update(_grad_tree(params), state, params)
        params = gt.apply_updates(params, updates)
        out.append(ref.from_params(params))
    return np.array(out)


def assert_same(actual, expected) -> None:
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


MASK = {"bias": False, "kernel": True}

SAME_ALGORITHM = [
    pytest.param(lambda: gt.adam(0.05, 0.8, 0.99, 1e-6, eps_root=1e-4),
                 lambda: optax.adam(0.05, 0.8, 0.99, 1e-6, eps_root=1e-4), id="adam"),
    pytest.param(lambda: gt.adamw(0.05, weight_decay=0.1),
                 lambda: optax.adamw(0.05, weight_decay=0.1), id="adamw"),
    pytest.param(lambda: gt.adamw(0.05, weight_decay=0.1, mask=MASK),
                 lambda: optax.adamw(0.05, weight_decay=0.1, mask=MASK), id="adamw-mask"),
    pytest.param(lambda: gt.sgd(0.05), lambda: optax.sgd(0.05), id="sgd"),
    pytest.param(lambda: gt.sgd(0.05, momentum=0.9), lambda: optax.sgd(0.05, momentum=0.9),
                 id="sgd-momentum"),
    pytest.param(lambda: gt.sgd(0.05, momentum=0.9, nesterov=True),
                 lambda: optax.sgd(0.05, momentum=0.9, nesterov=True), id="sgd-nesterov"),
    pytest.param(lambda: gt.rmsprop(0.01, decay=0.9, eps=1e-8),
                 lambda: optax.rmsprop(0.01, decay=0.9, eps=1e-8, eps_in_sqrt=False),
                 id="rmsprop-eps-outside"),
    pytest.param(lambda: gt.chain(gt.scale_by_rms(0.9, eps=0.0, eps_root=1e-8),
                                  gt.scale_by_learning_rate(0.01)),
                 lambda: optax.rmsprop(0.01), id="rmsprop-optax-defaults-eps-inside"),
    pytest.param(lambda: gt.rmsprop(0.01, decay=0.9, eps=1e-8, centered=True),
                 lambda: optax.rmsprop(0.01, decay=0.9, eps=1e-8, eps_in_sqrt=False,
                                       centered=True),
                 id="rmsprop-centered"),
    pytest.param(lambda: gt.rmsprop(0.01, decay=0.99, momentum=0.9, lr_inside_velocity=True),
                 lambda: optax.rmsprop(0.01, decay=0.99, eps_in_sqrt=False, momentum=0.9),
                 id="rmsprop-momentum-lecture-form"),
    pytest.param(lambda: gt.rmsprop(0.01, decay=0.99, momentum=0.9, nesterov=True,
                                    lr_inside_velocity=True),
                 lambda: optax.rmsprop(0.01, decay=0.99, eps_in_sqrt=False, momentum=0.9,
                                       nesterov=True),
                 id="rmsprop-nesterov-lecture-form"),
    pytest.param(lambda: gt.chain(gt.scale_by_rss(eps=0.0, eps_root=1e-7),
                                  gt.scale_by_learning_rate(0.5)),
                 lambda: optax.adagrad(0.5, initial_accumulator_value=0.0, eps=1e-7),
                 id="adagrad-initial-0"),
    pytest.param(lambda: gt.chain(gt.scale_by_rss(eps=0.0, eps_root=1e-7,
                                                  initial_accumulator_value=0.1),
                                  gt.scale_by_learning_rate(0.5)),
                 lambda: optax.adagrad(0.5), id="adagrad-optax-defaults"),
    pytest.param(lambda: gt.adamax(0.05), lambda: optax.adamax(0.05), id="adamax"),
    pytest.param(lambda: gt.nadam(0.05, momentum_decay=None), lambda: optax.nadam(0.05),
                 id="nadam-constant-mu"),
    pytest.param(lambda: gt.adadelta(1.0), lambda: optax.adadelta(1.0), id="adadelta-lr-1"),
]


@pytest.mark.parametrize("make_gradtx, make_optax", SAME_ALGORITHM)
def test_alias_trajectory_equals_optax(make_gradtx, make_optax, path):
    assert_same(trajectory(in_path(make_gradtx(), path)), trajectory(make_optax()))


# --- Building blocks, step by step on a gradient sequence ----------------------------------


def _gradient_sequence(n: int = 10):
    """Random float64 gradient trees whose global norms range from about 0.2 to 6."""
    rng = np.random.default_rng(1)
    scales = np.geomspace(0.1, 3.0, n)[rng.permutation(n)]
    return [
        {"bias": jnp.asarray(s * rng.normal(size=3)), "kernel": jnp.asarray(s * rng.normal(
            size=(2, 2)))}
        for s in scales
    ]


PARAMS = {"bias": jnp.asarray([0.5, -1.0, 2.0]), "kernel": jnp.asarray([[1.0, -0.3], [0.2, 4.0]])}

SAME_BLOCK = [
    pytest.param(lambda: gt.clip_by_global_norm(1.0), lambda: optax.clip_by_global_norm(1.0),
                 id="clip_by_global_norm"),
    pytest.param(lambda: gt.clip(0.5), lambda: optax.clip(0.5), id="clip"),
    pytest.param(lambda: gt.add_decayed_weights(0.1), lambda: optax.add_decayed_weights(0.1),
                 id="add_decayed_weights"),
    pytest.param(lambda: gt.add_decayed_weights(0.1, MASK),
                 lambda: optax.add_decayed_weights(0.1, MASK), id="add_decayed_weights-mask"),
    pytest.param(lambda: gt.trace(0.9), lambda: optax.trace(0.9), id="trace"),
    pytest.param(lambda: gt.trace(0.9, nesterov=True), lambda: optax.trace(0.9, nesterov=True),
                 id="trace-nesterov"),
    pytest.param(lambda: gt.ema(0.8), lambda: optax.ema(0.8), id="ema-debiased"),
    pytest.param(lambda: gt.ema(0.8, debias=False), lambda: optax.ema(0.8, debias=False),
                 id="ema"),
    pytest.param(lambda: gt.scale_by_adam(0.8, 0.99, 1e-6, 1e-4),
                 lambda: optax.scale_by_adam(0.8, 0.99, 1e-6, 1e-4), id="scale_by_adam"),
    pytest.param(lambda: gt.scale_by_adam(0.8, 0.99, 1e-6, nesterov=True),
                 lambda: optax.scale_by_adam(0.8, 0.99, 1e-6, nesterov=True),
                 id="scale_by_adam-nesterov"),
]


@pytest.mark.parametrize("make_gradtx, make_optax", SAME_BLOCK)
def test_block_outputs_equal_optax_step_by_step(make_gradtx, make_optax, path):
    ours, theirs = in_path(make_gradtx(), path), make_optax()
    s_ours, s_theirs = ours.init(PARAMS), theirs.init(PARAMS)
    for grads in _gradient_sequence():
        u_ours, s_ours = ours.update(grads, s_ours, PARAMS)
        u_theirs, s_theirs = theirs.update(grads, s_theirs, PARAMS)
        jax.tree.map(assert_same, u_ours, u_theirs)


def test_gradient_sequence_exercises_both_sides_of_the_clipping_threshold():
    norms = [float(gt.tree_global_norm(g)) for g in _gradient_sequence()]
    assert min(norms) < 1.0 < max(norms)


# --- Where optax computes something else ---------------------------------------------------


def test_amsgrad_takes_the_max_over_the_raw_moment_like_torch_not_like_optax():
    ours = trajectory(gt.amsgrad(0.05))
    theirs = trajectory(optax.amsgrad(0.05))
    g = PROBLEM.grad
    assert_same(ours, ref.amsgrad(g, PROBLEM.theta0, 0.05, 0.9, 0.999, 1e-8))
    assert_same(theirs, ref.amsgrad(g, PROBLEM.theta0, 0.05, 0.9, 0.999, 1e-8,
                                    max_after_bias_correction=True))
    assert np.max(np.abs(ours - theirs)) > 1e-2


def test_optax_adadelta_defaults_climb_while_gradtx_defaults_descend():
    start = PROBLEM.loss(PROBLEM.theta0)
    assert PROBLEM.loss(trajectory(optax.adadelta())[-1]) > start
    assert PROBLEM.loss(trajectory(gt.adadelta())[-1]) < start


def test_adagrad_defaults_differ_from_optax_in_the_initial_accumulator():
    # Same learning rate; gradtx (torch's defaults) vs optax's r_0 = 0.1, ε = 1e-7 inside.
    ours, theirs = trajectory(gt.adagrad(0.5)), trajectory(optax.adagrad(0.5))
    assert np.max(np.abs(ours - theirs)) > 1e-3
    assert_same(ours, ref.adagrad(PROBLEM.grad, PROBLEM.theta0, 0.5, 1e-10, r0=0.0))
