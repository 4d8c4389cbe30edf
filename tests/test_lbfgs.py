"""L-BFGS and its line searches, on the shared problem (``reference_numpy.make_problem``).

* A NumPy transcription of L-BFGS (Nocedal & Wright, Alg. 7.4/7.5) with a constant step
  or Armijo backtracking (``reference_sign_and_steps.lbfgs``) gives the same 50 steps.
* optax 0.2.8's ``lbfgs`` (zoom line search), and its backtracking line search, give the
  same steps bit for bit (asserted at rtol 1e-12).
* torch 2.13's ``LBFGS(line_search_fn="strong_wolfe")`` (``fixtures/torch_sign_and_steps.npz``)
  is the same method with another first step (−min(1, 1/‖g‖₁) g), line search and
  stopping rule, so only where it ends is compared. torch stops after 31 iterations
  3e-8 from Newton's θ* (whatever its tolerances): its line search compares values of f,
  which no longer change in float64 that close to the minimum (δf ≈ λ δθ² ≈ 1e-15),
  while the zoom search also accepts Hager & Zhang's slope-based decrease and reaches θ*
  to 1e-12. Stated tolerance: θ within 1e-7 of torch's, f within 1e-14 of torch's.
"""

import functools
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
from gradtx.optimizers import lbfgs as lb

PROBLEM = ref.make_problem()
THETA0 = PROBLEM.theta0
THETA_STAR = rs.newton_minimum(PROBLEM)
F_STAR = PROBLEM.loss(THETA_STAR)
RTOL = 1e-12
ATOL = 1e-14
TORCH = np.load(Path(__file__).parent / "fixtures" / "torch_sign_and_steps.npz")


def _theta(params):
    return jnp.concatenate([params["bias"], params["kernel"].ravel()])


def _grad_tree(params):
    theta = _theta(params)
    g = jnp.asarray(PROBLEM.A) @ theta - jnp.asarray(PROBLEM.b) + PROBLEM.gamma * theta**3
    return {"bias": g[:3], "kernel": g[3:].reshape(2, 2)}


def loss(params):
    theta = _theta(params)
    return (0.5 * theta @ jnp.asarray(PROBLEM.A) @ theta - jnp.asarray(PROBLEM.b) @ theta
            + 0.25 * PROBLEM.gamma * jnp.sum(theta**4))


def _params():
    return {k: jnp.asarray(v, jnp.float64) for k, v in ref.to_params(THETA0).items()}


def trajectory(tx, from_state=lb.value_and_grad_from_state, steps: int = ref.STEPS,
               analytic_grad: bool = False, flat_params: bool = False) -> np.ndarray:
    """θ_0 … θ_steps, each step ``update(grad, state, params, value=, grad=, value_fn=f)``
    with value and grad from ``from_state(f)`` (or f and the analytic ∇f). ``flat_params``:
    the params are ``gradtx.flat.ravel``'s buffers and f the loss of their unraveled tree."""
    f = (lambda flat: loss(flat.unravel())) if flat_params else loss
    value_and_grad = from_state(f)

    def tree_of(params):
        return params.unravel() if flat_params else params

    @jax.jit
    def step(params, state):
        if analytic_grad:
            value, grad = f(params), _grad_tree(params)
        else:
            value, grad = value_and_grad(params, state=state)
        updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=f)
        return gt.apply_updates(params, updates), state

    params = gt.flat.ravel(_params()) if flat_params else _params()
    state = tx.init(params)
    out = [THETA0]
    for _ in range(steps):
        params, state = step(params, state)
        out.append(np.asarray(_theta(tree_of(params))))
    return np.array(out)


@functools.cache
def default_lbfgs_trajectory() -> np.ndarray:
    return trajectory(lb.lbfgs())


