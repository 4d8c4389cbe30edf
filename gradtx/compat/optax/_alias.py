"""optax 0.2.8's optimizer aliases: optax's names, signatures and defaults, on gradtx blocks.

No formula lives here: each alias binds gradtx building blocks in the order and with the
defaults optax uses (its docstring says where gradtx's own alias differs). The chains are
gradtx chains, so the state is gradtx's (one step counter, named parts), not optax's tuple.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

import gradtx as gt

__all__ = [
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "lamb",
    "lars",
    "lion",
    "nadam",
    "rmsprop",
    "sgd",
    "yogi",
]


def _lr(learning_rate: Any) -> gt.GradientTransformation:
    return gt.scale_by_learning_rate(learning_rate)


def sgd(learning_rate: Any, momentum: float | None = None, nesterov: bool = False,
        accumulator_dtype: Any = None) -> gt.GradientTransformation:
    """optax.sgd: [trace(momentum, nesterov)] → −α (momentum before the rate, torch's form)."""
    parts = []
    if momentum is not None:
        parts.append(gt.trace(momentum, nesterov, accumulator_dtype))
    return gt.chain(*parts, _lr(learning_rate))


def adam(learning_rate: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
         eps_root: float = 0.0, mu_dtype: Any = None, *, nesterov: bool = False
         ) -> gt.GradientTransformation:
    """optax.adam (``nesterov=True``: optax's NAdam, constant μ = b1)."""
    return gt.chain(gt.scale_by_adam(b1, b2, eps, eps_root, nesterov=nesterov,
                                     mu_dtype=mu_dtype), _lr(learning_rate))


def nadam(learning_rate: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          eps_root: float = 0.0, mu_dtype: Any = None, *, nesterov: bool = True
          ) -> gt.GradientTransformation:
    """optax.nadam: Adam with Nesterov momentum and constant μ = b1 (gradtx.nadam uses
    the paper's μ_t schedule by default)."""
    return adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)


def adamw(learning_rate: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          eps_root: float = 0.0, mu_dtype: Any = None, weight_decay: Any = 1e-4,
          mask: Any = None, *, nesterov: bool = False) -> gt.GradientTransformation:
    """optax.adamw: weight decay 1e-4 by default (gradtx.adamw: torch's 1e-2)."""
    return gt.chain(
        gt.scale_by_adam(b1, b2, eps, eps_root, nesterov=nesterov, mu_dtype=mu_dtype),
        gt.add_decayed_weights(weight_decay, mask), _lr(learning_rate))


def rmsprop(learning_rate: Any, decay: float = 0.9, eps: float = 1e-8,
            initial_scale: float = 0.0, eps_in_sqrt: bool = True, centered: bool = False,
            momentum: float | None = None, nesterov: bool = False,
            bias_correction: bool = False) -> gt.GradientTransformation:
    """optax.rmsprop: ρ = 0.9, ε inside the root by default, momentum after the rate
    (gradtx.rmsprop: torch's ρ = 0.99, ε outside, momentum before the rate)."""
    if bias_correction:
        raise NotImplementedError("rmsprop: bias_correction=True is not provided by "
                                  "gradtx.compat.optax (see docs/migrating.md)")
    eps_, eps_root = (0.0, eps) if eps_in_sqrt else (eps, 0.0)
    parts = [gt.scale_by_rms(decay, eps_, eps_root, centered, initial_scale), _lr(learning_rate)]
    if momentum is not None:
        parts.append(gt.trace(momentum, nesterov))
    return gt.chain(*parts)


def adagrad(learning_rate: Any, initial_accumulator_value: float = 0.1, eps: float = 1e-7
            ) -> gt.GradientTransformation:
    """optax.adagrad: accumulator from 0.1, ε = 1e-7 inside the root (gradtx.adagrad: torch's
    0 and 1e-10 outside)."""
    return gt.chain(gt.scale_by_rss(0.0, eps, initial_accumulator_value), _lr(learning_rate))


