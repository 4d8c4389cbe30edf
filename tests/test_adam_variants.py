"""Adam's descendants — RAdam, AdaBelief, Yogi, NAdamW, AdaMaxW, Adan, NovoGrad, Optimistic
Adam — against NumPy transcriptions of their formulas, optax 0.2.8 and torch's RAdam.

The problem is ``reference_numpy.make_problem()`` on params ``{"bias": (3,), "kernel":
(2, 2)}`` in float64 (complex128 for the complex cases). Where gradtx and optax compute
different things, a test names the difference and shows which side the paper is on:

* ``optax.yogi`` starts the first moment at 1e-6 (its ``initial_accumulator_value``); the
  paper and gradtx start it at 0, so a zero gradient gives a zero update. The block's
  ``initial_mu=1e-6`` reproduces optax exactly.
* ``optax.adan`` (0.2.8) weights the gradient difference by 1 − ρ2 where the paper and the
  authors' code use ρ2 (= 1 − β2 of the paper); the two agree at ρ2 = ½, where parity is
  tested. gradtx follows the paper.
* torch's ``RAdam`` adds ε to √r before debiasing, optax to √r̂: gradtx defaults to optax
  and takes torch's with ``eps_on_raw_moment=True``.
"""

import functools
import json
import re
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference_adam_variants as ra
import reference_numpy as ref

import gradtx as gt
from gradtx.blocks.adam_variants import (
    scale_by_adan,
    scale_by_belief,
    scale_by_layer_second_moment,
    scale_by_radam,
    scale_by_yogi,
)
from gradtx.blocks.sign_and_steps import scale_by_optimistic_gradient
from gradtx.optimizers.adam_variants import (
    adabelief,
    adamaxw,
    adan,
    nadamw,
    novograd,
    optimistic_adam,
    radam,
    yogi,
)

PROBLEM = ref.make_problem()
THETA0 = PROBLEM.theta0
g = PROBLEM.grad
RTOL = 1e-12
ATOL = 1e-14  # for coordinates that pass near zero
LAYERS = [slice(0, 3), slice(3, 7)]  # the arrays "bias" and "kernel" of the flat θ
MASK = {"bias": False, "kernel": True}
MASK_VEC = np.array([0, 0, 0, 1, 1, 1, 1])
PAPER_ADAN = (0.02, 0.08, 0.01)  # the paper's β, the complements of ρ = (0.98, 0.92, 0.99)


class ComplexProblem:
    """∇ of f(θ) = ½ θᴴAθ − Re(bᴴθ) + ¼ γ Σ|θ|⁴, as g = Aθ − b + γ|θ|²θ, θ ∈ ℂ⁷."""

    def __init__(self, seed: int = 2):
        rng = np.random.default_rng(seed)
        self.A, self.gamma = PROBLEM.A, PROBLEM.gamma
        self.b = PROBLEM.b + 1j * rng.normal(size=7)
        self.theta0 = THETA0 + 1j * rng.normal(size=7)

    def grad(self, theta):
        return self.A @ theta - self.b + self.gamma * (theta * np.conj(theta)).real * theta


CP = ComplexProblem()


def _gradient(a, b, gamma):
    def grad_tree(params):
        theta = jnp.concatenate([params["bias"], params["kernel"].ravel()])
        grad = jnp.asarray(a) @ theta - jnp.asarray(b) + gamma * jnp.abs(theta) ** 2 * theta
        return {"bias": grad[:3], "kernel": grad[3:].reshape(2, 2)}

    return grad_tree


REAL_GRADIENT = _gradient(PROBLEM.A, PROBLEM.b, PROBLEM.gamma)


def trajectory(tx, theta0=THETA0, grad_tree=REAL_GRADIENT) -> np.ndarray:
    """θ_0 … θ_50 of a gradtx or optax transform, as a ``(51, 7)`` array."""

    @jax.jit  # one compilation per transform, one dispatch per step
    def step(params, state):
        updates, state = tx.update(grad_tree(params), state, params)
        return gt.apply_updates(params, updates), state

    params = ref.to_params(jnp.asarray(theta0))
    state = tx.init(params)
    out = [theta0]
    for _ in range(ref.STEPS):
        params, state = step(params, state)
        out.append(ref.from_params(params))
    return np.array(out)


def assert_same(actual, expected, rtol=RTOL):
    assert actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=ATOL)


