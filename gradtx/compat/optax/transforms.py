"""optax 0.2.8's ``optax.transforms``: the transforms, combinators and wrappers it gathers,
the same objects as the top-level names of
[`gradtx.compat.optax`][gradtx.compat.optax] (``optax.transforms.masked`` is
``optax.masked``), so ``from optax.transforms import ...`` runs after switching the import.
Not provided: ``ConditionFn``, ``unitwise_clip`` and ``unitwise_norm`` (docs/migrating.md).
"""

# ruff: noqa: F401  (re-exports)

from gradtx.compat.optax._layout import chain, named_chain
from gradtx.compat.optax._monitoring import (
    MonitorState,
    SnapshotState,
    measure_with_ema,
    monitor,
    snapshot,
)
from gradtx.compat.optax._per_example import (
    per_example_global_norm_clip,
    per_example_layer_norm_clip,
)
from gradtx.compat.optax._states import (
    AddNoiseState,
    ApplyIfFiniteState,
    ConditionallyMaskState,
    ConditionallyTransformState,
    EmaState,
    MaskedState,
    MultiStepsState,
    NonNegativeParamsState,
    PartitionState,
    TraceState,
    ZeroNansState,
)
from gradtx.compat.optax._transforms import (
    adaptive_grad_clip,
    add_decayed_weights,
    add_noise,
    clip,
    clip_by_block_rms,
    clip_by_global_norm,
    ema,
    keep_params_nonnegative,
    trace,
    zero_nans,
)
from gradtx.compat.optax._types import ShouldSkipUpdateFunction
from gradtx.compat.optax._wrappers import (
    MultiSteps,
    apply_if_finite,
    conditionally_mask,
    conditionally_transform,
    flatten,
    freeze,
    masked,
    partition,
    selective_transform,
)
from gradtx.wrappers.groups import MaskedNode
from gradtx.wrappers.optax_extras import skip_large_updates, skip_not_finite

__all__ = [
    "AddNoiseState",
    "ApplyIfFiniteState",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "EmaState",
    "MaskedNode",
    "MaskedState",
    "MonitorState",
    "MultiSteps",
    "MultiStepsState",
    "NonNegativeParamsState",
    "PartitionState",
    "ShouldSkipUpdateFunction",
    "SnapshotState",
    "TraceState",
    "ZeroNansState",
    "adaptive_grad_clip",
    "add_decayed_weights",
    "add_noise",
    "apply_if_finite",
    "chain",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "conditionally_mask",
    "conditionally_transform",
    "ema",
    "flatten",
    "freeze",
    "keep_params_nonnegative",
    "masked",
    "measure_with_ema",
    "monitor",
    "named_chain",
    "partition",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
    "selective_transform",
    "skip_large_updates",
    "skip_not_finite",
    "snapshot",
    "trace",
    "zero_nans",
]
