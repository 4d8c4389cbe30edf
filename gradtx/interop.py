"""Interoperability with Optax.

``gradtx.chain`` accepts optax transforms as parts. In the other direction,
``optax.chain`` forwards extra keyword arguments (such as ``value=loss``) only
to parts of its own ``GradientTransformationExtraArgs`` type and silently drops
them for any other; [`as_optax`][gradtx.as_optax] gives a gradtx transform that type, so its
extra arguments arrive.
"""

from __future__ import annotations

from typing import Any

from gradtx._optional import optional_import
from gradtx.core.base import GradientTransformation

__all__ = ["as_optax"]


def as_optax(tx: GradientTransformation) -> Any:
    """``tx`` as an ``optax.GradientTransformationExtraArgs`` (needs optax installed).

    >>> optax.chain(optax.clip(1.0), gradtx.as_optax(gradtx.reduce_on_plateau()))
    """
    with optional_import("optax", "as_optax"):
        import optax
    return optax.GradientTransformationExtraArgs(tx.init, tx.update)
