"""optax 0.2.8's optimizer aliases: optax's names, signatures, defaults, chains and state
layout, on gradtx blocks.

Each alias is the ``chain`` optax builds, of the transforms of
``gradtx.compat.optax`` (themselves gradtx blocks), so ``optax.adam(lr)``'s state here is
``(ScaleByAdamState(count, mu, nu), EmptyState())`` as in optax. ``learning_rate`` is a
number or a schedule of the step count everywhere; ``mask`` selects the leaves that are
weight-decayed (a tree of bools or a function of the params). Each docstring gives the
chain and says where gradtx's own alias of the same name differs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp

import gradtx as gt
import gradtx.compat.optax._transforms as tr
from gradtx.compat.optax import _states as st
from gradtx.compat.optax._layout import (
    GradientTransformationExtraArgs,
    chain,
    optax_layout,
    stateless_layout,
)
from gradtx.compat.optax._wrappers import masked
from gradtx.core.base import GradientTransformation, identity
from gradtx.optimizers.lbfgs import scale_by_zoom_linesearch

__all__ = [
    "adabelief",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "adan",
    "amsgrad",
    "fromage",
    "lamb",
    "lars",
    "lbfgs",
    "lion",
    "nadam",
    "nadamw",
    "noisy_sgd",
    "novograd",
    "optimistic_adam",
    "optimistic_adam_v2",
    "optimistic_gradient_descent",
    "polyak_sgd",
    "radam",
    "rmsprop",
    "rprop",
    "sgd",
    "sign_sgd",
    "signum",
    "sm3",
    "yogi",
]

ScalarOrSchedule = float | Callable[[Any], Any]
Number = float
GT = GradientTransformationExtraArgs


def sgd(learning_rate: ScalarOrSchedule, momentum: Number | None = None,
        nesterov: bool = False, accumulator_dtype: Any = None) -> GT:
    """optax.sgd: chain(trace(momentum, nesterov) or identity, scale_by_learning_rate).
    (gradtx.sgd: momentum 0 by default, same numbers.)"""
    first = (tr.trace(momentum, nesterov, accumulator_dtype) if momentum is not None
             else identity())
    return chain(first, tr.scale_by_learning_rate(learning_rate))


def adam(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.999,
         eps: Number = 1e-8, eps_root: Number = 0.0, mu_dtype: Any = None, *,
         nesterov: bool = False) -> GT:
    """optax.adam: chain(scale_by_adam, scale_by_learning_rate)."""
    return chain(tr.scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 tr.scale_by_learning_rate(learning_rate))


def nadam(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.999,
          eps: Number = 1e-8, eps_root: Number = 0.0, mu_dtype: Any = None, *,
          nesterov: bool = True) -> GT:
    """optax.nadam: ``adam(nesterov=True)``, constant μ = b1 (gradtx.nadam uses the
    paper's μ_t schedule by default)."""
    return adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)


def adamw(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.999,
          eps: Number = 1e-8, eps_root: Number = 0.0, mu_dtype: Any = None,
          weight_decay: ScalarOrSchedule = 1e-4, mask: Any = None, *,
          nesterov: bool = False) -> GT:
    """optax.adamw: chain(scale_by_adam, add_decayed_weights(λ = 1e-4, mask),
    scale_by_learning_rate) (gradtx.adamw: torch's λ = 1e-2)."""
    return chain(tr.scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 tr.add_decayed_weights(weight_decay, mask),
                 tr.scale_by_learning_rate(learning_rate))


def nadamw(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.999,
           eps: Number = 1e-8, eps_root: Number = 0.0, mu_dtype: Any = None,
           weight_decay: ScalarOrSchedule = 1e-4, mask: Any = None, *,
           nesterov: bool = True) -> GT:
    """optax.nadamw: ``adamw(nesterov=True)``."""
    return adamw(learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask,
                 nesterov=nesterov)


