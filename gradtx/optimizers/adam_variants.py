"""Adam's descendants, each a short named chain of building blocks.

Every alias is the unified update Δθ_t = −α_t / √(G_t + ε) · M_t with its own
factors; the docstrings give the chain and (α_t, G_t, M_t) in the notation of
``gradtx.blocks.adam_variants`` (s, r the first and second moments, ŝ, r̂
debiased, t the update number).

Arguments have optax's names, order and defaults, except that every
``learning_rate`` has a default (optax requires one; each docstring says where
the default comes from). ``learning_rate`` is a number α ≥ 0 or a schedule
t ↦ α_t (see [`gradtx.scale_by_learning_rate`][]). ``weight_decay`` λ is
decoupled (added after the preconditioner, scaled by α_t, as in AdamW) unless a
docstring says otherwise; ``mask`` selects the leaves it applies to (``True`` =
decayed, a tree of bools or a function of the params).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx.blocks.adam_variants import (
    scale_by_adan,
    scale_by_belief,
    scale_by_layer_second_moment,
    scale_by_radam,
    scale_by_yogi,
)
from gradtx.blocks.constraints import add_decayed_weights
from gradtx.blocks.learning_rate import scale_by_learning_rate
from gradtx.blocks.momentum import trace
from gradtx.blocks.preconditioners import scale_by_adam, scale_by_adamax
from gradtx.blocks.sign_and_steps import scale_by_optimistic_gradient
from gradtx.core.base import GradientTransformation, make_chain
from gradtx.core.validate import check_interval, is_schedule
from gradtx.optimizers.lecture import _assemble

__all__ = [
    "radam",
    "adabelief",
    "yogi",
    "nadamw",
    "adamaxw",
    "adan",
    "novograd",
    "optimistic_adam",
]

ScalarOrSchedule = float | Callable[[Any], Any]


def radam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    *,
    nesterov: bool = False,
    weight_decay: ScalarOrSchedule = 0.0,
    eps_on_raw_moment: bool = False,
) -> GradientTransformation:
    """RAdam (Liu et al. 2019): Adam whose adaptive rate is switched on as its variance
    becomes tractable.

    Chain: [add_decayed_weights(λ)] → scale_by_radam(ρ1, ρ2, ε, ε_root, threshold)
    → scale_by_learning_rate(α).
    (α_t, G_t, M_t) = (α r_t, r̂, ŝ) while ρ_t ≥ threshold, else (α, 1, ŝ): momentum SGD
    for the first steps (ρ_t ≈ t for ρ2 near 1, so the first 5 with the defaults).

    As ``optax.radam`` (threshold 5, ρ_t ≥ 5; the paper's test is ρ_t > 4, torch's
    ρ_t > 5, see [`gradtx.scale_by_radam`][]). ``weight_decay``
    is L2 (g ← g + λθ first), as torch's ``RAdam`` (optax has none). torch's
    ``RAdam(lr, betas, eps, weight_decay)`` is ``radam(lr, *betas, eps,
    weight_decay=λ, eps_on_raw_moment=True)``: torch adds ε to √r before debiasing;
    its ``decoupled_weight_decay=True`` is the chain scale_by_radam(...,
    eps_on_raw_moment=True) → add_decayed_weights(λ) → scale_by_learning_rate(α).
    The default α = 1e-3 is torch's.
    """
    return _assemble(
        "radam", learning_rate, l2=weight_decay,
        preconditioner=("radam", scale_by_radam(b1, b2, eps, eps_root, threshold,
                                                nesterov=nesterov,
                                                eps_on_raw_moment=eps_on_raw_moment)),
    )


def adabelief(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdaBelief (Zhuang et al. 2020): Adam scaled by the belief in the gradient.

    Chain: scale_by_belief(ρ1, ρ2, ε, ε_root) → scale_by_learning_rate(α).
    (α_t, G_t, M_t) = (α, r̂, ŝ) with r ← ρ2 r + (1 − ρ2)(g − s)² + ε_root: a gradient
    close to its running mean (a confident "belief") gets a large step.

    As ``optax.adabelief``: ε_root is added to r inside the EMA, ε outside the root,
    both 1e-16 by default. The default α = 1e-3 is the authors'.
    """
    return _assemble(
        "adabelief", learning_rate,
        preconditioner=("adabelief", scale_by_belief(b1, b2, eps, eps_root,
                                                     nesterov=nesterov)),
    )


