"""Every optimizer's 50-step trajectory equals a NumPy float64 transcription of its formula.

The problem (``reference_numpy.make_problem``) is an ill-conditioned quadratic
plus a quartic term, on params ``{"bias": (3,), "kernel": (2, 2)}`` in float64.
The references in ``reference_numpy.py`` are written from the lecture's
algorithm boxes and the papers, not from gradtx.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference_numpy as ref
from paths import in_path

import gradtx as gt

PROBLEM = ref.make_problem()
THETA0 = PROBLEM.theta0
RTOL = 1e-12
ATOL = 1e-14  # for coordinates that pass near zero


@jax.jit  # one dispatch per step instead of one per operation
def _grad_tree(params):
    theta = jnp.concatenate([params["bias"], params["kernel"].ravel()])
    g = jnp.asarray(PROBLEM.A) @ theta - jnp.asarray(PROBLEM.b) + PROBLEM.gamma * theta**3
    return {"bias": g[:3], "kernel": g[3:].reshape(2, 2)}


def trajectory(tx: gt.GradientTransformation, path: str = "tree", steps: int = ref.STEPS
               ) -> np.ndarray:
    """θ_0 … θ_steps of ``tx`` (run in ``path``) on the problem, as a ``(steps + 1, 7)`` array."""
    tx = in_path(tx, path)
    params = {k: jnp.asarray(v, jnp.float64) for k, v in ref.to_params(THETA0).items()}
    state = tx.init(params)
    out = [ref.from_params(params)]
    for _ in range(steps):
        updates, state = tx.update(_grad_tree(params), state, params)
        params = gt.apply_updates(params, updates)
        out.append(ref.from_params(params))
    return np.array(out)


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == np.float64
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def halving(t):
    """α_t = 0.1 · 0.5^t."""
    return 0.1 * 0.5**t


g = PROBLEM.grad

CASES = [
    pytest.param(lambda: gt.sgd(0.05), lambda: ref.sgd(g, THETA0, 0.05), id="sgd"),
    pytest.param(lambda: gt.sgd(0.05, weight_decay=0.1),
                 lambda: ref.sgd(g, THETA0, 0.05, weight_decay=0.1), id="sgd-l2"),
    pytest.param(lambda: gt.sgd(0.05, momentum=0.9),
                 lambda: ref.momentum_torch(g, THETA0, 0.05, 0.9), id="sgd-momentum"),
    pytest.param(lambda: gt.sgd(0.05, momentum=0.9, weight_decay=0.1),
                 lambda: ref.momentum_torch(g, THETA0, 0.05, 0.9, weight_decay=0.1),
                 id="sgd-momentum-l2"),
    pytest.param(lambda: gt.sgd(0.05, momentum=0.9, lr_inside_velocity=True),
                 lambda: ref.momentum_lecture(g, THETA0, 0.05, 0.9), id="sgd-momentum-lecture"),
    pytest.param(lambda: gt.adagrad(0.5), lambda: ref.adagrad(g, THETA0, 0.5, 1e-10),
                 id="adagrad"),
    pytest.param(lambda: gt.adagrad(0.5, eps=1e-3, initial_accumulator_value=0.1,
                                    weight_decay=0.1),
                 lambda: ref.adagrad(g, THETA0, 0.5, 1e-3, r0=0.1, weight_decay=0.1),
                 id="adagrad-initial-accumulator-l2"),
    pytest.param(lambda: gt.rmsprop(0.01), lambda: ref.rmsprop(g, THETA0, 0.01, 0.99, 1e-8),
                 id="rmsprop"),
    pytest.param(lambda: gt.rmsprop(0.01, decay=0.9, centered=True),
                 lambda: ref.rmsprop(g, THETA0, 0.01, 0.9, 1e-8, centered=True),
                 id="rmsprop-centered"),
    pytest.param(lambda: gt.rmsprop(0.01, decay=0.9, momentum=0.9),
                 lambda: ref.rmsprop(g, THETA0, 0.01, 0.9, 1e-8, momentum=0.9),
                 id="rmsprop-momentum"),
    pytest.param(lambda: gt.rmsprop(0.01, 0.9, 1e-6, centered=True, momentum=0.8,
                                    weight_decay=0.1),
                 lambda: ref.rmsprop(g, THETA0, 0.01, 0.9, 1e-6, centered=True, momentum=0.8,
                                     weight_decay=0.1),
                 id="rmsprop-centered-momentum-l2"),
    pytest.param(lambda: gt.adadelta(), lambda: ref.adadelta(g, THETA0, 0.9, 1e-6),
                 id="adadelta"),
    pytest.param(lambda: gt.adadelta(0.5, rho=0.95, eps=1e-4, weight_decay=0.1),
                 lambda: ref.adadelta(g, THETA0, 0.95, 1e-4, lr=0.5, weight_decay=0.1),
                 id="adadelta-lr-l2"),
    pytest.param(lambda: gt.adam(0.05), lambda: ref.adam(g, THETA0, 0.05, 0.9, 0.999, 1e-8),
                 id="adam"),
    pytest.param(lambda: gt.adam(0.05, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-4),
                 lambda: ref.adam(g, THETA0, 0.05, 0.8, 0.99, 1e-6, delta_root=1e-4),
                 id="adam-eps-root"),
    pytest.param(lambda: gt.adam(0.05, weight_decay=0.1),
                 lambda: ref.adam(g, THETA0, 0.05, 0.9, 0.999, 1e-8, weight_decay=0.1),
                 id="adam-l2"),
    pytest.param(lambda: gt.adamw(0.05, weight_decay=0.1),
                 lambda: ref.adam(g, THETA0, 0.05, 0.9, 0.999, 1e-8, weight_decay=0.1,
                                  decoupled=True),
                 id="adamw"),
    pytest.param(lambda: gt.adamw(halving, weight_decay=0.1),
                 lambda: ref.adam(g, THETA0, halving, 0.9, 0.999, 1e-8, weight_decay=0.1,
                                  decoupled=True),
                 id="adamw-schedule"),
    pytest.param(lambda: gt.nadam(0.05), lambda: ref.nadam(g, THETA0, 0.05, 0.9, 0.999, 1e-8),
                 id="nadam-momentum-schedule"),
    pytest.param(lambda: gt.nadam(0.05, b1=0.8, momentum_decay=None),
                 lambda: ref.nadam(g, THETA0, 0.05, 0.8, 0.999, 1e-8, psi=None),
                 id="nadam-constant-mu"),
    pytest.param(lambda: gt.adamax(0.05),
                 lambda: ref.adamax(g, THETA0, 0.05, 0.9, 0.999, eps_in_max=1e-8), id="adamax"),
    pytest.param(lambda: gt.adamax(0.05, eps=0.0),
                 lambda: ref.adamax(g, THETA0, 0.05, 0.9, 0.999), id="adamax-paper"),
    pytest.param(lambda: gt.chain(gt.scale_by_adamax(eps=1e-3), gt.scale_by_learning_rate(0.05)),
                 lambda: ref.adamax(g, THETA0, 0.05, 0.9, 0.999, eps_outside=1e-3),
                 id="scale_by_adamax-eps-outside"),
    pytest.param(lambda: gt.amsgrad(0.05),
                 lambda: ref.amsgrad(g, THETA0, 0.05, 0.9, 0.999, 1e-8), id="amsgrad"),
    pytest.param(lambda: gt.amsgrad(0.05, b2=0.99, eps=0.0, eps_root=1e-8),
                 lambda: ref.amsgrad(g, THETA0, 0.05, 0.9, 0.99, 0.0, delta_root=1e-8),
                 id="amsgrad-eps-root"),
]


@pytest.mark.parametrize("make_tx, reference", CASES)
def test_trajectory_matches_numpy_transcription(make_tx, reference, path):
    assert_same(trajectory(make_tx(), path), reference())


# --- Nesterov: the lecture's look-ahead algorithm after φ = θ + ρv -------------------------


@pytest.mark.parametrize("lr_inside_velocity", [False, True])
def test_sgd_nesterov_follows_phi_of_the_lecture_look_ahead_algorithm(lr_inside_velocity):
    rho = 0.9
    theta, v = ref.nesterov_lecture(g, THETA0, 0.05, rho)
    tx = gt.sgd(0.05, momentum=rho, nesterov=True, lr_inside_velocity=lr_inside_velocity)
    assert_same(trajectory(tx), theta + rho * v)


def test_sgd_nesterov_lecture_form_follows_phi_under_a_schedule():
    rho = 0.9
    theta, v = ref.nesterov_lecture(g, THETA0, halving, rho)
    tx = gt.sgd(halving, momentum=rho, nesterov=True, lr_inside_velocity=True)
    assert_same(trajectory(tx), theta + rho * v)


@pytest.mark.parametrize("lr_inside_velocity", [False, True])
@pytest.mark.parametrize("delta", [0.0, 1e-8], ids=["lecture-box-delta-0", "delta-1e-8"])
def test_rmsprop_nesterov_follows_phi_of_the_lecture_rmsprop_nesterov(lr_inside_velocity, delta):
    # ρ = 0.99: with ρ = 0.9 this problem's RMSProp+Nesterov path amplifies rounding
    # (perturbing θ_0 by 1e-15 moves the reference's θ_50 by 3e-12).
    rho_v = 0.9
    theta, v = ref.rmsprop_nesterov_lecture(g, THETA0, 0.01, 0.99, rho_v, delta)
    tx = gt.rmsprop(0.01, decay=0.99, eps=delta, momentum=rho_v, nesterov=True,
                    lr_inside_velocity=lr_inside_velocity)
    assert_same(trajectory(tx), theta + rho_v * v)


def test_rmsprop_nesterov_lecture_form_follows_phi_under_a_schedule():
    rho_v = 0.9
    theta, v = ref.rmsprop_nesterov_lecture(g, THETA0, halving, 0.9, rho_v, 1e-8)
    tx = gt.rmsprop(halving, decay=0.9, momentum=rho_v, nesterov=True, lr_inside_velocity=True)
    assert_same(trajectory(tx), theta + rho_v * v)


# --- Where α sits: torch's v ← ρv + g, θ ← θ − α_t v vs the lecture's v ← ρv − α_t g ---------


def test_momentum_forms_agree_for_a_constant_learning_rate():
    torch_form = trajectory(gt.sgd(0.05, momentum=0.9))
    lecture_form = trajectory(gt.sgd(0.05, momentum=0.9, lr_inside_velocity=True))
    assert_same(lecture_form, torch_form)


@pytest.mark.parametrize(
    "lr_inside_velocity, reference",
    [
        pytest.param(False, lambda: ref.momentum_torch(g, THETA0, halving, 0.9), id="torch"),
        pytest.param(True, lambda: ref.momentum_lecture(g, THETA0, halving, 0.9), id="lecture"),
    ],
)
def test_momentum_form_follows_its_own_formula_under_a_schedule(lr_inside_velocity, reference):
    tx = gt.sgd(halving, momentum=0.9, lr_inside_velocity=lr_inside_velocity)
    assert_same(trajectory(tx), reference())


def test_momentum_forms_differ_under_a_schedule_as_the_formulas_predict():
    torch_form = trajectory(gt.sgd(halving, momentum=0.9))
    lecture_form = trajectory(gt.sgd(halving, momentum=0.9, lr_inside_velocity=True))
    predicted = ref.momentum_lecture(g, THETA0, halving, 0.9) - ref.momentum_torch(
        g, THETA0, halving, 0.9
    )
    # The lecture's velocity keeps the earlier, larger α_t: the paths separate clearly.
    assert np.max(np.abs(predicted[-1])) > 1e-2
    np.testing.assert_allclose(lecture_form - torch_form, predicted, rtol=1e-9, atol=1e-13)
