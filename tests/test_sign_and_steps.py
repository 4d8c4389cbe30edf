"""Sign-based and step-size optimizers: signSGD, Signum, Rprop, Polyak SGD, noisy SGD,
Fromage, optimistic gradient descent and SM3, and DoG's block
(``scale_by_distance_over_gradients``).

Each 50-step trajectory on the shared problem (``reference_numpy.make_problem``,
float64) equals a NumPy transcription of the paper (``reference_sign_and_steps.py``)
and optax 0.2.8's optimizer of the same name; Rprop also equals torch 2.13's
(``fixtures/torch_sign_and_steps.npz``, made by
``fixtures/make_torch_fixtures_sign_and_steps.py``; torch is not imported).

Where optax computes something else, the test says so and pins down the difference:

* ``optax.rprop`` returns each step one update late (its first update is 0; optax
  PR #1725) and does not clip the initial step size; gradtx follows torch and the paper.
* ``optax.polyak_sgd(scaling=s)`` divides by s² ‖g‖² instead of ‖g‖²; equal at s = 1.
* noise: gradtx's ``noisy_sgd`` draws optax's noise for the same seed.
"""

import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference_numpy as ref
import reference_sign_and_steps as rs

import gradtx as gt
from gradtx.blocks import sign_and_steps as blocks
from gradtx.optimizers import sign_and_steps as ss

PROBLEM = ref.make_problem()
THETA0 = PROBLEM.theta0
THETA_STAR = rs.newton_minimum(PROBLEM)
F_STAR = PROBLEM.loss(THETA_STAR)
RTOL = 1e-12
ATOL = 1e-14  # for coordinates that pass near zero
TORCH = np.load(Path(__file__).parent / "fixtures" / "torch_sign_and_steps.npz")
TORCH_CONFIGS = json.loads(str(TORCH["configs"]))


def _theta(params):
    return jnp.concatenate([params["bias"], params["kernel"].ravel()])


def _grad_tree(params):
    theta = _theta(params)
    g = jnp.asarray(PROBLEM.A) @ theta - jnp.asarray(PROBLEM.b) + PROBLEM.gamma * theta**3
    return {"bias": g[:3], "kernel": g[3:].reshape(2, 2)}


def _loss(params):
    theta = _theta(params)
    return (0.5 * theta @ jnp.asarray(PROBLEM.A) @ theta - jnp.asarray(PROBLEM.b) @ theta
            + 0.25 * PROBLEM.gamma * jnp.sum(theta**4))


def trajectory(tx, steps: int = ref.STEPS, *, with_value: bool = False,
               value_offset: float = 0.0) -> np.ndarray:
    """θ_0 … θ_steps of a gradtx or optax transform, the steps run by one ``lax.scan``.

    ``with_value`` passes ``value=f(θ) + value_offset`` to every update.
    """
    params = {k: jnp.asarray(v, jnp.float64) for k, v in ref.to_params(THETA0).items()}

    @jax.jit
    def run(params):
        def step(carry, _):
            params, state = carry
            extra = {"value": _loss(params) + value_offset} if with_value else {}
            updates, state = tx.update(_grad_tree(params), state, params, **extra)
            params = gt.apply_updates(params, updates)
            return (params, state), _theta(params)

        _, thetas = jax.lax.scan(step, (params, tx.init(params)), length=steps)
        return thetas

    out = np.concatenate([THETA0[None], np.asarray(run(params))])
    assert out.dtype == np.float64
    return out


def assert_same(actual, expected, rtol=RTOL, atol=ATOL) -> None:
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


g = PROBLEM.grad

# --- (1) NumPy references ------------------------------------------------------------------