def _optax_optimistic_adam(*args, **kwargs):
    with warnings.catch_warnings():  # deprecated for optimistic_adam_v2, still optax's name
        warnings.simplefilter("ignore", DeprecationWarning)
        return optax.optimistic_adam(*args, **kwargs)


# The configurations compared below, by name; each trajectory is computed once
# (``trajectory_of``).
GRADTX = {
    "radam": lambda: radam(0.05),
    "radam-nesterov-threshold-4": lambda: radam(0.05, 0.8, 0.99, 1e-3, 1e-6, 4.0,
                                                nesterov=True),
    "adabelief": lambda: adabelief(0.05),
    "adabelief-nesterov": lambda: adabelief(0.05, 0.8, 0.99, 1e-8, 1e-10, nesterov=True),
    "yogi": lambda: yogi(0.05),
    "scale_by_yogi-optax-first-moment": lambda: gt.chain(
        scale_by_yogi(initial_mu=1e-6), gt.scale_by_learning_rate(0.05)),
    "scale_by_yogi-zero-accumulators": lambda: gt.chain(
        scale_by_yogi(0.8, 0.99, 1e-3, 1e-6, 0.0), gt.scale_by_learning_rate(0.05)),
    "nadamw-mask": lambda: nadamw(0.05, weight_decay=0.1, mask=MASK),
    "adamaxw-mask": lambda: adamaxw(0.05, weight_decay=0.1, mask=MASK),
    "adan": lambda: adan(0.05),
    "adan-b2=0.5-mask": lambda: adan(0.05, 0.9, 0.5, 0.95, weight_decay=0.1, mask=MASK),
    "novograd": lambda: novograd(0.05),
    "novograd-weight-decay": lambda: novograd(0.05, 0.8, 0.5, 1e-8, 1e-6, 0.1),
    "optimistic_adam": lambda: optimistic_adam(0.05),
    "optimistic_adam-optimism": lambda: optimistic_adam(0.05, 0.1, nesterov=False),
    "optimistic_adam-v2-interface": lambda: optimistic_adam(0.05, 0.1),
}
OPTAX = {
    "radam": lambda: optax.radam(0.05),
    "radam-nesterov-threshold-4": lambda: optax.radam(0.05, 0.8, 0.99, 1e-3, 1e-6, 4.0,
                                                      nesterov=True),
    "adabelief": lambda: optax.adabelief(0.05),
    "adabelief-nesterov": lambda: optax.adabelief(0.05, 0.8, 0.99, 1e-8, 1e-10, nesterov=True),
    "scale_by_yogi-optax-first-moment": lambda: optax.yogi(0.05),
    "scale_by_yogi-zero-accumulators": lambda: optax.chain(
        optax.scale_by_yogi(0.8, 0.99, 1e-3, 1e-6, 0.0), optax.scale_by_learning_rate(0.05)),
    "nadamw-mask": lambda: optax.nadamw(0.05, weight_decay=0.1, mask=MASK),
    "adamaxw-mask": lambda: optax.adamaxw(0.05, weight_decay=0.1, mask=MASK),
    "adan-b2=0.5-mask": lambda: optax.adan(0.05, 0.9, 0.5, 0.95, weight_decay=0.1, mask=MASK),
    "novograd": lambda: optax.novograd(0.05),
    "novograd-weight-decay": lambda: optax.novograd(0.05, 0.8, 0.5, 1e-8, 1e-6, 0.1),
    "optimistic_adam": lambda: _optax_optimistic_adam(0.05),
    "optimistic_adam-optimism": lambda: _optax_optimistic_adam(0.05, 0.1, nesterov=False),
    "optimistic_adam-v2-interface": lambda: optax.optimistic_adam_v2(0.05, alpha=1.0, beta=2.0),
}


@functools.cache
def trajectory_of(library: str, name: str) -> np.ndarray:
    """The trajectory of ``GRADTX[name]`` or ``OPTAX[name]`` on the shared problem."""
    return trajectory({"gradtx": GRADTX, "optax": OPTAX}[library][name]())


# --- 1. the formulas, against NumPy float64 transcriptions ------------------------------