def assert_same(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# --- NumPy reference -----------------------------------------------------------------------


def test_lbfgs_with_a_constant_step_follows_nocedal_wright():
    tx = lb.lbfgs(learning_rate=0.5, memory_size=4, linesearch=None)
    expected = rs.lbfgs(PROBLEM.grad, PROBLEM.loss, THETA0, memory_size=4, lr=0.5,
                        backtracking=False, steps=30)
    assert_same(trajectory(tx, analytic_grad=True, steps=30), expected)


def test_lbfgs_with_backtracking_follows_nocedal_wright():
    tx = lb.lbfgs(memory_size=3, scale_init_precond=False,
                  linesearch=lb.scale_by_backtracking_linesearch(20))
    expected = rs.lbfgs(PROBLEM.grad, PROBLEM.loss, THETA0, memory_size=3, scale_init=False,
                        steps=30)
    assert_same(trajectory(tx, analytic_grad=True, steps=30), expected)


# --- optax ---------------------------------------------------------------------------------


def test_default_lbfgs_equals_optax_lbfgs():
    assert_same(default_lbfgs_trajectory(),
                trajectory(optax.lbfgs(), from_state=optax.value_and_grad_from_state))


def test_lbfgs_with_backtracking_that_stores_the_gradient_equals_optax():
    ours = lb.lbfgs(memory_size=3, linesearch=lb.scale_by_backtracking_linesearch(
        15, decrease_factor=0.5, store_grad=True))
    theirs = optax.lbfgs(memory_size=3, linesearch=optax.scale_by_backtracking_linesearch(
        15, decrease_factor=0.5, store_grad=True))
    assert_same(trajectory(ours, steps=25),
                trajectory(theirs, from_state=optax.value_and_grad_from_state, steps=25))


# --- torch ---------------------------------------------------------------------------------


def test_lbfgs_reaches_torchs_strong_wolfe_lbfgs_minimum():
    config = json.loads(str(TORCH["configs"]))["lbfgs"]["kwargs"]
    assert config["line_search_fn"] == "strong_wolfe" and config["history_size"] == 10
    np.testing.assert_array_equal(TORCH["theta0"], THETA0)
    final = default_lbfgs_trajectory()[-1]
    np.testing.assert_allclose(final, TORCH["lbfgs_theta"], rtol=0, atol=1e-7)
    assert abs(PROBLEM.loss(final) - float(TORCH["lbfgs_loss"])) < 1e-14
    np.testing.assert_allclose(final, THETA_STAR, rtol=0, atol=1e-12)
    assert np.abs(TORCH["lbfgs_theta"] - THETA_STAR).max() > 1e-9  # torch stalls earlier


def test_default_lbfgs_descends_every_step():
    losses = [PROBLEM.loss(t) for t in default_lbfgs_trajectory()]
    assert all(b <= a + 1e-15 for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] == pytest.approx(F_STAR, rel=1e-12)


# --- arguments, keywords and the state -----------------------------------------------------

BAD_ARGUMENTS = [
    (lambda: lb.lbfgs(memory_size=0), ValueError,
     "lbfgs: memory_size must be a positive integer, got 0"),
    (lambda: lb.lbfgs(learning_rate=-1.0), ValueError,
     "lbfgs: learning_rate must be in [0.0, inf), got -1.0"),
    (lambda: lb.lbfgs(linesearch="zoom"), TypeError,
     "lbfgs: linesearch must be a GradientTransformation or None, got str"),
    (lambda: lb.scale_by_lbfgs(scale_init_precond=1), TypeError,
     "scale_by_lbfgs: scale_init_precond must be a bool, got int 1"),
    (lambda: lb.scale_by_zoom_linesearch(0), ValueError,
     "scale_by_zoom_linesearch: max_linesearch_steps must be a positive integer, got 0"),
    (lambda: lb.scale_by_zoom_linesearch(10, curv_rtol=1e-5), ValueError,
     "scale_by_zoom_linesearch: curv_rtol must be larger than slope_rtol (0.0001; math.inf "
     "drops the curvature condition), got 1e-05"),
    (lambda: lb.scale_by_zoom_linesearch(10, initial_guess_strategy="two"), ValueError,
     "scale_by_zoom_linesearch: initial_guess_strategy must be 'one' or 'keep', got 'two'"),
    (lambda: lb.scale_by_zoom_linesearch(10, increase_factor=1.0), ValueError,
     "scale_by_zoom_linesearch: increase_factor must be in (1.0, inf), got 1.0"),
    (lambda: lb.scale_by_backtracking_linesearch(-1), ValueError,
     "scale_by_backtracking_linesearch: max_backtracking_steps must be a non-negative "
     "integer, got -1"),
    (lambda: lb.scale_by_backtracking_linesearch(10, decrease_factor=1.0), ValueError,
     "scale_by_backtracking_linesearch: decrease_factor must be in (0.0, 1.0), got 1.0"),
    (lambda: lb.scale_by_backtracking_linesearch(10, increase_factor=0.5), ValueError,
     "scale_by_backtracking_linesearch: increase_factor must be in [1.0, inf], got 0.5"),
]


@pytest.mark.parametrize("make, error, message", BAD_ARGUMENTS,
                         ids=[m.split(" ")[0] + m.split(" ")[1] for _, _, m in BAD_ARGUMENTS])
def test_bad_argument_raises_at_construction(make, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        make()


def test_zoom_accepts_an_infinite_curvature_tolerance():
    lb.scale_by_zoom_linesearch(10, curv_rtol=float("inf"))


def test_zero_gradient_gives_zero_update():
    tx = lb.lbfgs()
    params = _params()
    state = tx.init(params)
    zero = jax.tree.map(jnp.zeros_like, params)

    def flat(p):
        return 0.0 * jnp.sum(_theta(p))

    update = jax.jit(functools.partial(tx.update, value_fn=flat))
    for _ in range(2):
        updates, state = update(zero, state, params, value=flat(params), grad=zero)
        for leaf in jax.tree.leaves(updates):
            np.testing.assert_array_equal(leaf, 0)


def test_lbfgs_direction_is_the_same_on_flat_buffers():
    tx = lb.lbfgs(learning_rate=0.5, memory_size=4, linesearch=None)
    assert_same(trajectory(gt.flat.flatten(tx), analytic_grad=True, steps=20),
                trajectory(tx, analytic_grad=True, steps=20))


@pytest.mark.parametrize("flat", ["flat params", "flatten"])
@pytest.mark.parametrize("linesearch", ["zoom", "backtracking"])
def test_line_searches_give_the_same_steps_on_flat_buffers(flat, linesearch):
    """On FlatParams (f of the unraveled tree) and under flatten(tx) (f of the tree, the
    stored gradient handed back as a tree), both line searches take the tree path's steps
    — which equal optax's (the tests above)."""
    if linesearch == "zoom":
        make = lb.lbfgs
    else:
        def make():
            return lb.lbfgs(linesearch=lb.scale_by_backtracking_linesearch(
                max_backtracking_steps=15, store_grad=True))
    expected = default_lbfgs_trajectory() if linesearch == "zoom" else trajectory(make())
    if flat == "flatten":
        actual = trajectory(gt.flat.flatten(make()))
    else:
        actual = trajectory(make(), flat_params=True)
    if linesearch == "zoom":
        assert_same(actual, expected)
    else:
        # Inner products over one buffer round differently from sums over leaves (1e-15).
        # Near θ* (step 23 here) Armijo's test compares values of f that differ by about
        # that much, so one decision can flip; both runs then end at the same θ* to 1e-7.
        assert_same(actual[:20], expected[:20])
        assert_same(actual, expected, rtol=1e-7, atol=1e-12)


def test_line_search_needs_the_objective():
    tx = lb.scale_by_zoom_linesearch(5)
    params = _params()
    with pytest.raises(ValueError, match=r"^scale_by_zoom_linesearch: needs the params and "
                                         r"the objective"):
        tx.update(_grad_tree(params), tx.init(params), params)


def test_extra_keywords_reach_value_fn_and_unknown_ones_raise():
    def shifted(params, shift):
        return loss(params) + shift

    tx = gt.chain(gt.scale_by_learning_rate(0.1), lb.scale_by_backtracking_linesearch(10))
    params = _params()
    state = tx.init(params)
    grad = _grad_tree(params)
    updates, _ = tx.update(grad, state, params, value=shifted(params, 3.0), grad=grad,
                           value_fn=shifted, shift=3.0)
    assert PROBLEM.loss(ref.from_params(gt.apply_updates(params, updates))) < PROBLEM.loss(
        THETA0)
    with pytest.raises(TypeError, match=r"^scale_by_backtracking_linesearch: keyword arguments "
                                        r"\['shfit'\] are not arguments of value_fn$"):
        tx.update(grad, state, params, value=loss(params), grad=grad, value_fn=shifted,
                  shfit=3.0)


def test_value_and_grad_from_state_reuses_the_line_search_evaluation():
    tx = gt.chain(gt.scale_by_learning_rate(0.1),
                  lb.scale_by_backtracking_linesearch(10, store_grad=True))
    value_and_grad = lb.value_and_grad_from_state(loss)
    params = _params()
    state = tx.init(params)
    value, grad = value_and_grad(params, state=state)  # not stored yet: evaluated
    assert value == pytest.approx(float(loss(params)), rel=1e-15)
    updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=loss)
    params = gt.apply_updates(params, updates)
    value, grad = value_and_grad(params, state=state)
    assert value == state[1].value
    np.testing.assert_allclose(ref.from_params(grad), ref.from_params(_grad_tree(params)),
                               rtol=1e-12)


def test_value_and_grad_from_state_needs_a_stored_gradient():
    value_and_grad = lb.value_and_grad_from_state(loss)
    params = _params()
    without = lb.lbfgs(linesearch=lb.scale_by_backtracking_linesearch(10))
    with pytest.raises(ValueError, match=r"^value_and_grad_from_state: the line search does "
                                         r"not store the gradient; build it with "
                                         r"store_grad=True$"):
        value_and_grad(params, state=without.init(params))
    with pytest.raises(ValueError, match=r"^value_and_grad_from_state: the optimizer state "
                                         r"must hold exactly one line search with value and "
                                         r"grad, found 0$"):
        value_and_grad(params, state=lb.lbfgs(linesearch=None).init(params))


def test_complex_params_converge_with_the_real_pairs_gradient():
    """For complex w the gradient is the real pair's, conj(jax.grad f); L-BFGS with the zoom
    search then solves a complex quadratic as it would the real pair (Re w, Im w)."""
    c = jnp.asarray([1 + 2j, -0.5 + 0.3j])
    a = jnp.asarray([[3.0, 0.5], [0.5, 1.0]])

    def f(z):
        d = z - c
        return jnp.real(jnp.conj(d) @ (a @ d))

    tx = lb.lbfgs()
    value_and_grad = lb.value_and_grad_from_state(f)

    @jax.jit
    def step(z, state):
        value, grad = value_and_grad(z, state=state)
        updates, state = tx.update(grad, state, z, value=value, grad=grad, value_fn=f)
        return gt.apply_updates(z, updates), state

    z = jnp.zeros(2, jnp.complex128)
    state = tx.init(z)
    for _ in range(8):
        z, state = step(z, state)
    np.testing.assert_allclose(z, c, rtol=0, atol=1e-12)