REFERENCE_CASES = [
    pytest.param(lambda: ss.sign_sgd(0.01), lambda: rs.sign_sgd(g, THETA0, 0.01), False,
                 id="sign_sgd"),
    pytest.param(lambda: ss.signum(0.01, beta=0.8), lambda: rs.signum(g, THETA0, 0.01, 0.8),
                 False, id="signum"),
    pytest.param(lambda: ss.rprop(0.01), lambda: rs.rprop(g, THETA0, 0.01), False, id="rprop"),
    pytest.param(lambda: ss.polyak_sgd(0.15, f_min=F_STAR - 1e-3),
                 lambda: rs.polyak_sgd(g, PROBLEM.loss, THETA0, 0.15, f_min=F_STAR - 1e-3), True,
                 id="polyak_sgd"),
    pytest.param(lambda: ss.polyak_sgd(0.3, 0.5, F_STAR - 0.5, 1e-3, "sps+"),
                 lambda: rs.polyak_sgd(g, PROBLEM.loss, THETA0, 0.3, 0.5, F_STAR - 0.5, 1e-3,
                                       plus=True), True, id="polyak_sgd-sps+-scaled"),
    pytest.param(lambda: ss.noisy_sgd(0.05, eta=0.0), lambda: ref.sgd(g, THETA0, 0.05), False,
                 id="noisy_sgd-without-noise"),
    pytest.param(lambda: ss.fromage(0.1), lambda: rs.fromage(g, THETA0, 0.1), False,
                 id="fromage"),
    pytest.param(lambda: ss.optimistic_gradient_descent(0.05, 0.5, 0.8),
                 lambda: rs.optimistic_gradient_descent(g, THETA0, 0.05, 0.5, 0.8), False,
                 id="optimistic_gradient_descent"),
    pytest.param(lambda: ss.sm3(0.1), lambda: rs.sm3(g, THETA0, 0.1), False, id="sm3"),
    pytest.param(lambda: ss.sm3(0.05, momentum=None),
                 lambda: rs.sm3(g, THETA0, 0.05, momentum=0.0), False, id="sm3-no-momentum"),
    # θ_0 kept in float64, as the reference keeps it
    pytest.param(lambda: blocks.scale_by_distance_over_gradients(param_dtype=jnp.float64,
                                                                 global_scale=-1.0),
                 lambda: rs.dog(g, THETA0, scale=1.0), False, id="dog"),
    pytest.param(lambda: blocks.scale_by_distance_over_gradients(1e-2, 1e-3, None, -0.5),
                 lambda: rs.dog(g, THETA0, 1e-2, 1e-3, scale=0.5), False, id="dog-arguments"),
]


@pytest.mark.parametrize("make_gradtx, make_reference, with_value", REFERENCE_CASES)
def test_trajectory_follows_the_paper(make_gradtx, make_reference, with_value):
    assert_same(trajectory(make_gradtx(), with_value=with_value), make_reference())


FLAT_PATH_CASES = [
    pytest.param(lambda: ss.rprop(0.05, 0.3, 1.5, 1e-4, 0.2),
                 lambda: rs.rprop(g, THETA0, 0.05, 0.3, 1.5, 1e-4, 0.2), id="rprop"),
    pytest.param(lambda: ss.fromage(0.1), lambda: rs.fromage(g, THETA0, 0.1), id="fromage"),
    pytest.param(lambda: ss.sm3(0.1), lambda: rs.sm3(g, THETA0, 0.1), id="sm3"),
    pytest.param(lambda: blocks.scale_by_distance_over_gradients(1e-3, param_dtype=None,
                                                                 global_scale=-1.0),
                 lambda: rs.dog(g, THETA0, 1e-3), id="dog"),
]


@pytest.mark.parametrize("make_gradtx, make_reference", FLAT_PATH_CASES)
def test_flat_path_follows_the_paper(make_gradtx, make_reference):
    """On flat buffers (``gradtx.flat.flatten``): per-layer norms and SM3's per-leaf cover
    are still per leaf."""
    assert_same(trajectory(gt.flat.flatten(make_gradtx())), make_reference())


# --- (2) optax parity ----------------------------------------------------------------------

OPTAX_CASES = [
    pytest.param(lambda: ss.sign_sgd(0.01), lambda: optax.sign_sgd(0.01), False, id="sign_sgd"),
    pytest.param(lambda: ss.signum(0.01, 0.8), lambda: optax.signum(0.01, 0.8), False,
                 id="signum"),
    pytest.param(lambda: ss.polyak_sgd(0.3, f_min=F_STAR - 0.5, eps=1e-3, variant="sps+"),
                 lambda: optax.polyak_sgd(0.3, f_min=F_STAR - 0.5, eps=1e-3, variant="sps+"),
                 True, id="polyak_sgd"),
    pytest.param(lambda: ss.noisy_sgd(0.05, eta=0.1, gamma=0.3, key=7),
                 lambda: optax.noisy_sgd(0.05, eta=0.1, gamma=0.3, key=7), False,
                 id="noisy_sgd-same-seed-same-noise"),
    pytest.param(lambda: ss.fromage(0.1, min_norm=0.5), lambda: optax.fromage(0.1, 0.5), False,
                 id="fromage"),
    pytest.param(lambda: ss.optimistic_gradient_descent(0.05, 0.5, 0.8),
                 lambda: optax.optimistic_gradient_descent(0.05, 0.5, 0.8), False,
                 id="optimistic_gradient_descent"),
    pytest.param(lambda: ss.sm3(0.1, momentum=0.5), lambda: optax.sm3(0.1, momentum=0.5), False,
                 id="sm3"),
    # the default param_dtype (float32): both round θ_0 to float32 alike
    pytest.param(lambda: blocks.scale_by_distance_over_gradients(global_scale=-1.0),
                 lambda: optax.scale_by_distance_over_gradients(global_scale=-1.0), False,
                 id="scale_by_distance_over_gradients"),
    pytest.param(lambda: blocks.scale_by_distance_over_gradients(1e-3, 1e-4, jnp.float64, -2.0),
                 lambda: optax.scale_by_distance_over_gradients(1e-3, 1e-4, jnp.float64, -2.0),
                 False, id="scale_by_distance_over_gradients-arguments"),
]