FORMULAS = {
    "radam": lambda: ra.radam(g, THETA0, 0.05, 0.9, 0.999, 1e-8),
    "radam-nesterov-threshold-4": lambda: ra.radam(g, THETA0, 0.05, 0.8, 0.99, 1e-3,
                                                   eps_root=1e-6, threshold=4.0, nesterov=True),
    "adabelief": lambda: ra.adabelief(g, THETA0, 0.05, 0.9, 0.999, 1e-16, 1e-16),
    "adabelief-nesterov": lambda: ra.adabelief(g, THETA0, 0.05, 0.8, 0.99, 1e-8, 1e-10,
                                               nesterov=True),
    "yogi": lambda: ra.yogi(g, THETA0, 0.05, 0.9, 0.999, 1e-3),
    "scale_by_yogi-optax-first-moment": lambda: ra.yogi(g, THETA0, 0.05, 0.9, 0.999, 1e-3,
                                                        m0=1e-6),
    "nadamw-mask": lambda: ra.nadamw(g, THETA0, 0.05, 0.9, 0.999, 1e-8, weight_decay=0.1,
                                     mask=MASK_VEC),
    "adamaxw-mask": lambda: ra.adamaxw(g, THETA0, 0.05, 0.9, 0.999, 1e-8, weight_decay=0.1,
                                       mask=MASK_VEC),
    "adan": lambda: ra.adan(g, THETA0, 0.05, *PAPER_ADAN, 1e-8, eps_root=1e-8),
    "adan-b2=0.5-mask": lambda: ra.adan(g, THETA0, 0.05, 0.1, 0.5, 0.05, 1e-8, eps_root=1e-8,
                                        weight_decay=0.1, mask=MASK_VEC),
    "novograd": lambda: ra.novograd(g, THETA0, 0.05, 0.9, 0.25, 1e-6, LAYERS),
    "novograd-weight-decay": lambda: ra.novograd(g, THETA0, 0.05, 0.8, 0.5, 1e-8, LAYERS,
                                                 eps_root=1e-6, weight_decay=0.1),
    "optimistic_adam": lambda: ra.optimistic_adam(g, THETA0, 0.05, 0.05, 0.9, 0.999, 1e-8),
    "optimistic_adam-optimism": lambda: ra.optimistic_adam(g, THETA0, 0.05, 0.1, 0.9, 0.999,
                                                           1e-8, nesterov=False),
}


@pytest.mark.parametrize("name", FORMULAS)
def test_trajectory_matches_numpy_transcription(name):
    assert_same(trajectory_of("gradtx", name), FORMULAS[name]())


@pytest.mark.parametrize("name", ["radam", "adabelief", "yogi", "nadamw-mask", "adamaxw-mask",
                                  "adan-b2=0.5-mask", "novograd-weight-decay", "optimistic_adam"])
def test_flat_path_follows_the_same_formula(name):
    # gradtx.flat.flatten runs every rule on one buffer per dtype; NovoGrad's norm stays per layer.
    assert_same(trajectory(gt.flat.flatten(GRADTX[name]())), FORMULAS[name]())


def test_radam_takes_momentum_steps_until_the_variance_is_tractable():
    # ρ_t = 4.99… at t = 5 and 5.99… at t = 6: five SGD-with-momentum steps first.
    sgd = ra.radam(g, THETA0, 0.05, 0.9, 0.999, 1e-8, threshold=np.inf, steps=6)
    theta = trajectory_of("gradtx", "radam")
    assert_same(theta[:6], sgd[:6])
    assert np.max(np.abs(theta[6] - sgd[6])) > 1e-3


# --- 2. optax 0.2.8 ------------------------------------------------------------------------


@pytest.mark.parametrize("name", OPTAX)
def test_trajectory_equals_optax(name):
    assert_same(trajectory_of("gradtx", name), trajectory_of("optax", name))


def test_yogi_first_moment_starts_at_zero_as_in_the_paper_while_optax_starts_it_at_1e_6():
    theirs = trajectory_of("optax", "scale_by_yogi-optax-first-moment")  # optax.yogi(0.05)
    assert_same(theirs, ra.yogi(g, THETA0, 0.05, 0.9, 0.999, 1e-3, m0=1e-6))
    assert np.max(np.abs(trajectory_of("gradtx", "yogi") - theirs)) > 1e-7


def test_adan_weights_the_gradient_difference_as_the_paper_not_as_optax_0_2_8():
    ours, theirs = trajectory_of("gradtx", "adan"), trajectory(optax.adan(0.05))
    assert_same(ours, ra.adan(g, THETA0, 0.05, *PAPER_ADAN, 1e-8, eps_root=1e-8))
    assert_same(theirs, ra.adan(g, THETA0, 0.05, *PAPER_ADAN, 1e-8, eps_root=1e-8,
                                optax_coefficient=True))
    assert_same(ours[:2], theirs[:2])  # the first update has no difference term
    assert np.max(np.abs(ours - theirs)) > 1e-2


