"""gradtx: composable gradient transformations for JAX.

An optimizer is a pure pair ``(init, update)``; optimizers are chains of
building blocks named for the factors of the lecture's unified update

    Δθ_t = − α_t / √(G_t + ε) · M_t

The whole public API is listed here, grouped by concept.
"""

# ruff: noqa: I001  (imports are grouped by concept, not alphabetically)

# The protocol and its combinators.
from gradtx.core.base import (
    ChainState,
    EmptyState,
    GradientTransformation,
    apply_updates,
    chain,
    identity,
    named_chain,
    stateless,
)

# Hyperparameters held in the state.
from gradtx.core.hyperparams import (
    ScheduledValue,
    StaticValue,
    fold_hyperparams,
    unfold_hyperparams,
    get_hyperparams,
    set_hyperparams,
    static_hyperparams,
)

# Tree helpers.
from gradtx.core.tree import (
    tree_cast,
    tree_full_like,
    tree_global_norm,
    tree_sum_of_squares,
    tree_vdot,
    tree_zeros_like,
)

# α: learning rate and scaling.
from gradtx.blocks.learning_rate import scale, scale_by_learning_rate, scale_by_schedule
from gradtx.blocks.plateau import reduce_on_plateau

# G: preconditioners.
from gradtx.blocks.preconditioners import (
    scale_by_adadelta,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_rms,
    scale_by_rss,
)

# M: momentum.
from gradtx.blocks.momentum import ema, trace

# Weight decay and clipping.
from gradtx.blocks.constraints import add_decayed_weights, clip, clip_by_global_norm
from gradtx.blocks.per_example import per_example_global_norm_clip, per_example_layer_norm_clip

# Optimizers.
from gradtx.optimizers.lecture import (
    adadelta,
    adagrad,
    adam,
    adamax,
    adamw,
    amsgrad,
    nadam,
    rmsprop,
    sgd,
)
from gradtx.optimizers.unified import unified

# Modern optimizers and their building blocks.
from gradtx.blocks.modern import (
    clip_by_block_rms,
    newton_schulz,
    scale_by_factored_rms,
    scale_by_lion,
    scale_by_muon,
    scale_by_param_block_rms,
    scale_by_trust_ratio,
)
from gradtx.optimizers.modern import adafactor, adafactor_relative_step, lamb, lars, lion, muon

# Adam's variants and the sign-, step- and line-search-based optimizers.
from gradtx.blocks.adam_variants import (
    scale_by_adan,
    scale_by_belief,
    scale_by_layer_second_moment,
    scale_by_radam,
    scale_by_yogi,
)
from gradtx.blocks.sign_and_steps import (
    add_noise,
    fromage_rescale,
    scale_by_distance_over_gradients,
    scale_by_norm_ratio,
    scale_by_optimistic_gradient,
    scale_by_polyak,
    scale_by_rprop,
    scale_by_sign,
    scale_by_sm3,
)
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
from gradtx.optimizers.lbfgs import (
    lbfgs,
    scale_by_backtracking_linesearch,
    scale_by_lbfgs,
    scale_by_zoom_linesearch,
    value_and_grad_from_state,
)
from gradtx.optimizers.sign_and_steps import (
    fromage,
    noisy_sgd,
    optimistic_gradient_descent,
    polyak_sgd,
    rprop,
    sign_sgd,
    signum,
    sm3,
)

# optax's remaining transforms and wrappers, gradtx-native.
from gradtx.blocks.extras import (
    adaptive_grad_clip,
    centralize,
    set_to_zero,
    unitwise_norm,
    zero_nans,
)
from gradtx.wrappers.optax_extras import (
    MultiSteps,
    apply_every,
    conditionally_mask,
    conditionally_transform,
    incremental_update,
    inject_hyperparams,
    periodic_update,
    skip_large_updates,
    skip_not_finite,
)

# Wrappers: parameter groups, accumulation, NaN-safe steps, averaging.
from gradtx.wrappers.accumulate import accumulate_gradients
from gradtx.wrappers.averaging import lookahead, param_ema, polyak_average
from gradtx.wrappers.finite import apply_if_finite
from gradtx.wrappers.groups import MaskedNode, freeze, masked, partition