@pytest.mark.parametrize("make_gradtx, make_optax, with_value", OPTAX_CASES)
def test_trajectory_equals_optax(make_gradtx, make_optax, with_value):
    assert_same(trajectory(make_gradtx(), with_value=with_value),
                trajectory(make_optax(), with_value=with_value))


def _gradient_sequence(steps: int = 12) -> list[dict]:
    """Gradients independent of the params, with sign changes and zeros."""
    rng = np.random.default_rng(3)
    signs = np.sign(rng.normal(size=(steps, 7)) + 0.6)
    return [ref.to_params(s * rng.uniform(0.5, 2.0, size=7)) for s in signs]


def test_rprop_differs_from_optax_only_by_optax_one_step_delay():
    """optax 0.2.8 emits at step t+1 the step computed at step t (zeroed where the sign of
    the gradient changes at t+1) and 0 at the first step; its step sizes equal gradtx's."""
    grads = _gradient_sequence()
    params = {k: jnp.zeros_like(jnp.asarray(v)) for k, v in ref.to_params(THETA0).items()}
    ours, theirs = ss.rprop(0.01), optax.rprop(0.01)
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    update_ours, update_theirs = jax.jit(ours.update), jax.jit(theirs.update)
    ours_u, theirs_u, ours_delta, theirs_delta = [], [], [], []
    for grad in grads:
        u, s_ours = update_ours(grad, s_ours, params)
        v, s_theirs = update_theirs(grad, s_theirs, params)
        ours_u.append(ref.from_params(u))
        theirs_u.append(ref.from_params(v))
        ours_delta.append(ref.from_params(s_ours["rprop"].step_sizes))
        theirs_delta.append(ref.from_params(s_theirs[0].step_sizes))
    np.testing.assert_array_equal(ours_delta, theirs_delta)
    np.testing.assert_array_equal(theirs_u[0], 0)
    flips = [np.sign(ref.from_params(a)) * np.sign(ref.from_params(b)) < 0
             for a, b in zip(grads, grads[1:], strict=False)]
    for t, flip in enumerate(flips):
        np.testing.assert_array_equal(theirs_u[t + 1], np.where(flip, 0, ours_u[t]))


def test_polyak_scaling_differs_from_optax_which_divides_by_its_square():
    s = 0.5
    ours = trajectory(ss.polyak_sgd(0.3, scaling=s, f_min=F_STAR - 0.5), with_value=True)
    assert_same(ours, rs.polyak_sgd(g, PROBLEM.loss, THETA0, 0.3, s, F_STAR - 0.5))
    theirs = trajectory(optax.polyak_sgd(0.3, scaling=s, f_min=F_STAR - 0.5), with_value=True)
    # optax: θ ← θ − s min((f − f*)/(s² ‖g‖²), γ_max) g = the documented step at s' = 1/s ...
    assert not np.allclose(ours, theirs)
    # ... with the cap scaled: min(gap/(s‖g‖²), s γ_max) = documented step for (γ_max s², 1/s).
    assert_same(theirs, rs.polyak_sgd(g, PROBLEM.loss, THETA0, 0.3 * s**2, 1 / s,
                                      F_STAR - 0.5))


# --- (3) torch parity ----------------------------------------------------------------------


