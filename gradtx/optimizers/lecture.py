"""The lecture's optimizers, each a short named chain of building blocks.

Every alias is the unified update Δθ_t = −α_t / √(G_t + ε) · M_t with a
particular choice of factors; the docstrings give the chain and (α_t, G_t, M_t).

``learning_rate`` is a number α ≥ 0 or a schedule t ↦ α_t everywhere (see
[`gradtx.scale_by_learning_rate`][]). ``weight_decay`` λ, where accepted, is
L2 regularization (g ← g + λθ before the preconditioner) except in ``adamw``,
where it is decoupled (added after it). Momentum parts take
``lr_inside_velocity``: ``False`` (default) is torch's form v ← ρv + g,
θ ← θ − α_t v; ``True`` is the lecture's v ← ρv − α_t g, θ ← θ + v. With a
constant α both give the same trajectory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx.blocks.constraints import add_decayed_weights
from gradtx.blocks.learning_rate import scale_by_learning_rate
from gradtx.blocks.momentum import trace
from gradtx.blocks.preconditioners import (
    scale_by_adadelta,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_rms,
    scale_by_rss,
)
from gradtx.core.base import GradientTransformation, make_chain
from gradtx.core.validate import check_bool, check_interval, is_schedule

__all__ = [
    "sgd",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamw",
    "nadam",
    "adamax",
    "amsgrad",
]

ScalarOrSchedule = float | Callable[[Any], Any]


def _uses(value: Any) -> bool:
    return is_schedule(value) or value != 0


def _assemble(
    owner: str,
    learning_rate: ScalarOrSchedule,
    *,
    l2: ScalarOrSchedule = 0.0,
    preconditioner: tuple[str, GradientTransformation] | None = None,
    momentum: float = 0.0,
    nesterov: bool = False,
    lr_inside_velocity: bool = False,
    decoupled: ScalarOrSchedule = 0.0,
    mask: Any = None,
) -> GradientTransformation:
    """[L2] → [G] → [M, torch form] → [decoupled decay] → α → [M, lecture form]."""
    check_interval(owner, "learning_rate", learning_rate, low=0.0)
    check_interval(owner, "momentum", momentum, low=0.0, high=1.0, high_open=True,
                   allow_schedule=False)
    check_bool(owner, "nesterov", nesterov)
    check_bool(owner, "lr_inside_velocity", lr_inside_velocity)
    if nesterov and momentum == 0:
        raise ValueError(f"{owner}: nesterov=True needs a momentum in (0, 1), got 0")
    parts: dict[str, GradientTransformation] = {}
    if _uses(l2):
        check_interval(owner, "weight_decay", l2, low=0.0)
        parts["weight_decay"] = add_decayed_weights(l2, mask)
    if preconditioner is not None:
        parts[preconditioner[0]] = preconditioner[1]
    if momentum and not lr_inside_velocity:
        parts["momentum"] = trace(momentum, nesterov)
    if _uses(decoupled):
        check_interval(owner, "weight_decay", decoupled, low=0.0)
        parts["weight_decay"] = add_decayed_weights(decoupled, mask)
    parts["learning_rate"] = scale_by_learning_rate(learning_rate)
    if momentum and lr_inside_velocity:
        parts["momentum"] = trace(momentum, nesterov)
    return make_chain(parts, owner)


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: ScalarOrSchedule = 0.0,
    *,
    lr_inside_velocity: bool = False,
) -> GradientTransformation:
    """Minibatch SGD, with optional (Nesterov) momentum and L2 weight decay.

    Chain: [add_decayed_weights(λ)] → [trace(ρ, nesterov)] → scale_by_learning_rate(α)
    (with ``lr_inside_velocity=True``: ... → scale_by_learning_rate(α) → trace(ρ)).

    (α_t, G_t, M_t) = (α, 1, g) without momentum; (α, 1, v) with v ← ρv + g.
    Nesterov: M_t = g + ρv, whose parameter trajectory is φ_t = θ_t + ρ v_t of
    the lecture's look-ahead algorithm.
    """
    return _assemble("sgd", learning_rate, l2=weight_decay, momentum=momentum,
                     nesterov=nesterov, lr_inside_velocity=lr_inside_velocity)


def adagrad(
    learning_rate: ScalarOrSchedule = 0.01,
    eps: float = 1e-10,
    initial_accumulator_value: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """AdaGrad (Duchi et al. 2011).

    Chain: [add_decayed_weights(λ)] → scale_by_rss(ε) → scale_by_learning_rate(α).
    (α_t, G_t, M_t) = (α, Σ_{τ≤t} g_τ ⊙ g_τ, g); ε outside the root.
    """
    return _assemble(
        "adagrad", learning_rate, l2=weight_decay,
        preconditioner=("adagrad", scale_by_rss(eps, 0.0, initial_accumulator_value)),
    )


def rmsprop(
    learning_rate: ScalarOrSchedule = 0.01,
    decay: float = 0.99,
    eps: float = 1e-8,
    centered: bool = False,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: ScalarOrSchedule = 0.0,
    *,
    lr_inside_velocity: bool = False,
) -> GradientTransformation:
    """RMSProp (Tieleman & Hinton 2012), optionally centered, with momentum on the
    *scaled* gradient (the lecture's RMSProp + Nesterov when ``nesterov=True``).

    Chain: [add_decayed_weights(λ)] → scale_by_rms(ρ, ε, centered) → [trace(ρ_v, nesterov)]
    → scale_by_learning_rate(α).
    (α_t, G_t, M_t) = (α, r_t, g) with r_t ← ρ r + (1 − ρ) g ⊙ g; with momentum
    M_t/√(G_t+ε) is replaced by the velocity of the scaled gradient.
    """
    return _assemble(
        "rmsprop", learning_rate, l2=weight_decay,
        preconditioner=("rmsprop", scale_by_rms(decay, eps, 0.0, centered)),
        momentum=momentum, nesterov=nesterov, lr_inside_velocity=lr_inside_velocity,
    )


def adadelta(
    learning_rate: ScalarOrSchedule = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """AdaDelta (Zeiler 2012).

    Chain: [add_decayed_weights(λ)] → scale_by_adadelta(ρ, eps_root=ε) → scale_by_learning_rate(α).
    (α_t, G_t, M_t) = (α · √(E[Δ²] + ε), E[g²], g); the paper's ε is inside both roots;
    α = 1 is the paper's method (torch's default too).
    """
    check_interval("adadelta", "eps", eps, low=0.0)  # the block would name it eps_root
    return _assemble(
        "adadelta", learning_rate, l2=weight_decay,
        preconditioner=("adadelta", scale_by_adadelta(rho, 0.0, eps)),
    )


def adam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """Adam (Kingma & Ba 2015), with optional L2 weight decay (torch's ``Adam``).

    Chain: [add_decayed_weights(λ)] → scale_by_adam(ρ1, ρ2, ε, ε_root) → scale_by_learning_rate(α).
    (α_t, G_t, M_t) = (α, r/(1 − ρ2^t), s/(1 − ρ1^t)).
    """
    return _assemble(
        "adam", learning_rate, l2=weight_decay,
        preconditioner=("adam", scale_by_adam(b1, b2, eps, eps_root)),
    )


def adamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 1e-2,
    mask: Any = None,
) -> GradientTransformation:
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.

    Chain: scale_by_adam(ρ1, ρ2, ε, ε_root) → add_decayed_weights(λ, mask)
    → scale_by_learning_rate(α).
    Δθ = −α_t (ŝ/(√r̂ + ε) + λθ); λ = 0.01 as torch (optax: 1e-4).
    """
    return _assemble(
        "adamw", learning_rate,
        preconditioner=("adam", scale_by_adam(b1, b2, eps, eps_root)),
        decoupled=weight_decay, mask=mask,
    )


def nadam(
    learning_rate: ScalarOrSchedule = 2e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    momentum_decay: float | None = 4e-3,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """NAdam (Dozat 2016): Adam with Nesterov momentum.

    Chain: [add_decayed_weights(λ)] → scale_by_adam(ρ1, ρ2, ε, nesterov=True, momentum_decay=ψ)
    → scale_by_learning_rate(α).
    μ_t = ρ1 (1 − ½ · 0.96^{tψ}) as in the paper and torch (ψ = 0.004);
    ``momentum_decay=None`` uses the constant μ_t = ρ1 (optax's ``nadam``).
    """
    return _assemble(
        "nadam", learning_rate, l2=weight_decay,
        preconditioner=("nadam", scale_by_adam(b1, b2, eps, 0.0, nesterov=True,
                                                momentum_decay=momentum_decay)),
    )


def adamax(
    learning_rate: ScalarOrSchedule = 2e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """AdaMax (Kingma & Ba 2015, §7).

    Chain: [add_decayed_weights(λ)] → scale_by_adamax(ρ1, ρ2, eps=0, eps_root=ε)
    → scale_by_learning_rate(α).
    (α_t, G_t, M_t) = (α, n², s/(1 − ρ1^t)) with n ← max(ρ2 n, |g| + ε): ε is added to
    |g| inside the max, as torch's ``Adamax`` and optax's ``adamax`` do (the paper has no ε).
    """
    check_interval("adamax", "eps", eps, low=0.0)  # the block would name it eps_root
    return _assemble(
        "adamax", learning_rate, l2=weight_decay,
        preconditioner=("adamax", scale_by_adamax(b1, b2, eps=0.0, eps_root=eps)),
    )


def amsgrad(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """AMSGrad (Reddi et al. 2018), torch's ``Adam(amsgrad=True)``.

    Chain: [add_decayed_weights(λ)] → scale_by_amsgrad(ρ1, ρ2, ε) → scale_by_learning_rate(α).
    (α_t, G_t, M_t) = (α, max_{τ≤t} r_τ / (1 − ρ2^t), s/(1 − ρ1^t)).
    """
    return _assemble(
        "amsgrad", learning_rate, l2=weight_decay,
        preconditioner=("amsgrad", scale_by_amsgrad(b1, b2, eps, eps_root)),
    )
