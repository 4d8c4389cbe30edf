"""``import gradtx.compat.optax as optax``: optax 0.2.8's optimizer API on gradtx.

Names, signatures, defaults and conventions are optax's; every name binds gradtx
building blocks (optax is not a dependency). What is not provided, and where a result
can differ, is listed in docs/migrating.md.
"""

# ruff: noqa: F401  (re-exports)

from typing import Any

from gradtx.blocks.constraints import add_decayed_weights, clip_by_global_norm
from gradtx.blocks.constraints import clip as _clip
from gradtx.blocks.extras import (
    adaptive_grad_clip,
    centralize,
    set_to_zero,
    unitwise_norm,
    zero_nans,
)
from gradtx.blocks.learning_rate import scale as _scale
from gradtx.blocks.learning_rate import scale_by_learning_rate, scale_by_schedule
from gradtx.blocks.modern import clip_by_block_rms, scale_by_lion, scale_by_trust_ratio
from gradtx.blocks.momentum import ema, trace
from gradtx.blocks.preconditioners import scale_by_adadelta, scale_by_adamax
from gradtx.blocks.preconditioners import scale_by_adam as _adam
from gradtx.blocks.preconditioners import scale_by_rms as _rms
from gradtx.blocks.preconditioners import scale_by_rss as _rss
from gradtx.blocks.sign_and_steps import add_noise, scale_by_optimistic_gradient
from gradtx.compat.optax import _schedules as schedules
from gradtx.compat.optax._alias import (
    adadelta,
    adafactor,
    adagrad,
    adam,
    adamax,
    adamw,
    lamb,
    lars,
    lion,
    nadam,
    rmsprop,
    sgd,
    yogi,
)
from gradtx.compat.optax._schedules import (
    constant_schedule,
    cosine_decay_schedule,
    cosine_onecycle_schedule,
    exponential_decay,
    join_schedules,
    linear_onecycle_schedule,
    linear_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
    polynomial_schedule,
    sgdr_schedule,
    warmup_constant_schedule,
    warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule,
)
from gradtx.compat.optax._state import state_from_optax, state_to_optax
from gradtx.core.base import (
    EmptyState,
    GradientTransformation,
    apply_updates,
    chain,
    identity,
    named_chain,
    stateless,
)
from gradtx.core.tree import tree_global_norm as global_norm
from gradtx.flat import flatten
from gradtx.optimizers.adam_variants import (
    adabelief,
    adamaxw,
    nadamw,
    novograd,
    optimistic_adam,
    radam,
)
from gradtx.optimizers.lbfgs import (
    lbfgs,
    scale_by_backtracking_linesearch,
    scale_by_lbfgs,
    scale_by_zoom_linesearch,
)
from gradtx.optimizers.sign_and_steps import (
    fromage,
    noisy_sgd,
    optimistic_gradient_descent,
    polyak_sgd,
    sign_sgd,
    signum,
    sm3,
)
from gradtx.wrappers.finite import apply_if_finite
from gradtx.wrappers.groups import masked, partition
from gradtx.wrappers.optax_extras import (
    InjectHyperparamsState,
    MultiSteps,
    MultiStepsState,
    apply_every,
    conditionally_mask,
    conditionally_transform,
    incremental_update,
    inject_hyperparams,
    periodic_update,
    skip_large_updates,
    skip_not_finite,
)

multi_transform = partition
GradientTransformationExtraArgs = GradientTransformation


def clip(max_delta: float) -> GradientTransformation:
    """optax.clip: u ← clip(u, −δ, δ)."""
    return _clip(max_delta)


def scale(step_size: float) -> GradientTransformation:
    """optax.scale: u ← c · u."""
    return _scale(step_size)


def scale_by_adam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """optax.scale_by_adam (``mu_dtype`` positional, as optax)."""
    return _adam(b1, b2, eps, eps_root, nesterov=nesterov, mu_dtype=mu_dtype)


def scale_by_rms(
    decay: float = 0.9, eps: float = 1e-8, initial_scale: float = 0.0, eps_in_sqrt: bool = True
) -> GradientTransformation:
    """optax.scale_by_rms: ε inside the root by default."""
    eps_, eps_root = (0.0, eps) if eps_in_sqrt else (eps, 0.0)
    return _rms(decay, eps_, eps_root, False, initial_scale)


def scale_by_rss(
    initial_accumulator_value: float = 0.1, eps: float = 1e-7
) -> GradientTransformation:
    """optax.scale_by_rss: accumulator from 0.1, ε inside the root."""
    return _rss(0.0, eps, initial_accumulator_value)
