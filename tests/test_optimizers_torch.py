"""gradtx reproduces torch.optim's trajectories (fixtures from torch 2.13, float64).

``fixtures/torch_trajectories.npz`` holds the problem, each torch optimizer's
arguments and its 50-step trajectory; ``fixtures/make_torch_fixtures.py``
documents how it was made and how to regenerate it. torch is not imported.

The argument mapping torch → gradtx (``TORCH_TO_GRADTX``):

=========================================  ==============================================
torch                                      gradtx
=========================================  ==============================================
SGD(lr, momentum, nesterov, weight_decay)  sgd(lr, momentum, nesterov, weight_decay)
Adagrad(lr, eps, initial_accumulator_      adagrad(lr, eps, initial_accumulator_value,
value, weight_decay)                       weight_decay); eps outside the root in both
RMSprop(lr, alpha, eps, centered,          rmsprop(lr, decay=alpha, eps, centered,
momentum, weight_decay)                    momentum, weight_decay); eps outside the root
Adadelta(lr, rho, eps, weight_decay)       adadelta(lr, rho, eps, weight_decay); eps inside
                                           both roots = scale_by_adadelta(rho, eps=0,
                                           eps_root=eps)
Adam(lr, betas, eps, weight_decay)         adam(lr, *betas, eps, weight_decay=...) (L2)
Adam(..., amsgrad=True)                    amsgrad(lr, *betas, eps, weight_decay=...)
AdamW(lr, betas, eps, weight_decay)        adamw(lr, *betas, eps, weight_decay=...)
Adamax(lr, betas, eps, weight_decay)       adamax(lr, *betas, eps, weight_decay); eps added
                                           to |g| inside the max = scale_by_adamax(eps=0,
                                           eps_root=eps)
NAdam(lr, betas, eps, momentum_decay,      nadam(lr, *betas, eps, momentum_decay,
weight_decay)                              weight_decay)
=========================================  ==============================================

The defaults of each mapping function below are torch's, so a fixture that
leaves an argument at torch's default gets the same value here.
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from paths import in_path

import gradtx as gt

FIXTURE = np.load(Path(__file__).parent / "fixtures" / "torch_trajectories.npz")
CONFIGS = json.loads(str(FIXTURE["configs"]))
RTOL = 1e-10
ATOL = 1e-13  # for coordinates that pass near zero


def _sgd(lr=1e-3, momentum=0.0, nesterov=False, weight_decay=0.0):
    return gt.sgd(lr, momentum, nesterov, weight_decay)


def _adagrad(lr=1e-2, eps=1e-10, initial_accumulator_value=0.0, weight_decay=0.0):
    return gt.adagrad(lr, eps, initial_accumulator_value, weight_decay)


def _rmsprop(lr=1e-2, alpha=0.99, eps=1e-8, centered=False, momentum=0.0, weight_decay=0.0):
    return gt.rmsprop(lr, decay=alpha, eps=eps, centered=centered, momentum=momentum,
                      weight_decay=weight_decay)


def _adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    return gt.adadelta(lr, rho, eps, weight_decay)


def _adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    alias = gt.amsgrad if amsgrad else gt.adam
    return alias(lr, betas[0], betas[1], eps, weight_decay=weight_decay)


def _adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return gt.adamw(lr, betas[0], betas[1], eps, weight_decay=weight_decay)


def _adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    return gt.adamax(lr, betas[0], betas[1], eps, weight_decay)


def _nadam(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3, weight_decay=0.0):
    return gt.nadam(lr, betas[0], betas[1], eps, momentum_decay, weight_decay)


TORCH_TO_GRADTX = {
    "SGD": _sgd,
    "Adagrad": _adagrad,
    "RMSprop": _rmsprop,
    "Adadelta": _adadelta,
    "Adam": _adam,
    "AdamW": _adamw,
    "Adamax": _adamax,
    "NAdam": _nadam,
}


@jax.jit  # one dispatch per step instead of one per operation
def _grad_tree(params):
    theta = jnp.concatenate([params["bias"], params["kernel"].ravel()])
    g = jnp.asarray(FIXTURE["A"]) @ theta - jnp.asarray(FIXTURE["b"]) + float(
        FIXTURE["gamma"]) * theta**3
    return {"bias": g[:3], "kernel": g[3:].reshape(2, 2)}


def trajectory(tx: gt.GradientTransformation) -> np.ndarray:
    """θ_0 … θ_50 of ``tx`` on the fixture's problem, as a ``(51, 7)`` array."""
    theta0 = jnp.asarray(FIXTURE["theta0"], jnp.float64)
    params = {"bias": theta0[:3], "kernel": theta0[3:].reshape(2, 2)}
    state = tx.init(params)
    out = [theta0]
    for _ in range(FIXTURE["traj_sgd"].shape[0] - 1):
        updates, state = tx.update(_grad_tree(params), state, params)
        params = gt.apply_updates(params, updates)
        out.append(jnp.concatenate([params["bias"], params["kernel"].ravel()]))
    return np.array(out)


def test_fixture_was_made_by_torch_2_13_in_float64():
    assert str(FIXTURE["torch_version"]).startswith("2.13.")
    assert all(FIXTURE[f"traj_{name}"].dtype == np.float64 for name in CONFIGS)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_alias_matches_torch_trajectory(name, path):
    config = CONFIGS[name]
    tx = in_path(TORCH_TO_GRADTX[config["optimizer"]](**config["kwargs"]), path)
    np.testing.assert_allclose(trajectory(tx), FIXTURE[f"traj_{name}"], rtol=RTOL, atol=ATOL)


def test_torch_adamax_eps_is_eps_root_of_scale_by_adamax():
    kwargs = CONFIGS["adamax"]["kwargs"]
    tx = gt.chain(gt.scale_by_adamax(eps=0.0, eps_root=1e-8),
                  gt.scale_by_learning_rate(kwargs["lr"]))
    np.testing.assert_allclose(trajectory(tx), FIXTURE["traj_adamax"], rtol=RTOL, atol=ATOL)


def test_torch_adadelta_eps_is_eps_root_of_scale_by_adadelta():
    kwargs = CONFIGS["adadelta_lr_weight_decay"]["kwargs"]
    tx = gt.chain(
        gt.add_decayed_weights(kwargs["weight_decay"]),
        gt.scale_by_adadelta(kwargs["rho"], eps=0.0, eps_root=kwargs["eps"]),
        gt.scale_by_learning_rate(kwargs["lr"]),
    )
    np.testing.assert_allclose(
        trajectory(tx), FIXTURE["traj_adadelta_lr_weight_decay"], rtol=RTOL, atol=ATOL
    )
