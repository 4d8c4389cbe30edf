"""Sign-based and step-size optimizers, each a short named chain of building blocks.

``learning_rate`` is a number α ≥ 0 or a schedule t ↦ α_t where the docstring says
so (see [`gradtx.scale_by_learning_rate`][]); the blocks are in
``gradtx.blocks.sign_and_steps``. Argument names and defaults are optax's (0.2.8);
each docstring says where the computation differs from optax's or torch's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax

from gradtx.blocks.learning_rate import scale, scale_by_learning_rate
from gradtx.blocks.momentum import ema
from gradtx.blocks.sign_and_steps import (
    add_noise,
    fromage_rescale,
    scale_by_norm_ratio,
    scale_by_optimistic_gradient,
    scale_by_polyak,
    scale_by_rprop,
    scale_by_sign,
    scale_by_sm3,
)
from gradtx.core.base import GradientTransformation, make_chain
from gradtx.core.validate import check_interval

__all__ = [
    "sign_sgd",
    "signum",
    "rprop",
    "polyak_sgd",
    "noisy_sgd",
    "fromage",
    "optimistic_gradient_descent",
    "sm3",
]

ScalarOrSchedule = float | Callable[[Any], Any]


def _lr(owner: str, learning_rate: Any, name: str = "learning_rate") -> GradientTransformation:
    check_interval(owner, name, learning_rate, low=0.0)
    return scale_by_learning_rate(learning_rate)


def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """signSGD (Bernstein et al. 2018): Δθ = −α_t sign(g).

    Chain: scale_by_sign() → scale_by_learning_rate(α). As optax's ``sign_sgd``.
    """
    owner = "sign_sgd"
    return make_chain({"sign": scale_by_sign(), "learning_rate": _lr(owner, learning_rate)},
                      owner)


def signum(
    learning_rate: ScalarOrSchedule, beta: float = 0.9, accumulator_dtype: Any = None
) -> GradientTransformation:
    """Signum (Bernstein et al. 2018): the sign of momentum.

        m ← β m + (1 − β) g,   Δθ = −α_t sign(m)

    Chain: ema(β, debias=False) → scale_by_sign() → scale_by_learning_rate(α). As optax's
    ``signum`` (no bias correction: it would not change the sign).
    """
    owner = "signum"
    check_interval(owner, "beta", beta, low=0.0, high=1.0, high_open=True)
    return make_chain({"momentum": ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
                       "sign": scale_by_sign(),
                       "learning_rate": _lr(owner, learning_rate)}, owner)


def rprop(
    learning_rate: float,
    eta_minus: float = 0.5,
    eta_plus: float = 1.2,
    min_step_size: float = 1e-6,
    max_step_size: float = 50.0,
) -> GradientTransformation:
    """Rprop (Riedmiller & Braun 1993) without weight backtracking, as torch's ``Rprop``.

    Chain: scale_by_rprop(Δ_0, η⁻, η⁺, Δ_min, Δ_max) → scale(−1): Δθ = −sign(g) Δ with
    per-coordinate step sizes Δ (see [`scale_by_rprop`][gradtx.scale_by_rprop]);
    ``learning_rate`` is Δ_0, the initial step size (a number).

    torch's ``Rprop(lr, etas=(η⁻, η⁺), step_sizes=(Δ_min, Δ_max))`` gives the same
    trajectory. optax's ``rprop`` (0.2.8) agrees on the sign-change rule but applies
    each step one update late (its first update is zero, optax PR #1725), and only
    clips Δ when it grows or shrinks.
    """
    owner = "rprop"
    check_interval(owner, "learning_rate", learning_rate, low=0.0, low_open=True,
                   allow_schedule=False)
    return make_chain({"rprop": scale_by_rprop(learning_rate, eta_minus, eta_plus,
                                               min_step_size, max_step_size),
                       "flip": scale(-1.0)}, owner)


def polyak_sgd(
    max_learning_rate: float = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: float = 0.0,
    eps: float = 0.0,
    variant: Literal["sps", "sps+"] = "sps",
) -> GradientTransformation:
    """SGD with the stochastic Polyak step (Loizou et al. 2021); needs the loss.

        Δθ = −s_t min((f − f*) / (‖g‖² + ε), γ_max) g

    Chain: scale_by_polyak(f*, γ_max, ε, variant) → scale_by_learning_rate(s), with s
    (``scaling``) a number or schedule; call ``update(grads, state, params, value=loss)``.
    ``variant="sps+"`` uses (f − f*)₊. f* must be a lower bound of the loss (0 for
    models that interpolate the data); with a loss below f*, "sps" steps uphill.

    With s = 1 (the default) this is optax's ``polyak_sgd``. optax computes the ratio
    from the already scaled update −s g, so its step is s · min((f − f*)/(s² ‖g‖² + ε),
    γ_max), not the formula its documentation (and this function) states; and it sets
    the step to 0 where ‖g‖² + ε ≤ 2.2e-16.
    """
    owner = "polyak_sgd"
    return make_chain({"polyak": scale_by_polyak(f_min, max_learning_rate, eps, variant),
                       "learning_rate": _lr(owner, scaling, "scaling")}, owner)


def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: float = 0.01,
    gamma: float = 0.55,
    key: int | jax.Array | None = None,
    *,
    seed: int | None = None,
) -> GradientTransformation:
    """SGD with annealed Gaussian gradient noise (Neelakantan et al. 2015).

        Δθ = −α_t (g + σ_t z),   z ~ N(0, I),   σ_t² = η / t^γ

    Chain: add_noise(η, γ, key) → scale_by_learning_rate(α). ``key`` is an int seed or a
    ``jax.random`` key (``seed`` is accepted as an int seed, optax's older name;
    default seed 0). The noise equals optax's ``noisy_sgd`` for the same key.
    """
    owner = "noisy_sgd"
    return make_chain({"noise": add_noise(eta, gamma, key, seed=seed),
                       "learning_rate": _lr(owner, learning_rate)}, owner)


def fromage(learning_rate: ScalarOrSchedule, min_norm: float = 1e-6) -> GradientTransformation:
    """Fromage (Bernstein et al. 2020), per array (one layer):

        θ ← (θ − α_t ‖θ‖_c / ‖g‖_c · g) / √(1 + α_t²),   ‖x‖_c = max(‖x‖, c)

    Chain: scale_by_norm_ratio(c) → scale_by_learning_rate(α) → fromage_rescale(α).
    As optax's ``fromage`` (which writes the last factor as ``add_decayed_weights`` with
    the negative decay 1/√(1 + α_t²) − 1 after a learning rate α_t/√(1 + α_t²)).
    """
    owner = "fromage"
    return make_chain({"norm_ratio": scale_by_norm_ratio(min_norm),
                       "learning_rate": _lr(owner, learning_rate),
                       "rescale": fromage_rescale(learning_rate)}, owner)


def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule,
    alpha: ScalarOrSchedule = 1.0,
    beta: ScalarOrSchedule = 1.0,
) -> GradientTransformation:
    """Optimistic gradient descent (Mokhtari et al. 2019), for min-max games:

        Δθ = −η_t ((α + β) g_t − β g_{t−1}),   g_0 = g_1

    Chain: scale_by_optimistic_gradient(α, β) → scale_by_learning_rate(η). As optax's
    ``optimistic_gradient_descent`` (α and β may be schedules here).
    """
    owner = "optimistic_gradient_descent"
    return make_chain({"optimistic": scale_by_optimistic_gradient(alpha, beta),
                       "learning_rate": _lr(owner, learning_rate)}, owner)


def sm3(learning_rate: ScalarOrSchedule, momentum: float | None = 0.9) -> GradientTransformation:
    """SM3 (Anil et al. 2019): AdaGrad with a sublinear-memory cover of accumulators.

        ν = g² + min_{r ∋ i} μ(r),   μ(r) ← max_{i ∈ r} ν,
        m ← ρ m + (1 − ρ) g / √(ν + 1e-8),   Δθ = −α_t m

    Chain: scale_by_sm3(b1=ρ) → scale_by_learning_rate(α), with the rows/columns cover
    (see [`scale_by_sm3`][gradtx.scale_by_sm3]). As optax's ``sm3``;
    ``momentum=None`` (or 0) turns the momentum off.
    """
    owner = "sm3"
    b1 = 0.0 if momentum is None else momentum
    check_interval(owner, "momentum", b1, low=0.0, high=1.0, high_open=True,
                   allow_schedule=False)
    return make_chain({"sm3": scale_by_sm3(b1=b1), "learning_rate": _lr(owner, learning_rate)},
                      owner)