# --- 3. torch's RAdam ------------------------------------------------------------------------

FIXTURE = np.load(Path(__file__).parent / "fixtures" / "torch_adam_variants.npz")
TORCH_CONFIGS = json.loads(str(FIXTURE["configs"]))
TORCH_RTOL = 1e-10


def _from_torch(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                decoupled_weight_decay=False, eps_on_raw_moment=True):
    """torch.optim.RAdam's arguments (and defaults) as a gradtx transform."""
    if decoupled_weight_decay:
        return gt.chain(scale_by_radam(*betas, eps, eps_on_raw_moment=eps_on_raw_moment),
                        gt.add_decayed_weights(weight_decay), gt.scale_by_learning_rate(lr))
    return radam(lr, *betas, eps, weight_decay=weight_decay,
                 eps_on_raw_moment=eps_on_raw_moment)


def _torch_trajectory(tx):
    grad_tree = _gradient(FIXTURE["A"], FIXTURE["b"], float(FIXTURE["gamma"]))
    return trajectory(tx, FIXTURE["theta0"], grad_tree)


def test_torch_fixture_was_made_by_torch_2_13_in_float64():
    assert str(FIXTURE["torch_version"]).startswith("2.13.")
    assert all(FIXTURE[f"traj_{name}"].dtype == np.float64 for name in TORCH_CONFIGS)


@pytest.mark.parametrize("name", sorted(TORCH_CONFIGS))
def test_radam_matches_torch_trajectory(name):
    tx = _from_torch(**TORCH_CONFIGS[name]["kwargs"])
    assert_same(_torch_trajectory(tx), FIXTURE[f"traj_{name}"], rtol=TORCH_RTOL)


def test_torch_adds_eps_before_debiasing_and_optax_after():
    kwargs = TORCH_CONFIGS["radam_betas_eps"]["kwargs"]  # ε = 1e-3 makes the placement visible
    optax_placement = _torch_trajectory(_from_torch(**kwargs, eps_on_raw_moment=False))
    assert np.max(np.abs(optax_placement - FIXTURE["traj_radam_betas_eps"])) > 1e-5


# --- 4. defaults -----------------------------------------------------------------------------

ALIASES = {f.__name__: f for f in (radam, adabelief, yogi, nadamw, adamaxw, adan, novograd,
                                   optimistic_adam)}


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_defaults_descend(name):
    theta = trajectory(ALIASES[name]())
    assert PROBLEM.loss(theta[-1]) < PROBLEM.loss(theta[0])


# --- 5. construction-time validation ---------------------------------------------------------


def _schedule(t):
    return 0.1


BAD_ARGUMENTS = [
    (lambda: radam(threshold=3.0), ValueError,
     "scale_by_radam: threshold must be in [4.0, inf), got 3.0"),
    (lambda: radam(b2=1.0), ValueError, "scale_by_radam: b2 must be in [0.0, 1.0), got 1.0"),
    (lambda: radam(nesterov=1), TypeError, "scale_by_radam: nesterov must be a bool, got int 1"),
    (lambda: radam(weight_decay=-0.1), ValueError,
     "radam: weight_decay must be in [0.0, inf), got -0.1"),
    (lambda: adabelief(eps_root=-1e-16), ValueError,
     "scale_by_belief: eps_root must be in [0.0, inf), got -1e-16"),
    (lambda: yogi(eps=-1e-3), ValueError, "scale_by_yogi: eps must be in [0.0, inf), got -0.001"),
    (lambda: scale_by_yogi(initial_accumulator_value=-1.0), ValueError,
     "scale_by_yogi: initial_accumulator_value must be in [0.0, inf), got -1.0"),
    (lambda: nadamw(weight_decay=-1e-4), ValueError,
     "nadamw: weight_decay must be in [0.0, inf), got -0.0001"),
    (lambda: adamaxw(eps=-1e-8), ValueError, "adamaxw: eps must be in [0.0, inf), got -1e-08"),
    (lambda: adan(b3=1.0), ValueError, "scale_by_adan: b3 must be in [0.0, 1.0), got 1.0"),
    (lambda: novograd(b1=1.0), ValueError, "novograd: b1 must be in [0.0, 1.0), got 1.0"),
    (lambda: novograd(b2=-0.5), ValueError,
     "scale_by_layer_second_moment: b2 must be in [0.0, 1.0), got -0.5"),
    (lambda: optimistic_adam(optimism=-1.0), ValueError,
     "optimistic_adam: optimism must be in [0.0, inf), got -1.0"),
    (lambda: optimistic_adam(0.0, optimism=0.1), ValueError,
     "optimistic_adam: learning_rate must be in (0.0, inf), got 0.0"),
    (lambda: optimistic_adam(_schedule, optimism=0.1), TypeError,
     "optimistic_adam: optimism needs a constant learning_rate (the chain scales by optimism / "
     "learning_rate), got a schedule; with optimism=None the optimism follows the schedule"),
    (lambda: scale_by_optimistic_gradient(beta=-1.0), ValueError,
     "scale_by_optimistic_gradient: beta must be in [0.0, inf), got -1.0"),
] + [
    (lambda f=f: f(-0.1), ValueError, f"{name}: learning_rate must be in [0.0, inf), got -0.1")
    for name, f in sorted(ALIASES.items())
]