def yogi(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-3,
) -> GradientTransformation:
    """Yogi (Zaheer et al. 2018): Adam with an additive, sign-controlled second moment.

    Chain: scale_by_yogi(ρ1, ρ2, ε) → scale_by_learning_rate(α).
    (α_t, G_t, M_t) = (α, r̂, ŝ) with r ← r − (1 − ρ2) sign(r − g²) g², r_0 = 1e-6.

    As ``optax.yogi`` (ε = 1e-3 outside the root, debiased moments), except that the
    first moment starts at 0 as in the paper, where optax starts it at 1e-6 too (a
    zero gradient then still moves the params); the block's ``initial_mu=1e-6`` is
    optax's exactly. The default α = 1e-2 is the paper's.
    """
    return _assemble("yogi", learning_rate,
                     preconditioner=("yogi", scale_by_yogi(b1, b2, eps)))


def nadamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any = None,
) -> GradientTransformation:
    """NAdamW: NAdam (Dozat 2016) with decoupled weight decay (Loshchilov & Hutter 2019).

    Chain: scale_by_adam(ρ1, ρ2, ε, ε_root, nesterov=True) → [add_decayed_weights(λ, mask)]
    → scale_by_learning_rate(α).
    Δθ = −α_t ((ρ1 s / (1 − ρ1^{t+1}) + (1 − ρ1) g / (1 − ρ1^t)) / (√(r̂ + ε_root) + ε) + λθ).

    As ``optax.nadamw``: the momentum coefficient is the constant ρ1 (torch's
    ``NAdam(decoupled_weight_decay=True)`` uses the paper's schedule μ_t instead,
    see [`gradtx.nadam`][]); λ = 1e-4 is optax's. The default α = 1e-3 is AdamW's.
    """
    return _assemble(
        "nadamw", learning_rate,
        preconditioner=("nadam", scale_by_adam(b1, b2, eps, eps_root, nesterov=True,
                                               mu_dtype=mu_dtype)),
        decoupled=weight_decay, mask=mask,
    )


def adamaxw(
    learning_rate: ScalarOrSchedule = 2e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any = None,
) -> GradientTransformation:
    """AdaMaxW: AdaMax (Kingma & Ba 2015, §7) with decoupled weight decay.

    Chain: scale_by_adamax(ρ1, ρ2, eps=0, eps_root=ε) → [add_decayed_weights(λ, mask)]
    → scale_by_learning_rate(α).
    Δθ = −α_t (s / (1 − ρ1^t) / n + λθ) with n ← max(ρ2 n, |g| + ε).

    As ``optax.adamaxw`` (ε added to |g| inside the max, λ = 1e-4). The default
    α = 2e-3 is torch's ``Adamax`` and [`gradtx.adamax`][]'s.
    """
    check_interval("adamaxw", "eps", eps, low=0.0)  # the block would name it eps_root
    return _assemble(
        "adamaxw", learning_rate,
        preconditioner=("adamax", scale_by_adamax(b1, b2, eps=0.0, eps_root=eps)),
        decoupled=weight_decay, mask=mask,
    )


def adan(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.98,
    b2: float = 0.92,
    b3: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any = None,
) -> GradientTransformation:
    """Adan (Xie et al. 2022): adaptive Nesterov momentum from gradient differences.

    Chain: scale_by_adan(ρ1, ρ2, ρ3, ε, ε_root) → [add_decayed_weights(λ, mask)]
    → scale_by_learning_rate(α).
    (α_t, G_t, M_t) = (α, r̂, ŝ + ρ2 d̂) with d the EMA of g − g_prev and r that of
    (g + ρ2 (g − g_prev))².

    optax's signature and defaults. The coefficient of the gradient difference is
    ρ2 as in the paper and the authors' code, not optax 0.2.8's 1 − ρ2 (see
    [`gradtx.scale_by_adan`][]). The weight decay is
    optax's decoupled θ − α_t λ θ (the authors' ``no_prox=True``); the paper's
    default is the proximal θ ← (θ − α u) / (1 + αλ), equal to first order in αλ.
    The default α = 1e-3 is the authors'.
    """
    return _assemble(
        "adan", learning_rate,
        preconditioner=("adan", scale_by_adan(b1, b2, b3, eps, eps_root)),
        decoupled=weight_decay, mask=mask,
    )


