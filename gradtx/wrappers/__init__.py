"""Wrappers: transforms that hold other transforms or watch the params.

* parameter groups (``groups.py``): [`masked`][gradtx.wrappers.masked],
  [`partition`][gradtx.wrappers.partition], [`freeze`][gradtx.wrappers.freeze];
* gradient accumulation over micro-batches (``accumulate.py``):
  [`accumulate_gradients`][gradtx.wrappers.accumulate_gradients];
* NaN/Inf-safe steps (``finite.py``): [`apply_if_finite`][gradtx.wrappers.apply_if_finite];
* averaged params (``averaging.py``): [`param_ema`][gradtx.wrappers.param_ema],
  [`polyak_average`][gradtx.wrappers.polyak_average], [`lookahead`][gradtx.wrappers.lookahead];
* optax's other wrappers (``optax_extras.py``): [`MultiSteps`][gradtx.wrappers.MultiSteps],
  [`apply_every`][gradtx.wrappers.apply_every],
  [`inject_hyperparams`][gradtx.wrappers.inject_hyperparams], … .

Every name is also exported at the top level (``gradtx.masked`` is ``gradtx.wrappers.masked``).

Mask polarity
-------------
One convention everywhere: ``True`` in a mask means **this leaf is selected**
— the wrapper acts on it. ``masked(inner, mask)`` applies ``inner`` where the
mask is ``True`` and passes the other leaves through unchanged;
``freeze(mask)`` freezes (zeroes the updates of) the leaves where the mask is
``True``; ``add_decayed_weights(mask=...)`` decays where it is ``True``.

A mask is a tree of Python bools with the structure of the params, or a prefix
of it (a bool then selects a whole subtree, for example a whole layer or an
``nnx.Param``), or a function of the params returning one. Functions are
called on the params, or on the updates when ``update`` gets no params, so
they should depend only on tree paths, shapes and dtypes. A function is a
callable that is a pytree leaf; a callable pytree with children (an
equinox-style module holding bools) is read as a tree, not called. A mask that
is not a prefix of the params raises ``ValueError`` naming the first path where
they differ. ``partition`` takes labels in the same forms.

Steps
-----
A wrapper passes its chain's step (see ``gradtx.core.base``) to the
transforms it holds, except where it changes how often they run:
``accumulate_gradients`` and ``apply_if_finite`` hold the inner transform's
own step counter — the number of updates it has emitted — so schedules and
bias corrections inside them advance once per real update. These counters are
int32 and saturate at 2³¹ − 1, like the chain's.

Edges
-----
* A fresh state (``init``) shares no device buffer with the params or with
  itself, so ``jax.jit(update, donate_argnums=...)`` may donate it.
* Leaves whose gradient is not floating (int, bool, or float0 from
  ``jax.grad(..., allow_int=True)``) are not trained: the wrappers pass their
  updates through and leave their state alone.
* An empty model (``init(None)``, ``update(None, state, None)``) gives
  ``None`` updates; wrappers that need the params ask for them only when the
  updates have leaves.
"""

# ruff: noqa: I001  (imports are grouped by concept, not alphabetically)

# Parameter groups.
from gradtx.wrappers.groups import (
    MaskedNode,
    MaskedState,
    PartitionState,
    freeze,
    is_spec_function,
    masked,
    partition,
)

# Gradient accumulation.
from gradtx.wrappers.accumulate import AccumulateState, accumulate_gradients

# NaN/Inf-safe steps.
from gradtx.wrappers.finite import ApplyIfFiniteState, apply_if_finite

# Averaged params.
from gradtx.wrappers.averaging import (
    LookaheadState,
    ParamAverageState,
    lookahead,
    param_ema,
    polyak_average,
)

# optax's other wrappers.
from gradtx.wrappers.optax_extras import (
    ApplyEvery,
    ConditionallyMaskState,
    ConditionallyTransformState,
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

__all__ = [
    # parameter groups
    "masked",
    "partition",
    "freeze",
    "is_spec_function",
    "MaskedNode",
    "MaskedState",
    "PartitionState",
    # gradient accumulation
    "accumulate_gradients",
    "AccumulateState",
    # NaN/Inf-safe steps
    "apply_if_finite",
    "ApplyIfFiniteState",
    # averaged params
    "param_ema",
    "polyak_average",
    "lookahead",
    "ParamAverageState",
    "LookaheadState",
    # optax's other wrappers
    "MultiSteps",
    "MultiStepsState",
    "apply_every",
    "ApplyEvery",
    "conditionally_mask",
    "ConditionallyMaskState",
    "conditionally_transform",
    "ConditionallyTransformState",
    "incremental_update",
    "periodic_update",
    "inject_hyperparams",
    "InjectHyperparamsState",
    "skip_not_finite",
    "skip_large_updates",
]
