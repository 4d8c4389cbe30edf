"""Optimizers people reach for today, each a short named chain of building blocks.

``learning_rate`` is a number α ≥ 0 or a schedule t ↦ α_t everywhere (see
[`gradtx.scale_by_learning_rate`][]); ``weight_decay`` λ is decoupled (added
after the preconditioner, then scaled by α_t, as in AdamW) unless said
otherwise; ``mask`` selects the leaves it applies to (``True`` = decayed, see
[`gradtx.wrappers`][]). ``mu_dtype`` and ``nu_dtype`` choose the storage
dtypes of the first and second moments independently; the arithmetic is
float32 or wider whatever they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gradtx.blocks.constraints import add_decayed_weights
from gradtx.blocks.learning_rate import scale_by_learning_rate
from gradtx.blocks.modern import (
    MUON_NS_COEFFS,
    clip_by_block_rms,
    scale_by_factored_rms,
    scale_by_lion,
    scale_by_muon,
    scale_by_param_block_rms,
    scale_by_trust_ratio,
)
from gradtx.blocks.momentum import ema, trace
from gradtx.blocks.preconditioners import scale_by_adam
from gradtx.core.base import GradientTransformation, make_chain
from gradtx.core.validate import check_interval, is_schedule
from gradtx.wrappers.groups import masked, partition

__all__ = ["lion", "lamb", "lars", "adafactor", "muon", "adafactor_relative_step"]

ScalarOrSchedule = float | Callable[[Any], Any]


def _decay(parts: dict[str, GradientTransformation], owner: str, weight_decay: Any,
           mask: Any) -> None:
    """Adds ``add_decayed_weights(λ, mask)`` to ``parts`` when λ is not 0."""
    check_interval(owner, "weight_decay", weight_decay, low=0.0)
    if is_schedule(weight_decay) or weight_decay != 0:
        parts["weight_decay"] = add_decayed_weights(weight_decay, mask)


def _lr(owner: str, learning_rate: Any) -> GradientTransformation:
    check_interval(owner, "learning_rate", learning_rate, low=0.0)
    return scale_by_learning_rate(learning_rate)


def lion(
    learning_rate: ScalarOrSchedule = 1e-4,
    b1: float = 0.9,
    b2: float = 0.99,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Any = None,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Lion (Chen et al. 2023).

    Chain: scale_by_lion(ρ1, ρ2) → [add_decayed_weights(λ, mask)] → scale_by_learning_rate(α).

        Δθ = −α_t (sign(ρ1 m + (1 − ρ1) g) + λ θ),    m ← ρ2 m + (1 − ρ2) g

    Defaults as the paper and optax (λ = 1e-3); α is typically 3–10× smaller
    than AdamW's and λ as much larger.
    """
    owner = "lion"
    parts = {"lion": scale_by_lion(b1, b2, mu_dtype)}
    _decay(parts, owner, weight_decay, mask)
    parts["learning_rate"] = _lr(owner, learning_rate)
    return make_chain(parts, owner)


def lamb(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any = None,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """LAMB (You et al. 2020): Adam's direction, rescaled layer by layer.

    Chain: scale_by_adam(ρ1, ρ2, ε, ε_root) → [add_decayed_weights(λ, mask)]
    → scale_by_trust_ratio() → scale_by_learning_rate(α).

        r = ŝ / (√r̂ + ε) + λ θ,      Δθ = −α_t ‖θ‖ / ‖r‖ · r

    per array (one layer), with ratio 1 where ‖θ‖ or ‖r‖ is 0. As optax's ``lamb``.
    """
    owner = "lamb"
    parts = {"adam": scale_by_adam(b1, b2, eps, eps_root, mu_dtype=mu_dtype,
                                   nu_dtype=nu_dtype)}
    _decay(parts, owner, weight_decay, mask)
    parts["trust_ratio"] = scale_by_trust_ratio()
    parts["learning_rate"] = _lr(owner, learning_rate)
    return make_chain(parts, owner)


def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: float = 0.0,
    trust_coefficient: float = 0.001,
    eps: float = 0.0,
    momentum: float = 0.9,
    nesterov: bool = False,
    mask: Any = None,
) -> GradientTransformation:
    """LARS (You et al. 2017, Alg. 1): momentum SGD with a local learning rate per layer.

    Chain: ``[masked](scale_by_trust_ratio(η, ε, λ), mask)`` → scale_by_learning_rate(γ)
    → [trace(m, nesterov)].

        λ_l = η ‖w‖ / (‖∇L‖ + β ‖w‖ + ε),   v ← m v + γ_t λ_l (∇L + β w),   w ← w − v

    per array, with β = ``weight_decay``. Leaves where ``mask`` is ``False``
    (biases, norm scales, as in the paper's practice) get plain momentum SGD
    without decay. Differs from optax's ``lars``, which divides by
    ‖∇L + β w‖ instead of ‖∇L‖ + β‖w‖; the two agree when β = 0.
    """
    owner = "lars"
    check_interval(owner, "momentum", momentum, low=0.0, high=1.0, high_open=True,
                   allow_schedule=False)
    ratio = scale_by_trust_ratio(trust_coefficient, eps, weight_decay)
    parts = {"lars": ratio if mask is None else masked(ratio, mask),
             "learning_rate": _lr(owner, learning_rate)}
    if momentum:
        parts["momentum"] = trace(momentum, nesterov)
    return make_chain(parts, owner)