def amsgrad(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.999,
            eps: Number = 1e-8, eps_root: Number = 0.0, mu_dtype: Any = None,
            bias_correction_mu: bool = True, bias_correction_nu: bool = True) -> GT:
    """optax.amsgrad: chain(scale_by_amsgrad, scale_by_learning_rate), the maximum of the
    debiased ν (gradtx.amsgrad: of the raw ν, as the paper and torch)."""
    return chain(tr.scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, bias_correction_mu,
                                     bias_correction_nu),
                 tr.scale_by_learning_rate(learning_rate))


def adamax(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.999,
           eps: Number = 1e-8) -> GT:
    """optax.adamax: chain(scale_by_adamax, scale_by_learning_rate)."""
    return chain(tr.scale_by_adamax(b1, b2, eps), tr.scale_by_learning_rate(learning_rate))


def adamaxw(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.999,
            eps: Number = 1e-8, weight_decay: ScalarOrSchedule = 1e-4, mask: Any = None
            ) -> GT:
    """optax.adamaxw: chain(scale_by_adamax, add_decayed_weights, scale_by_learning_rate)."""
    return chain(tr.scale_by_adamax(b1, b2, eps), tr.add_decayed_weights(weight_decay, mask),
                 tr.scale_by_learning_rate(learning_rate))


def adan(learning_rate: ScalarOrSchedule, b1: Number = 0.98, b2: Number = 0.92,
         b3: Number = 0.99, eps: Number = 1e-8, eps_root: Number = 1e-8,
         weight_decay: ScalarOrSchedule = 0.0, mask: Any = None) -> GT:
    """optax.adan: chain(scale_by_adan, add_decayed_weights, scale_by_learning_rate), with
    optax 0.2.8's weight 1 − b2 on the gradient difference (gradtx.adan: the paper's b2)."""
    return chain(tr.scale_by_adan(b1, b2, b3, eps, eps_root),
                 tr.add_decayed_weights(weight_decay, mask),
                 tr.scale_by_learning_rate(learning_rate))


def adabelief(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.999,
              eps: Number = 1e-16, eps_root: Number = 1e-16, *, nesterov: bool = False) -> GT:
    """optax.adabelief: chain(scale_by_belief, scale_by_learning_rate)."""
    return chain(tr.scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov),
                 tr.scale_by_learning_rate(learning_rate))


def radam(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.999,
          eps: Number = 1e-8, eps_root: Number = 0.0, threshold: Number = 5.0, *,
          nesterov: bool = False) -> GT:
    """optax.radam: chain(scale_by_radam, scale_by_learning_rate)."""
    return chain(tr.scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov),
                 tr.scale_by_learning_rate(learning_rate))


def yogi(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.999,
         eps: Number = 1e-3) -> GT:
    """optax.yogi: chain(scale_by_yogi, scale_by_learning_rate); both moments start at 1e-6
    (gradtx.yogi: the first at 0, as the paper)."""
    return chain(tr.scale_by_yogi(b1, b2, eps), tr.scale_by_learning_rate(learning_rate))


def rmsprop(learning_rate: ScalarOrSchedule, decay: Number = 0.9, eps: Number = 1e-8,
            initial_scale: Number = 0.0, eps_in_sqrt: bool = True, centered: bool = False,
            momentum: Number | None = None, nesterov: bool = False,
            bias_correction: bool = False) -> GT:
    """optax.rmsprop: chain(scale_by_rms or scale_by_stddev, scale_by_learning_rate,
    trace(momentum) or identity): ρ = 0.9, ε inside the root by default, momentum after the
    rate (gradtx.rmsprop: torch's ρ = 0.99, ε outside, momentum before the rate)."""
    precondition = tr.scale_by_stddev if centered else tr.scale_by_rms
    return chain(precondition(decay, eps, initial_scale, eps_in_sqrt, bias_correction),
                 tr.scale_by_learning_rate(learning_rate),
                 tr.trace(momentum, nesterov) if momentum is not None else identity())


