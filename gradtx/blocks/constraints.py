"""Weight decay and clipping.

``add_decayed_weights`` placed **before** a preconditioner is L2
regularization (g ← g + λθ, the lecture's "SGD + L2"); placed **after** it,
just before the learning rate, it is decoupled weight decay (AdamW).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core.base import GradientTransformation, expect_params
from gradtx.core.block import block
from gradtx.core.hyperparams import HyperParams
from gradtx.core.lift import leaf_structs, per_array
from gradtx.core.subsets import element_mask
from gradtx.core.tree import check_same_structure, tree_global_norm
from gradtx.core.validate import NONNEGATIVE, POSITIVE
from gradtx.flat._params import FlatParams

__all__ = [
    "AddDecayedWeightsState",
    "ClipState",
    "add_decayed_weights",
    "clip",
    "clip_by_global_norm",
    "resolve_mask",
]

Mask = Any  # a tree of bools shaped like the params, or a function params -> such a tree


def resolve_mask(mask: Mask, params: Any, owner: str) -> Any:
    """The mask as a tree of bools, checked against ``params`` (path named on mismatch).

    ``mask`` is called on ``params`` when it is a function: callable **and** a
    pytree leaf. A callable pytree with children (an equinox-style module of
    bools) is read as the mask tree itself, not called.
    """
    from jax.tree_util import tree_structure, treedef_is_leaf

    if isinstance(params, FlatParams):  # a mask of the original tree, one bool per leaf
        tree = resolve_mask(mask, leaf_structs(params), owner)
        return element_mask(params.layout, jax.tree.leaves(tree))
    is_function = callable(mask) and treedef_is_leaf(tree_structure(mask))
    tree = mask(params) if is_function else mask
    check_same_structure(
        params, tree, what=f"{owner}: mask", expected_name="params", check_shapes=False
    )
    return tree


class AddDecayedWeightsState(NamedTuple):
    """The state of ``add_decayed_weights``."""

    hyperparams: dict[str, Any]


def add_decayed_weights(
    weight_decay: float | Callable[[Any], Any] = 0.0, mask: Mask | None = None
) -> GradientTransformation:
    """u ← u + λ θ (on the leaves selected by ``mask``).

    Args:
      weight_decay: λ ≥ 0, or a schedule.
      mask: ``True`` where decay applies; a tree of bools like the params or a
        function of the params returning one. ``None`` decays every leaf.
    """
    owner = "add_decayed_weights"
    hyper = HyperParams(owner, weight_decay=(weight_decay, NONNEGATIVE))

    def init(params, hyperparams):
        if mask is not None:
            resolve_mask(mask, params, owner)
        return AddDecayedWeightsState(hyperparams)

    def update(updates, state, params, h, step, **extra):
        expect_params(owner, params, updates)
        if not jax.tree.leaves(updates):
            return updates, state
        lam = h["weight_decay"]
        if mask is None:
            (updates,) = per_array(lambda u, p: (u + lam * p,), updates, shared=(params,),
                                   what=owner)
        else:
            m = resolve_mask(mask, params, owner)
            (updates,) = per_array(
                lambda u, p, on: (jnp.where(on, u + lam * p, u),),
                updates,
                shared=(params, m),
                what=owner,
            )
        return updates, state

    return block(owner, AddDecayedWeightsState, hyper, init, update)


class ClipState(NamedTuple):
    """The state of the clipping transforms."""

    hyperparams: dict[str, Any]


def clip(max_abs: float) -> GradientTransformation:
    """Clipping by value: u ← min(max(u, −c), c) elementwise.

    A complex entry is clipped as its real pair: Re u and Im u each to [−c, c].
    """
    owner = "clip"
    hyper = HyperParams(owner, max_abs=(max_abs, NONNEGATIVE))

    def init(params, hyperparams):
        del params
        return ClipState(hyperparams)

    def update(updates, state, params, h, step, **extra):
        c = h["max_abs"]
        def rule(u):
            if jnp.iscomplexobj(u):
                return (jax.lax.complex(jnp.clip(u.real, -c, c), jnp.clip(u.imag, -c, c)),)
            return (jnp.clip(u, -c, c),)

        (updates,) = per_array(rule, updates, what=owner)
        return updates, state

    return block(owner, ClipState, hyper, init, update)


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Clipping by global norm: u ← u · min(1, c / ‖u‖), ‖u‖ over all leaves.

    Written as one multiplication by a scalar, so XLA fuses it into the
    optimizer's elementwise pass instead of a separate select over memory.
    """
    owner = "clip_by_global_norm"
    hyper = HyperParams(owner, max_norm=(max_norm, POSITIVE))

    def init(params, hyperparams):
        del params
        return ClipState(hyperparams)

    def update(updates, state, params, h, step, **extra):
        norm = tree_global_norm(updates)
        factor = jnp.minimum(1, h["max_norm"] / norm)
        (updates,) = per_array(lambda u: (u * factor,), updates, what=owner)
        return updates, state

    return block(owner, ClipState, hyper, init, update)