def _torch_rprop(lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
    """torch's ``Rprop`` (its defaults) as gradtx's ``rprop``."""
    return ss.rprop(lr, etas[0], etas[1], step_sizes[0], step_sizes[1])


@pytest.mark.parametrize("name", ["rprop", "rprop_custom"])
def test_rprop_equals_torch(name):
    np.testing.assert_array_equal(TORCH["A"], PROBLEM.A)
    np.testing.assert_array_equal(TORCH["theta0"], THETA0)
    tx = _torch_rprop(**TORCH_CONFIGS[name]["kwargs"])
    assert_same(trajectory(tx), TORCH[f"traj_{name}"], rtol=1e-10, atol=1e-13)


def test_rprop_moves_a_complex_leaf_as_its_real_pair():
    grads = _gradient_sequence()
    z = {"w": jnp.zeros(7, jnp.complex128)}
    pair = {"w": jnp.zeros((2, 7), jnp.float64)}
    tx = ss.rprop(0.01)
    s_z, s_pair = tx.init(z), tx.init(pair)
    update = jax.jit(tx.update)
    for a, b in zip(grads, grads[::-1], strict=True):
        ga, gb = ref.from_params(a), ref.from_params(b)
        u_z, s_z = update({"w": jnp.asarray(ga + 1j * gb)}, s_z, z)
        u_pair, s_pair = update({"w": jnp.asarray(np.stack([ga, gb]))}, s_pair, pair)
        np.testing.assert_array_equal(np.real(u_z["w"]), u_pair["w"][0])
        np.testing.assert_array_equal(np.imag(u_z["w"]), u_pair["w"][1])


# --- noise ---------------------------------------------------------------------------------


def test_noise_has_the_annealed_variance():
    """With g = 0 and α = 1 the update is −σ_t z: mean 0, σ_t² = η / t^γ."""
    eta, gamma, n = 0.04, 0.55, 40_000
    params = {"w": jnp.zeros(n, jnp.float64)}
    tx = ss.noisy_sgd(1.0, eta=eta, gamma=gamma, key=1)
    state, update = tx.init(params), jax.jit(tx.update)
    zero = {"w": jnp.zeros(n, jnp.float64)}
    for t in range(1, 11):
        u, state = update(zero, state, params)
        if t in (1, 10):
            sigma = np.sqrt(eta / t**gamma)
            sample = np.asarray(u["w"])
            assert abs(sample.mean()) < 5 * sigma / np.sqrt(n)
            assert sample.std() == pytest.approx(sigma, rel=0.02)


def test_noise_is_reproducible_from_the_seed_and_the_key():
    params = {k: jnp.asarray(v) for k, v in ref.to_params(THETA0).items()}

    def first_update(tx):
        return ref.from_params(tx.update(params, tx.init(params), params)[0])

    by_seed = first_update(ss.noisy_sgd(0.05, key=3))
    np.testing.assert_array_equal(by_seed, first_update(ss.noisy_sgd(0.05, seed=3)))
    np.testing.assert_array_equal(by_seed, first_update(ss.noisy_sgd(0.05, key=jax.random.key(3))))
    assert not np.allclose(by_seed, first_update(ss.noisy_sgd(0.05, key=4)))
    # flat buffers: the noise is still drawn leaf by leaf, with the same keys
    assert_same(by_seed, first_update(gt.flat.flatten(ss.noisy_sgd(0.05, key=3))))


# --- (4) defaults descend ------------------------------------------------------------------

DEFAULTS = [
    pytest.param(lambda: ss.sign_sgd(0.01), id="sign_sgd"),
    pytest.param(lambda: ss.signum(0.01), id="signum"),
    pytest.param(lambda: ss.rprop(0.01), id="rprop"),
    pytest.param(lambda: ss.polyak_sgd(), id="polyak_sgd"),
    pytest.param(lambda: ss.noisy_sgd(0.05), id="noisy_sgd"),
    pytest.param(lambda: ss.fromage(0.01), id="fromage"),
    pytest.param(lambda: ss.optimistic_gradient_descent(0.05), id="optimistic_gradient_descent"),
    pytest.param(lambda: ss.sm3(0.1), id="sm3"),
]


@pytest.mark.parametrize("make", DEFAULTS)
def test_defaults_descend(make):
    """f(θ_50) < f(θ_0) with the required arguments only; Polyak SGD gets the loss
    f − f* (whose minimum is its default f_min = 0)."""
    thetas = trajectory(make(), with_value=True, value_offset=-F_STAR)
    assert PROBLEM.loss(thetas[-1]) < PROBLEM.loss(thetas[0]) - 0.1


# --- (5) construction-time errors ----------------------------------------------------------

BAD_ARGUMENTS = [
    (lambda: ss.sign_sgd(-0.1), ValueError, "sign_sgd: learning_rate must be in [0.0, inf), "
     "got -0.1"),
    (lambda: ss.signum(0.1, beta=1.0), ValueError, "signum: beta must be in [0.0, 1.0), got 1.0"),
    (lambda: ss.rprop(0.0), ValueError, "rprop: learning_rate must be in (0.0, inf), got 0.0"),
    (lambda: ss.rprop("0.1"), TypeError, "rprop: learning_rate must be a number, got str '0.1'"),
    (lambda: ss.rprop(0.1, eta_minus=1.0), ValueError, "scale_by_rprop: eta_minus must be in "
     "(0.0, 1.0), got 1.0"),
    (lambda: ss.rprop(0.1, eta_plus=1.0), ValueError, "scale_by_rprop: eta_plus must be in "
     "(1.0, inf), got 1.0"),
    (lambda: ss.rprop(0.1, min_step_size=1.0, max_step_size=0.5), ValueError,
     "scale_by_rprop: min_step_size must be at most max_step_size, got 1.0 > 0.5"),
    (lambda: ss.polyak_sgd(max_learning_rate=0.0), ValueError, "scale_by_polyak: "
     "max_learning_rate must be in (0.0, inf), got 0.0"),
    (lambda: ss.polyak_sgd(variant="sps2"), ValueError, "scale_by_polyak: variant must be 'sps' "
     "or 'sps+', got 'sps2'"),
    (lambda: ss.polyak_sgd(scaling=-1.0), ValueError, "polyak_sgd: scaling must be in "
     "[0.0, inf), got -1.0"),
    (lambda: ss.noisy_sgd(0.1, eta=-1.0), ValueError, "add_noise: eta must be in [0.0, inf), "
     "got -1.0"),
    (lambda: ss.noisy_sgd(0.1, key=1, seed=1), ValueError, "add_noise: give key or seed, "
     "not both"),
    (lambda: ss.noisy_sgd(0.1, key="one"), TypeError, "add_noise: key must be an int seed or a "
     "jax.random key, got str 'one'"),
    (lambda: ss.fromage(0.1, min_norm=-1.0), ValueError, "scale_by_norm_ratio: min_norm must be "
     "in [0.0, inf), got -1.0"),
    (lambda: ss.optimistic_gradient_descent(0.1, beta=-1.0), ValueError,
     "scale_by_optimistic_gradient: beta must be in [0.0, inf), got -1.0"),
    (lambda: ss.sm3(0.1, momentum=1.0), ValueError, "sm3: momentum must be in [0.0, 1.0), "
     "got 1.0"),
    (lambda: blocks.scale_by_sm3(b2=1.5), ValueError, "scale_by_sm3: b2 must be in [0.0, 1.0], "
     "got 1.5"),
    (lambda: blocks.scale_by_distance_over_gradients(reps_rel=0.0), ValueError,
     "scale_by_distance_over_gradients: reps_rel must be in (0.0, inf), got 0.0"),
    (lambda: blocks.scale_by_distance_over_gradients(reps_rel="1e-6"), TypeError,
     "scale_by_distance_over_gradients: reps_rel must be a number, got str '1e-6'"),
    (lambda: blocks.scale_by_distance_over_gradients(eps=-1e-8), ValueError,
     "scale_by_distance_over_gradients: eps must be in [0.0, inf), got -1e-08"),
    (lambda: blocks.scale_by_distance_over_gradients(param_dtype=jnp.int32), TypeError,
     "scale_by_distance_over_gradients: param_dtype must be a real floating dtype or None, "
     "got <class 'jax.numpy.int32'>"),
    (lambda: blocks.scale_by_distance_over_gradients(param_dtype="nope"), TypeError,
     "scale_by_distance_over_gradients: param_dtype must be a real floating dtype or None, "
     "got 'nope'"),
    (lambda: blocks.scale_by_distance_over_gradients(global_scale=float("inf")), ValueError,
     "scale_by_distance_over_gradients: global_scale must be a finite number in (-inf, inf), "
     "got inf"),
]


@pytest.mark.parametrize("make, error, message", BAD_ARGUMENTS,
                         ids=[m.split(":")[0] + "-" + m.split(" ")[1] for _, _, m in BAD_ARGUMENTS])
def test_bad_argument_raises_at_construction(make, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        make()


def test_polyak_needs_the_loss():
    tx = ss.polyak_sgd()
    params = ref.to_params(THETA0)
    with pytest.raises(ValueError, match=r"^scale_by_polyak: needs the loss; call "
                                         r"update\(\.\.\., value=loss\)$"):
        tx.update(params, tx.init(params), params)


def test_dog_needs_the_params():
    tx = blocks.scale_by_distance_over_gradients()
    params = ref.to_params(THETA0)
    with pytest.raises(ValueError, match=r"^scale_by_distance_over_gradients: needs the params"):
        tx.update(params, tx.init(params))


def test_dog_keeps_its_state_types_and_the_params_dtypes():
    """r and G in float32 for bfloat16 params (from init on, so a jitted step keeps its
    types), θ_0 in ``param_dtype``, the updates in the params' dtypes; an int leaf passes."""
    tx = blocks.scale_by_distance_over_gradients(global_scale=-1.0)
    params = {"w": jnp.ones((2, 3), jnp.bfloat16), "b": jnp.ones(3, jnp.float32),
              "n": jnp.arange(2)}
    grads = {"w": jnp.ones((2, 3), jnp.bfloat16), "b": -jnp.ones(3, jnp.float32),
             "n": jnp.zeros(2, jnp.int64)}
    state = tx.init(params)
    updates, new = jax.jit(tx.update)(grads, state, params)
    as_types = lambda t: jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), t)  # noqa: E731
    assert as_types(new) == as_types(state)
    assert as_types(state.max_dist) == {"w": ((), jnp.float32), "b": ((), jnp.float32),
                                        "n": ((), jnp.int64)}
    assert as_types(state.init_params)["w"] == ((2, 3), jnp.float32)
    assert as_types(updates) == as_types(params)
    # the first step: r_0 / √(‖g‖² + ε) · g, with r_0 = 1e-6 (1 + ‖θ_0‖)
    r0 = 1e-6 * (1 + np.sqrt(3.0))
    np.testing.assert_allclose(updates["b"], r0 / np.sqrt(3 + 1e-8), rtol=1e-6)
    np.testing.assert_array_equal(updates["n"], grads["n"])