def novograd(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.25,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """NovoGrad (Ginsburg et al. 2019): layer-wise normalized gradients with momentum.

    Chain: scale_by_layer_second_moment(ρ2, ε, ε_root) → [add_decayed_weights(λ)]
    → trace(ρ1) → scale_by_learning_rate(α).

        v ← ρ2 v + (1 − ρ2) ‖g‖²  (v_1 = ‖g_1‖²),   one v per array (layer)
        m ← ρ1 m + g / (√(v + ε_root) + ε) + λθ,   Δθ = −α_t m

    (α_t, G_t, M_t) = (α, v, momentum of the normalized gradient). The weight
    decay enters the momentum, as in the paper and optax (it is neither L2 on g
    nor AdamW's decay after the momentum). As ``optax.novograd``, defaults
    included; the default α = 1e-3 is gradtx's.
    """
    owner = "novograd"
    check_interval(owner, "learning_rate", learning_rate, low=0.0)
    check_interval(owner, "b1", b1, low=0.0, high=1.0, high_open=True)
    check_interval(owner, "weight_decay", weight_decay, low=0.0)
    parts = {"novograd": scale_by_layer_second_moment(b2, eps, eps_root)}
    if is_schedule(weight_decay) or weight_decay != 0:
        parts["weight_decay"] = add_decayed_weights(weight_decay)
    parts["momentum"] = trace(b1)
    parts["learning_rate"] = scale_by_learning_rate(learning_rate)
    return make_chain(parts, owner)


def optimistic_adam(
    learning_rate: ScalarOrSchedule = 1e-3,
    optimism: float | None = None,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    """Optimistic Adam (Daskalakis et al. 2018), for min-max problems such as GANs.

    With Adam's direction d_t = ŝ / (√(r̂ + ε_root) + ε) and optimism o:

        Δθ_t = −α d_t − o (d_t − d_{t−1}),   d_0 := d_1

    ``optimism=None`` takes o = α_t, the paper's Δθ = −α_t (2 d_t − d_{t−1}).

    Chain: scale_by_adam(ρ1, ρ2, ε, ε_root, nesterov) → scale_by_optimistic_gradient(1, o/α)
    → scale_by_learning_rate(α). In the unified form α_t = α and M_t / √(G_t + ε) is the
    extrapolated Adam direction d_t + (o/α)(d_t − d_{t−1}).

    As ``optax.optimistic_adam`` (deprecated there for ``optimistic_adam_v2``, whose
    ``(learning_rate, alpha, beta)`` are (α, 1, o/α) here), defaults included:
    ``nesterov=True`` gives d_t NAdam's look-ahead ŝ; the paper's Algorithm 1 is
    ``nesterov=False``. Unlike optax's, a schedule α_t is accepted when
    ``optimism`` is None; a given ``optimism`` needs a constant α > 0. The default
    α = 1e-3 is gradtx's.
    """
    owner = "optimistic_adam"
    check_interval(owner, "learning_rate", learning_rate, low=0.0)
    if optimism is None:
        ratio = 1.0
    else:
        check_interval(owner, "optimism", optimism, low=0.0, allow_schedule=False)
        if callable(learning_rate):  # a schedule
            raise TypeError(f"{owner}: optimism needs a constant learning_rate (the chain "
                            f"scales by optimism / learning_rate), got a schedule; with "
                            f"optimism=None the optimism follows the schedule")
        check_interval(owner, "learning_rate", learning_rate, low=0.0, low_open=True)
        ratio = optimism / learning_rate
    parts = {
        "adam": scale_by_adam(b1, b2, eps, eps_root, nesterov=nesterov, mu_dtype=mu_dtype),
        "optimism": scale_by_optimistic_gradient(1.0, ratio),
        "learning_rate": scale_by_learning_rate(learning_rate),
    }
    return make_chain(parts, owner)
