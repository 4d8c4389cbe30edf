"""optax 0.2.8's state classes: its names, its fields in its order.

A state made by ``gradtx.compat.optax`` has optax's nesting and field names, so code that
reads ``state[0].mu`` or ``state[0].count`` runs unchanged, and an optax state (or
checkpoint) has the same leaves in the same order. Where gradtx's own class has exactly
optax's fields it is used as it is (``MaskedState``, ``MultiStepsState``, ...).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from gradtx.blocks.extras import ZeroNansState
from gradtx.core.base import EmptyState
from gradtx.optimizers.lbfgs import ScaleByBacktrackingLinesearchState, ScaleByZoomLinesearchState
from gradtx.optimizers.lbfgs import ZoomLinesearchInfo as ZoomLinesearchInfo
from gradtx.wrappers.groups import MaskedState
from gradtx.wrappers.optax_extras import ApplyEvery, InjectHyperparamsState, MultiStepsState

__all__ = [
    "AdaptiveGradClipState",
    "AddDecayedWeightsState",
    "AddNoiseState",
    "ApplyEvery",
    "ApplyIfFiniteState",
    "ClipByGlobalNormState",
    "ClipState",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "EmaState",
    "EmptyState",
    "FactoredState",
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "LookaheadParams",
    "LookaheadState",
    "MaskedState",
    "MultiStepsState",
    "MultiTransformState",
    "NonNegativeParamsState",
    "PartitionState",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAdanState",
    "ScaleByAmsgradState",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByBeliefState",
    "ScaleByDistanceOverGradientsState",
    "ScaleByLBFGSState",
    "ScaleByLionState",
    "ScaleByNovogradState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRpropState",
    "ScaleByRssState",
    "ScaleBySM3State",
    "ScaleByOptimisticGradientState",
    "ScaleByScheduleState",
    "ScaleByTrustRatioState",
    "ScaleByZoomLinesearchState",
    "ScaleState",
    "TraceState",
    "WeightDecaySchedule",
    "WrappedScheduleState",
    "ZeroNansState",
    "ZoomLinesearchInfo",
]

# optax's names for the state of its stateless transforms: all EmptyState.
AdaptiveGradClipState = EmptyState
AddDecayedWeightsState = EmptyState
ClipByGlobalNormState = EmptyState
ClipState = EmptyState
NonNegativeParamsState = EmptyState
ScaleByTrustRatioState = EmptyState
ScaleState = EmptyState


class TraceState(NamedTuple):
    """``trace``: the momentum buffer."""

    trace: Any


class EmaState(NamedTuple):
    """``ema``: the step count and the (not debiased) moving average."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    ema: Any


class ScaleByScheduleState(NamedTuple):
    """``scale_by_schedule`` (and a scheduled ``scale_by_learning_rate``): the step count."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count


class WeightDecaySchedule(NamedTuple):
    """``add_decayed_weights`` with a scheduled weight decay: the step count."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count


class AddNoiseState(NamedTuple):
    """``add_noise``: the step count and the PRNG key."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    rng_key: jax.Array


class ScaleByRssState(NamedTuple):
    """``scale_by_rss``: the sum of squared gradients."""

    sum_of_squares: Any


class ScaleByRmsState(NamedTuple):
    """``scale_by_rms``: the moving average of squared gradients."""

    nu: Any


class ScaleByRmsWithCountState(NamedTuple):
    """``scale_by_rms(bias_correction=True)``: the step count and ``nu``."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    nu: Any


class ScaleByRStdDevState(NamedTuple):
    """``scale_by_stddev``: the moving averages of gradients and of their squares."""

    mu: Any
    nu: Any


class ScaleByRStdDevWithCountState(NamedTuple):
    """``scale_by_stddev(bias_correction=True)``: the step count, ``mu`` and ``nu``."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    mu: Any
    nu: Any


class ScaleByAdamState(NamedTuple):
    """``scale_by_adam`` (and ``scale_by_adamax``, ``scale_by_radam``, ``scale_by_yogi``):
    the step count and the first and second moments."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    mu: Any
    nu: Any