def adadelta(learning_rate: Any = None, rho: float = 0.9, eps: float = 1e-6,
             weight_decay: Any = 0.0, weight_decay_mask: Any = None
             ) -> gt.GradientTransformation:
    """optax.adadelta. As in optax, ``learning_rate=None`` leaves out the rate **and its sign
    flip** (the default then climbs the loss; gradtx.adadelta's default α = 1 descends)."""
    parts = [gt.add_decayed_weights(weight_decay, weight_decay_mask),
             gt.scale_by_adadelta(rho, 0.0, eps)]
    if learning_rate is not None:
        parts.append(_lr(learning_rate))
    return gt.chain(*parts)


def adamax(learning_rate: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
           ) -> gt.GradientTransformation:
    """optax.adamax: ε added to |g| inside the max (as gradtx.adamax)."""
    return gt.chain(gt.scale_by_adamax(b1, b2, eps=0.0, eps_root=eps), _lr(learning_rate))


def lion(learning_rate: Any, b1: float = 0.9, b2: float = 0.99, mu_dtype: Any = None,
         weight_decay: Any = 1e-3, mask: Any = None) -> gt.GradientTransformation:
    """optax.lion (the same as gradtx.lion, with optax's argument order)."""
    return gt.lion(learning_rate, b1, b2, weight_decay=weight_decay, mask=mask,
                   mu_dtype=mu_dtype)


def lamb(learning_rate: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-6,
         eps_root: float = 0.0, weight_decay: Any = 0.0, mask: Any = None
         ) -> gt.GradientTransformation:
    """optax.lamb (the same as gradtx.lamb)."""
    return gt.lamb(learning_rate, b1, b2, eps, eps_root, weight_decay, mask)


def lars(learning_rate: Any, weight_decay: Any = 0.0, weight_decay_mask: Any = True,
         trust_coefficient: float = 0.001, eps: float = 0.0, trust_ratio_mask: Any = True,
         momentum: float = 0.9, nesterov: bool = False) -> gt.GradientTransformation:
    """optax.lars: g + λθ, then the trust ratio of that sum, −α, then momentum (gradtx.lars
    uses the paper's ratio η‖θ‖/(‖g‖ + λ‖θ‖) instead; they agree for λ = 0)."""
    return gt.chain(
        gt.add_decayed_weights(weight_decay, None if weight_decay_mask is True
                               else weight_decay_mask),
        gt.masked(gt.scale_by_trust_ratio(trust_coefficient, eps), trust_ratio_mask),
        _lr(learning_rate), gt.trace(momentum, nesterov))


def adafactor(learning_rate: Any = None, min_dim_size_to_factor: int = 128,
              decay_rate: float = 0.8, decay_offset: int = 0,
              multiply_by_parameter_scale: bool = True, clipping_threshold: float | None = 1.0,
              momentum: float | None = None, dtype_momentum: Any = jnp.float32,
              weight_decay_rate: Any = None, eps: float = 1e-30, factored: bool = True,
              weight_decay_mask: Any = None) -> gt.GradientTransformation:
    """optax.adafactor, in optax's order: factored RMS → clip → ×α → ×RMS(θ) → [EMA] →
    [+λθ] → ×(−1). Unlike gradtx.adafactor, the momentum averages the α-scaled update,
    the weight decay is not multiplied by α, and ``learning_rate=None`` means no α at all."""
    if decay_offset != 0:
        raise NotImplementedError("adafactor: decay_offset != 0 is not provided by "
                                  "gradtx.compat.optax (see docs/migrating.md)")
    parts = [gt.scale_by_factored_rms(decay_rate, eps, min_dim_size_to_factor, factored)]
    if clipping_threshold is not None:
        parts.append(gt.clip_by_block_rms(clipping_threshold))
    if learning_rate is not None:
        parts.append(gt.scale_by_schedule(learning_rate) if callable(learning_rate)
                     else gt.scale(learning_rate))
    if multiply_by_parameter_scale:
        parts.append(gt.scale_by_param_block_rms())
    if momentum is not None:
        parts.append(gt.ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        parts.append(gt.add_decayed_weights(weight_decay_rate, weight_decay_mask))
    parts.append(gt.scale(-1.0))
    return gt.chain(*parts)


def yogi(learning_rate: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-3
         ) -> gt.GradientTransformation:
    """optax.yogi: both moments start at 1e-6 (gradtx.yogi: the first at 0, as the paper)."""
    return gt.chain(gt.scale_by_yogi(b1, b2, eps, initial_mu=1e-6), _lr(learning_rate))