# Interop.
from gradtx.interop import as_optax

# Flat params: a tree held as a few 1-D buffers (gradtx.flat.ravel(params)).
from gradtx import flat

# Optimizer state on a mesh: ZeRO-1 sharding, shardings for jit and Orbax, resuming.
from gradtx import sharding

# Subpackages: gradtx.schedules.cosine(...), gradtx.initializers.he_normal(), ...
from gradtx import diagnostics, initializers, schedules

__version__ = "0.1.0"  # the one place it is written: pyproject.toml reads it from here

__all__ = [
    # protocol
    "GradientTransformation",
    "ChainState",
    "EmptyState",
    "chain",
    "named_chain",
    "identity",
    "stateless",
    "apply_updates",
    # hyperparameters
    "ScheduledValue",
    "get_hyperparams",
    "set_hyperparams",
    "static_hyperparams",
    "StaticValue",
    "fold_hyperparams",
    "unfold_hyperparams",
    # tree helpers
    "tree_cast",
    "tree_full_like",
    "tree_global_norm",
    "tree_sum_of_squares",
    "tree_vdot",
    "tree_zeros_like",
    # α
    "scale_by_learning_rate",
    "scale",
    "scale_by_schedule",
    "reduce_on_plateau",
    # G
    "scale_by_rss",
    "scale_by_rms",
    "scale_by_adam",
    "scale_by_adadelta",
    "scale_by_adamax",
    "scale_by_amsgrad",
    # M
    "trace",
    "ema",
    # constraints
    "add_decayed_weights",
    "clip",
    "clip_by_global_norm",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
    # optimizers
    "sgd",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamw",
    "nadam",
    "adamax",
    "amsgrad",
    "unified",
    # modern optimizers and blocks
    "lion",
    "lamb",
    "lars",
    "adafactor",
    "adafactor_relative_step",
    "muon",
    "scale_by_lion",
    "scale_by_trust_ratio",
    "scale_by_factored_rms",
    "scale_by_muon",
    "newton_schulz",
    "clip_by_block_rms",
    "scale_by_param_block_rms",
    # Adam's variants, sign-, step- and line-search-based optimizers
    "radam",
    "adabelief",
    "yogi",
    "nadamw",
    "adamaxw",
    "adan",
    "novograd",
    "optimistic_adam",
    "sign_sgd",
    "signum",
    "rprop",
    "polyak_sgd",
    "noisy_sgd",
    "fromage",
    "optimistic_gradient_descent",
    "sm3",
    "lbfgs",
    "scale_by_radam",
    "scale_by_belief",
    "scale_by_yogi",
    "scale_by_adan",
    "scale_by_layer_second_moment",
    "scale_by_sign",
    "scale_by_rprop",
    "scale_by_polyak",
    "add_noise",
    "scale_by_optimistic_gradient",
    "scale_by_norm_ratio",
    "fromage_rescale",
    "scale_by_sm3",
    "scale_by_distance_over_gradients",
    "scale_by_lbfgs",
    "scale_by_zoom_linesearch",
    "scale_by_backtracking_linesearch",
    "value_and_grad_from_state",
    # optax's remaining transforms and wrappers
    "zero_nans",
    "centralize",
    "set_to_zero",
    "unitwise_norm",
    "adaptive_grad_clip",
    "apply_every",
    "conditionally_mask",
    "conditionally_transform",
    "incremental_update",
    "periodic_update",
    "MultiSteps",
    "skip_not_finite",
    "skip_large_updates",
    "inject_hyperparams",
    # wrappers
    "masked",
    "partition",
    "freeze",
    "MaskedNode",
    "accumulate_gradients",
    "apply_if_finite",
    "param_ema",
    "polyak_average",
    "lookahead",
    # subpackages
    "flat",
    "sharding",
    "schedules",
    "initializers",
    "diagnostics",
    # interop
    "as_optax",
]
