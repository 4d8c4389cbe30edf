"""The lecture's unified update as a constructor.

    Δθ_t = − α_t / √(G_t + ε) · M_t

``unified`` builds an optimizer from a named choice of G (the preconditioner)
and M (the momentum), plus α, the place of ε and the decays. Every alias in
``gradtx.optimizers.lecture`` equals one ``unified`` construction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from gradtx.blocks.constraints import add_decayed_weights
from gradtx.blocks.learning_rate import scale_by_learning_rate
from gradtx.blocks.momentum import ema, trace
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

__all__ = ["unified", "PRECONDITIONERS", "MOMENTA"]

Preconditioner = Literal["none", "adagrad", "rmsprop", "adadelta", "adam", "nadam", "adamax",
                         "amsgrad"]
Momentum = Literal["none", "heavy_ball", "nesterov", "ema"]

PRECONDITIONERS: dict[str, Callable[..., GradientTransformation]] = {
    "adagrad": scale_by_rss,
    "rmsprop": scale_by_rms,
    "adadelta": scale_by_adadelta,
    "adam": scale_by_adam,
    "nadam": lambda nadam_momentum_decay=4e-3, **kw: scale_by_adam(
        nesterov=True, momentum_decay=nadam_momentum_decay, **kw
    ),
    "adamax": scale_by_adamax,
    "amsgrad": scale_by_amsgrad,
}
MOMENTA = ("none", "heavy_ball", "nesterov", "ema")


def unified(
    learning_rate: float | Callable[[Any], Any],
    *,
    preconditioner: Preconditioner = "none",
    momentum: Momentum = "none",
    momentum_decay: float = 0.9,
    lr_inside_velocity: bool = False,
    weight_decay: float | Callable[[Any], Any] = 0.0,
    decoupled_weight_decay: bool = False,
    weight_decay_mask: Any = None,
    **preconditioner_args: Any,
) -> GradientTransformation:
    """An optimizer from the factors of Δθ_t = −α_t / √(G_t + ε) · M_t.

    The chain is, in order: L2 decay (if ``weight_decay`` and not decoupled) →
    G → M (torch form) → decoupled decay → α → M (lecture form, when
    ``lr_inside_velocity``).

    Args:
      learning_rate: α, a number or a schedule.
      preconditioner: G — ``"none"`` (G = 1), ``"adagrad"`` (sum of squares),
        ``"rmsprop"`` (EMA of squares), ``"adadelta"``, ``"adam"`` (debiased
        moments, which include M), ``"nadam"``, ``"adamax"``, ``"amsgrad"``.
      momentum: M — ``"none"`` (M = g), ``"heavy_ball"``, ``"nesterov"``,
        ``"ema"`` (debiased exponential moving average).
      momentum_decay: ρ of the momentum.
      lr_inside_velocity: the lecture's v ← ρv − α_t g instead of torch's
        v ← ρv + g, θ ← θ − α_t v.
      weight_decay: λ; L2 (g ← g + λθ before G) unless ``decoupled_weight_decay``.
      decoupled_weight_decay: add λθ after G, as AdamW.
      weight_decay_mask: where decay applies (see [`gradtx.add_decayed_weights`][]).
      **preconditioner_args: passed to the preconditioner's building block, for
        example ``b1``, ``b2``, ``eps``, ``eps_root``, ``decay``, ``centered``.
        For ``"nadam"``, NAdam's momentum schedule ψ is ``nadam_momentum_decay``
        (default 4e-3 as [`gradtx.nadam`][]; ``None`` for the constant μ_t = ρ1),
        since ``momentum_decay`` here is the ρ of M.
    """
    owner = "unified"
    if preconditioner != "none" and preconditioner not in PRECONDITIONERS:
        raise ValueError(
            f"{owner}: preconditioner must be one of {['none', *PRECONDITIONERS]}, "
            f"got {preconditioner!r}"
        )
    if momentum not in MOMENTA:
        raise ValueError(f"{owner}: momentum must be one of {list(MOMENTA)}, got {momentum!r}")
    if preconditioner == "none" and preconditioner_args:
        raise TypeError(f"{owner}: unexpected arguments {sorted(preconditioner_args)} "
                        "without a preconditioner")
    check_interval(owner, "learning_rate", learning_rate, low=0.0)
    check_bool(owner, "lr_inside_velocity", lr_inside_velocity)
    check_bool(owner, "decoupled_weight_decay", decoupled_weight_decay)
    has_decay = is_schedule(weight_decay) or weight_decay != 0
    if has_decay:
        check_interval(owner, "weight_decay", weight_decay, low=0.0)

    def momentum_part() -> GradientTransformation:
        if momentum == "ema":
            return ema(momentum_decay, debias=True)
        return trace(momentum_decay, nesterov=momentum == "nesterov")

    parts: dict[str, GradientTransformation] = {}
    if has_decay and not decoupled_weight_decay:
        parts["weight_decay"] = add_decayed_weights(weight_decay, weight_decay_mask)
    if preconditioner != "none":
        parts[preconditioner] = PRECONDITIONERS[preconditioner](**preconditioner_args)
    if momentum != "none" and not lr_inside_velocity:
        parts["momentum"] = momentum_part()
    if has_decay and decoupled_weight_decay:
        parts["weight_decay"] = add_decayed_weights(weight_decay, weight_decay_mask)
    parts["learning_rate"] = scale_by_learning_rate(learning_rate)
    if momentum != "none" and lr_inside_velocity:
        parts["momentum"] = momentum_part()
    return make_chain(parts, owner)