def adagrad(learning_rate: ScalarOrSchedule, initial_accumulator_value: Number = 0.1,
            eps: Number = 1e-7) -> GT:
    """optax.adagrad: chain(scale_by_rss, scale_by_learning_rate): accumulator from 0.1,
    ε = 1e-7 inside the root (gradtx.adagrad: torch's 0 and 1e-10 outside)."""
    return chain(tr.scale_by_rss(initial_accumulator_value, eps),
                 tr.scale_by_learning_rate(learning_rate))


def adadelta(learning_rate: ScalarOrSchedule | None = None, rho: Number = 0.9,
             eps: Number = 1e-6, weight_decay: ScalarOrSchedule = 0.0,
             weight_decay_mask: Any = None) -> GT:
    """optax.adadelta: chain(add_decayed_weights, scale_by_adadelta, scale_by_learning_rate).
    As in optax, ``learning_rate=None`` leaves out the rate **and its sign flip** (the
    default then climbs the loss; gradtx.adadelta's default α = 1 descends)."""
    return chain(tr.add_decayed_weights(weight_decay, weight_decay_mask),
                 tr.scale_by_adadelta(rho, eps), tr.scale_by_learning_rate(learning_rate))


def lion(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.99,
         mu_dtype: Any = None, weight_decay: ScalarOrSchedule = 1e-3, mask: Any = None) -> GT:
    """optax.lion: chain(scale_by_lion, add_decayed_weights, scale_by_learning_rate)."""
    return chain(tr.scale_by_lion(b1, b2, mu_dtype), tr.add_decayed_weights(weight_decay, mask),
                 tr.scale_by_learning_rate(learning_rate))


def lamb(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.999,
         eps: Number = 1e-6, eps_root: Number = 0.0, weight_decay: Number = 0.0,
         mask: Any = None) -> GT:
    """optax.lamb: chain(scale_by_adam, add_decayed_weights, scale_by_trust_ratio,
    scale_by_learning_rate)."""
    return chain(tr.scale_by_adam(b1, b2, eps, eps_root),
                 tr.add_decayed_weights(weight_decay, mask), tr.scale_by_trust_ratio(),
                 tr.scale_by_learning_rate(learning_rate))


def lars(learning_rate: ScalarOrSchedule, weight_decay: Number = 0.0,
         weight_decay_mask: Any = True, trust_coefficient: Number = 0.001, eps: Number = 0.0,
         trust_ratio_mask: Any = True, momentum: Number = 0.9, nesterov: bool = False) -> GT:
    """optax.lars: chain(add_decayed_weights(λ, mask), masked(scale_by_trust_ratio),
    scale_by_learning_rate, trace(momentum)): the trust ratio of g + λθ (gradtx.lars uses
    the paper's ratio η‖θ‖/(‖g‖ + λ‖θ‖) instead; they agree for λ = 0)."""
    return chain(tr.add_decayed_weights(weight_decay, weight_decay_mask),
                 masked(tr.scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps),
                        trust_ratio_mask),
                 tr.scale_by_learning_rate(learning_rate), tr.trace(momentum, nesterov))