@pytest.mark.parametrize("make, error, message", BAD_ARGUMENTS,
                         ids=[m.split(" must")[0].replace(": ", "-") for _, _, m in BAD_ARGUMENTS])
def test_bad_argument_is_rejected_at_construction_with_its_range(make, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        make()


# --- 6. zero gradients -----------------------------------------------------------------------

EPS_ZERO = {
    "radam": lambda: radam(eps=0.0),
    "adabelief": lambda: adabelief(eps=0.0, eps_root=0.0),
    "yogi": lambda: yogi(eps=0.0),
    "nadamw": lambda: nadamw(eps=0.0, weight_decay=0.0),
    "adamaxw": lambda: adamaxw(eps=0.0, weight_decay=0.0),
    "adan": lambda: adan(eps=0.0, eps_root=0.0),
    "novograd": lambda: novograd(eps=0.0),
    "optimistic_adam": lambda: optimistic_adam(eps=0.0),
}


@pytest.mark.parametrize("name", sorted(EPS_ZERO))
def test_zero_gradient_gives_zero_update_with_eps_zero(name):
    tx = EPS_ZERO[name]()
    params = ref.to_params(jnp.asarray(THETA0))
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = tx.init(params)
    for _ in range(8):  # RAdam's rectified branch starts at the sixth update
        updates, state = tx.update(zeros, state, params)
        for u in jax.tree.leaves(updates):
            assert np.all(np.asarray(u) == 0)


# --- 7. complex params: |g|² wherever the formula squares ------------------------------------
# (nadamw, adamaxw and optimistic_adam square only inside scale_by_adam / scale_by_adamax,
# whose complex leaves test_edges.py covers)

cg, CT0 = CP.grad, CP.theta0
COMPLEX_CASES = [
    pytest.param(lambda: radam(0.05), lambda: ra.radam(cg, CT0, 0.05, 0.9, 0.999, 1e-8),
                 id="radam"),
    pytest.param(lambda: adabelief(0.05),
                 lambda: ra.adabelief(cg, CT0, 0.05, 0.9, 0.999, 1e-16, 1e-16), id="adabelief"),
    pytest.param(lambda: yogi(0.05), lambda: ra.yogi(cg, CT0, 0.05, 0.9, 0.999, 1e-3),
                 id="yogi"),
    pytest.param(lambda: adan(0.05),
                 lambda: ra.adan(cg, CT0, 0.05, *PAPER_ADAN, 1e-8, eps_root=1e-8), id="adan"),
    pytest.param(lambda: novograd(0.05),
                 lambda: ra.novograd(cg, CT0, 0.05, 0.9, 0.25, 1e-6, LAYERS), id="novograd"),
]


@pytest.mark.parametrize("make_tx, reference", COMPLEX_CASES)
def test_complex_trajectory_uses_squared_modulus(make_tx, reference):
    actual = trajectory(make_tx(), CT0, _gradient(CP.A, CP.b, CP.gamma))
    assert actual.dtype == np.complex128
    assert_same(actual, reference())


def test_complex_second_moments_are_stored_real():
    params = {"a": jnp.zeros(3, jnp.complex128)}
    for tx in (scale_by_radam(), scale_by_belief(), scale_by_yogi(), scale_by_adan(),
               scale_by_layer_second_moment()):
        state = tx.init(params)
        assert state.nu["a"].dtype == jnp.float64