def test_fromage_needs_the_params():
    tx = ss.fromage(0.1)
    params = ref.to_params(THETA0)
    with pytest.raises(ValueError, match=r"^scale_by_norm_ratio: needs the params"):
        tx.update(params, tx.init(params))


# --- (6) zero gradient ---------------------------------------------------------------------

ZERO_GRADIENT = [
    pytest.param(lambda: ss.sign_sgd(0.1), id="sign_sgd"),
    pytest.param(lambda: ss.signum(0.1), id="signum"),
    pytest.param(lambda: ss.rprop(0.1), id="rprop"),
    pytest.param(lambda: ss.polyak_sgd(), id="polyak_sgd"),
    pytest.param(lambda: ss.polyak_sgd(variant="sps+", f_min=-1.0), id="polyak_sgd-sps+"),
    pytest.param(lambda: ss.optimistic_gradient_descent(0.1), id="optimistic_gradient_descent"),
    pytest.param(lambda: ss.sm3(0.1), id="sm3"),
    pytest.param(lambda: blocks.scale_by_distance_over_gradients(), id="dog"),
]


@pytest.mark.parametrize("make", ZERO_GRADIENT)
def test_zero_gradient_gives_zero_update(make):
    tx = make()
    params = {k: jnp.asarray(v) for k, v in ref.to_params(THETA0).items()}
    state = tx.init(params)
    zero = jax.tree.map(jnp.zeros_like, params)
    for _ in range(2):
        updates, state = tx.update(zero, state, params, value=jnp.asarray(1.0))
        for leaf in jax.tree.leaves(updates):
            np.testing.assert_array_equal(leaf, 0)


def test_fromage_zero_gradient_only_shrinks_the_params():
    """Fromage's rescaling is not zero for g = 0: θ ← θ / √(1 + α²) (weight decay)."""
    tx = ss.fromage(0.5)
    params = {k: jnp.asarray(v) for k, v in ref.to_params(THETA0).items()}
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    new = ref.from_params(gt.apply_updates(params, updates))
    assert_same(new, THETA0 / np.sqrt(1.25))


def test_hyperparameters_are_readable_and_settable():
    tx = ss.rprop(0.01)
    params = {k: jnp.asarray(v) for k, v in ref.to_params(THETA0).items()}
    state = gt.set_hyperparams(tx.init(params), eta_plus=1.5)
    assert gt.get_hyperparams(state)["eta_plus"] == 1.5
    with pytest.raises(ValueError, match=r"eta_plus must be in \(1\.0, inf\), got 0\.5"):
        gt.set_hyperparams(state, eta_plus=0.5)