def adafactor(learning_rate: ScalarOrSchedule | None = None,
              min_dim_size_to_factor: int = 128, decay_rate: Number = 0.8,
              decay_offset: int = 0, multiply_by_parameter_scale: bool = True,
              clipping_threshold: Number | None = 1.0, momentum: Number | None = None,
              dtype_momentum: Any = jnp.float32, weight_decay_rate: ScalarOrSchedule | None = None,
              eps: Number = 1e-30, factored: bool = True, weight_decay_mask: Any = None) -> GT:
    """optax.adafactor, in optax's order: chain(scale_by_factored_rms,
    [clip_by_block_rms], [×α], [scale_by_param_block_rms], [ema], [add_decayed_weights],
    scale(−1)). Unlike gradtx.adafactor, the momentum averages the α-scaled update, the
    weight decay is not multiplied by α, and ``learning_rate=None`` means no α at all.
    ``decay_offset`` ≠ 0 raises ``NotImplementedError``."""
    if tr.is_nonzero_constant(decay_offset):
        raise NotImplementedError("adafactor: decay_offset != 0 is not provided by "
                                  "gradtx.compat.optax (see docs/migrating.md)")
    parts: list[GradientTransformation] = [
        tr.scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)]
    if clipping_threshold is not None:
        parts.append(tr.clip_by_block_rms(clipping_threshold))
    if learning_rate is not None:
        parts.append(tr.scale_by_learning_rate(learning_rate, flip_sign=False))
    if multiply_by_parameter_scale:
        parts.append(tr.scale_by_param_block_rms())
    if momentum is not None:
        parts.append(tr.ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        parts.append(tr.add_decayed_weights(weight_decay_rate, mask=weight_decay_mask))
    parts.append(tr.scale(-1))
    return chain(*parts)


def noisy_sgd(learning_rate: ScalarOrSchedule, eta: Number = 0.01, gamma: Number = 0.55,
              key: jax.Array | int | None = None, *, seed: int | None = None) -> GT:
    """optax.noisy_sgd: chain(add_noise(η, γ), scale_by_learning_rate)."""
    return chain(tr.add_noise(eta, gamma, key, seed=seed),
                 tr.scale_by_learning_rate(learning_rate))


def sign_sgd(learning_rate: ScalarOrSchedule) -> GT:
    """optax.sign_sgd: chain(scale_by_sign, scale_by_learning_rate)."""
    return chain(tr.scale_by_sign(), tr.scale_by_learning_rate(learning_rate))


def signum(learning_rate: ScalarOrSchedule, beta: Number = 0.9,
           accumulator_dtype: Any = None) -> GT:
    """optax.signum: chain(ema(β, debias=False), scale_by_sign, scale_by_learning_rate)."""
    return chain(tr.ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
                 tr.scale_by_sign(), tr.scale_by_learning_rate(learning_rate))


def novograd(learning_rate: ScalarOrSchedule, b1: Number = 0.9, b2: Number = 0.25,
             eps: Number = 1e-6, eps_root: Number = 0.0, weight_decay: Number = 0.0) -> GT:
    """optax.novograd: chain(scale_by_novograd, scale_by_learning_rate)."""
    return chain(tr.scale_by_novograd(b1, b2, eps, eps_root, weight_decay),
                 tr.scale_by_learning_rate(learning_rate))


def fromage(learning_rate: ScalarOrSchedule, min_norm: Number = 1e-6) -> GT:
    """optax.fromage: chain(scale_by_trust_ratio(min_norm), scale_by_learning_rate, the
    shrinkage θ ← θ / √(1 + α_t²)). optax scales the rate by 1/√(1 + α_t²) in the second part
    and adds (1/√(1 + α_t²) − 1) θ in the third; here the third part
    (gradtx.fromage_rescale) does both, with the same numbers and the same state layout."""
    if callable(learning_rate):
        rescale = optax_layout(gt.fromage_rescale(learning_rate), st.WeightDecaySchedule,
                               "fromage")
    else:
        rescale = stateless_layout(gt.fromage_rescale(learning_rate), "fromage")
    return chain(tr.scale_by_trust_ratio(min_norm), tr.scale_by_learning_rate(learning_rate),
                 rescale)


def optimistic_gradient_descent(learning_rate: ScalarOrSchedule, alpha: Number = 1.0,
                                beta: Number = 1.0) -> GT:
    """optax.optimistic_gradient_descent: chain(scale_by_optimistic_gradient(α, β),
    scale_by_learning_rate)."""
    return chain(tr.scale_by_optimistic_gradient(alpha, beta),
                 tr.scale_by_learning_rate(learning_rate))


def optimistic_adam(learning_rate: Number, optimism: Number | None = None, b1: Number = 0.9,
                    b2: Number = 0.999, eps: Number = 1e-8, eps_root: Number = 0.0,
                    mu_dtype: Any = None, *, nesterov: bool = True) -> GT:
    """optax.optimistic_adam (deprecated in optax for ``optimistic_adam_v2``):
    chain(scale_by_adam, scale_by_optimistic_gradient(α, optimism), scale_by_learning_rate(1));
    ``optimism=None`` is α. A schedule raises ``ValueError``, as in optax."""
    warnings.warn("optimistic_adam is deprecated in optax, use optimistic_adam_v2",
                  DeprecationWarning, stacklevel=2)
    if callable(learning_rate):
        raise ValueError("optimistic_adam: learning_rate must be a number, as in optax "
                         "(optimistic_adam_v2 takes a schedule)")
    return chain(tr.scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 tr.scale_by_optimistic_gradient(
                     learning_rate, learning_rate if optimism is None else optimism),
                 tr.scale_by_learning_rate(1.0))


def optimistic_adam_v2(learning_rate: ScalarOrSchedule, *, alpha: Number = 1.0,
                       beta: Number = 1.0, b1: Number = 0.9, b2: Number = 0.999,
                       eps: Number = 1e-8, eps_root: Number = 0.0, mu_dtype: Any = None,
                       nesterov: bool = True) -> GT:
    """optax.optimistic_adam_v2: chain(scale_by_adam, scale_by_optimistic_gradient(α, β),
    scale_by_learning_rate)."""
    return chain(tr.scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 tr.scale_by_optimistic_gradient(alpha, beta),
                 tr.scale_by_learning_rate(learning_rate))


def sm3(learning_rate: Number, momentum: Number = 0.9) -> GT:
    """optax.sm3: chain(scale_by_sm3(momentum), scale(−α))."""
    return chain(tr.scale_by_sm3(momentum), tr.scale(-learning_rate))


def rprop(learning_rate: Number, eta_minus: Number = 0.5, eta_plus: Number = 1.2,
          min_step_size: Number = 1e-6, max_step_size: Number = 50.0) -> GT:
    """optax.rprop: chain(scale_by_rprop, scale(−1)), with optax 0.2.8's timing (each
    update is the previous step's; gradtx.rprop is torch's iRprop⁻)."""
    return chain(tr.scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size,
                                   max_step_size),
                 tr.scale(-1.0))