def adafactor_relative_step(step: Any) -> jax.Array:
    """Adafactor's relative step size ρ_t = min(10⁻², 1/√t), t = step + 1."""
    return jnp.minimum(1e-2, 1 / jnp.sqrt(jnp.asarray(step) + 1.0))


def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: float = 0.8,
    clipping_threshold: float | None = 1.0,
    multiply_by_parameter_scale: bool = True,
    momentum: float | None = None,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any = None,
    eps: float = 1e-30,
    min_scale: float = 1e-3,
    factored: bool = True,
    nu_dtype: Any = None,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Adafactor (Shazeer & Stern 2018): factored second moments, relative step sizes.

    Chain: scale_by_factored_rms(c, ε1) → [clip_by_block_rms(d)] →
    [scale_by_param_block_rms(ε2)] → [ema(β1, debias=False)] →
    [add_decayed_weights(λ, mask)] → scale_by_learning_rate(ρ_t).

        U = g / √V̂,   Û = U / max(1, RMS(U)/d),   Δθ = −ρ_t max(ε2, RMS(θ)) Û

    ``learning_rate=None`` is the paper's relative step ρ_t = min(10⁻², 1/√t)
    ([`adafactor_relative_step`][gradtx.adafactor_relative_step]); optax's
    ``learning_rate=None`` means no step-size factor at all (ρ_t = 1), so pass a number or
    schedule when comparing. With a constant ρ the chain equals optax's ``adafactor``; optax
    applies ρ before momentum (the lecture's form) and adds λθ after ρ
    (unscaled by it), gradtx before (scaled, as AdamW).
    """
    owner = "adafactor"
    parts: dict[str, GradientTransformation] = {
        "factored_rms": scale_by_factored_rms(decay_rate, eps, min_dim_size_to_factor,
                                              factored, nu_dtype),
    }
    if clipping_threshold is not None:
        parts["clip"] = clip_by_block_rms(clipping_threshold)
    if multiply_by_parameter_scale:
        parts["param_scale"] = scale_by_param_block_rms(min_scale)
    if momentum is not None:
        parts["momentum"] = ema(momentum, debias=False, accumulator_dtype=mu_dtype)
    _decay(parts, owner, weight_decay, mask)
    parts["learning_rate"] = _lr(
        owner, adafactor_relative_step if learning_rate is None else learning_rate)
    return make_chain(parts, owner)


def _muon_labels(params: Any) -> Any:
    return jax.tree.map(lambda p: "muon" if jnp.ndim(p) == 2 else "adam", params)


def muon(
    learning_rate: ScalarOrSchedule,
    beta: float = 0.95,
    ns_coeffs: tuple[float, float, float] = MUON_NS_COEFFS,
    ns_steps: int = 5,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    debias: bool = False,
    labels: Any = None,
    adam_learning_rate: ScalarOrSchedule | None = None,
    adam_b1: float = 0.9,
    adam_b2: float = 0.999,
    adam_eps: float = 1e-8,
    adam_weight_decay: ScalarOrSchedule = 0.0,
    adam_nesterov: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Muon (Jordan et al. 2024): orthogonalized momentum for 2-D weights, Adam for the rest.

    Chain: partition({
      "muon": scale_by_muon(β, nesterov) → [add_decayed_weights(λ)]
              → scale_by_learning_rate(α),
      "adam": scale_by_adam(β1, β2, ε) → [add_decayed_weights(λ_adam)]
              → scale_by_learning_rate(α_adam),
    }, labels)

        m ← β m + (1 − β) g,   Δθ = −α_t (NS₅(β m + (1 − β) g) · √max(1, n_out/n_in) + λθ)

    for each 2-D weight (n_in, n_out); every other leaf gets AdamW. ``labels``
    (a tree of ``"muon"``/``"adam"`` or a function of the params) overrides the
    default (2-D → ``"muon"``), for example to send embeddings and the output
    layer to Adam, as Jordan recommends. Both groups read the one step counter.

    ``debias=True, adam_nesterov=True`` (with ``adam_eps=eps``) is
    ``optax.contrib.muon``; the defaults are Jordan's reference (no bias
    correction, plain Adam for the other leaves).
    """
    owner = "muon"
    muon_parts = {"muon": scale_by_muon(beta, ns_coeffs, ns_steps, eps, nesterov=nesterov,
                                        debias=debias, mu_dtype=mu_dtype)}
    _decay(muon_parts, owner, weight_decay, None)
    muon_parts["learning_rate"] = _lr(owner, learning_rate)
    adam_parts = {"adam": scale_by_adam(adam_b1, adam_b2, adam_eps, nesterov=adam_nesterov,
                                        mu_dtype=mu_dtype, nu_dtype=nu_dtype)}
    _decay(adam_parts, owner, adam_weight_decay, None)
    adam_parts["learning_rate"] = _lr(
        owner, learning_rate if adam_learning_rate is None else adam_learning_rate)
    return partition(
        {"muon": make_chain(muon_parts, owner), "adam": make_chain(adam_parts, owner)},
        _muon_labels if labels is None else labels,
    )