class ScaleByAmsgradState(NamedTuple):
    """``scale_by_amsgrad``: the step count, the moments and the running maximum."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    mu: Any
    nu: Any
    nu_max: Any


class ScaleByAdanState(NamedTuple):
    """``scale_by_adan``: the moments of g (``m``), of g − g_prev (``v``) and of the squared
    term (``n``), the last gradient ``g`` and the step count ``t``."""

    m: Any
    v: Any
    n: Any
    g: Any
    t: jax.Array


class ScaleByBeliefState(NamedTuple):
    """``scale_by_belief``: the step count and the moments."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    mu: Any
    nu: Any


class ScaleByLionState(NamedTuple):
    """``scale_by_lion``: the step count and the momentum."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    mu: Any


class ScaleByNovogradState(NamedTuple):
    """``scale_by_novograd``: the step count, the momentum and the per-layer second
    moment (one scalar per leaf)."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    mu: Any
    nu: Any


class ScaleByAdaDeltaState(NamedTuple):
    """``scale_by_adadelta``: the averages of squared gradients and of squared updates."""

    e_g: Any
    e_x: Any


class FactoredState(NamedTuple):
    """``scale_by_factored_rms``: the step count and the row, column and full moments."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    v_row: Any
    v_col: Any
    v: Any


class ScaleByRpropState(NamedTuple):
    """``scale_by_rprop``: the step sizes and the previous update."""

    step_sizes: Any
    prev_updates: Any


class ScaleBySM3State(NamedTuple):
    """``scale_by_sm3``: per leaf, the list of accumulators of each axis, and the momentum."""

    mu: Any
    nu: Any


class ScaleByOptimisticGradientState(NamedTuple):
    """``scale_by_optimistic_gradient``: whether no update ran yet, and the last gradient."""

    is_initial_step: jax.Array
    previous_gradient: Any


class ScaleByDistanceOverGradientsState(NamedTuple):
    """``scale_by_distance_over_gradients``: per leaf, the largest distance r from the
    initial params (a scalar), the sum G of squared gradients (a shape-(1,) array), and the
    initial params θ_0."""

    max_dist: Any
    grad_sum_of_squares: Any
    init_params: Any


class ScaleByLBFGSState(NamedTuple):
    """``scale_by_lbfgs``: the step count, the last params and updates, the memories of
    their differences, and the memory weights."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    params: Any
    updates: Any
    diff_params_memory: Any
    diff_updates_memory: Any
    weights_memory: jax.Array


class ConditionallyTransformState(NamedTuple):
    """``conditionally_transform``: the inner state and the number of calls so far."""

    inner_state: Any
    step: jax.Array


class ConditionallyMaskState(NamedTuple):
    """``conditionally_mask``: the number of calls so far and the inner state."""

    step: jax.Array
    inner_state: Any


class WrappedScheduleState(NamedTuple):
    """The state of a schedule injected by ``inject_hyperparams``: its step count."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count


class InjectStatefulHyperparamsState(NamedTuple):
    """``inject_hyperparams`` (as optax 0.2.8 builds it): the call count, the current
    hyperparameters (set ``hyperparams["learning_rate"]`` to change a constant one), each
    schedule's ``WrappedScheduleState``, and the inner state."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    hyperparams: dict[str, Any]
    hyperparams_states: dict[str, Any]
    inner_state: Any


class ApplyIfFiniteState(NamedTuple):
    """``apply_if_finite``: consecutive and total non-finite steps, whether the last one
    was finite, and the inner state."""

    notfinite_count: jax.Array
    last_finite: jax.Array
    total_notfinite: jax.Array
    inner_state: Any


class PartitionState(NamedTuple):
    """``partition`` (``multi_transform``): each label's ``MaskedState``, by label."""

    inner_states: dict[Any, Any]


MultiTransformState = PartitionState


class LookaheadState(NamedTuple):
    """``lookahead``: the fast optimizer's state and the steps since the last sync."""

    fast_state: Any
    steps_since_sync: jax.Array


class LookaheadParams(NamedTuple):
    """The params of ``lookahead``: the fast ones (take gradients there) and the slow
    ones (evaluate with these)."""

    fast: Any
    slow: Any

    @classmethod
    def init_synced(cls, params: Any) -> LookaheadParams:
        """Fast and slow params both equal to ``params``."""
        return cls(fast=params, slow=params)