def polyak_sgd(max_learning_rate: Number = 1.0, scaling: ScalarOrSchedule = 1.0,
               f_min: Number = 0.0, eps: Number = 0.0,
               variant: Literal["sps", "sps+"] = "sps") -> GT:
    """optax.polyak_sgd: chain(sgd(scaling), scale_by_polyak) (needs ``value=``)."""
    return chain(sgd(learning_rate=scaling),
                 tr.scale_by_polyak(max_learning_rate=max_learning_rate, f_min=f_min, eps=eps,
                                    variant=variant))


_DEFAULT_LINESEARCH = scale_by_zoom_linesearch(max_linesearch_steps=20,
                                               initial_guess_strategy="one")


def lbfgs(learning_rate: ScalarOrSchedule | None = None, memory_size: int = 10,
          scale_init_precond: bool = True,
          linesearch: GradientTransformation | None = _DEFAULT_LINESEARCH) -> GT:
    """optax.lbfgs: chain(scale_by_lbfgs, scale(−1) or scale_by_learning_rate, linesearch
    or identity); the zoom line search needs ``value=``, ``grad=`` and ``value_fn=``."""
    scaling = tr.scale(-1.0) if learning_rate is None else tr.scale_by_learning_rate(
        learning_rate)
    return chain(tr.scale_by_lbfgs(memory_size, scale_init_precond), scaling,
                 identity() if linesearch is None else linesearch)
