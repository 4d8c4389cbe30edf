"""Fan-in / fan-out of dense and convolution kernels, and the initializer protocol.

Kernel layouts follow Flax: a dense kernel is ``(in, out)``; a convolution kernel is
``(spatial..., in, out)``, e.g. ``(kh, kw, in, out)``. With the receptive field
``R = prod(spatial)`` (``R = 1`` for a dense kernel),

    fan_in  = M_{l-1} = in  * R
    fan_out = M_l     = out * R

which is also what ``jax.nn.initializers`` computes with its default
``in_axis=-2, out_axis=-1``. (PyTorch stores conv kernels as ``(out, in, spatial...)``
and reads the fans from those axes; the numbers agree for the same layer.)
"""

import math
from collections.abc import Sequence
from typing import Any, Protocol

import jax


class Initializer(Protocol):
    """``init(key, shape, dtype=jnp.float32) -> Array``: the Flax ``kernel_init`` /
    ``bias_init`` signature. Every factory in [`gradtx.initializers`][] returns one."""

    def __call__(self, key: jax.Array, shape: Sequence[int], dtype: Any = ...) -> jax.Array: ...


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a dense ``(in, out)`` or conv ``(spatial..., in, out)`` kernel.

    ``fan_in = in * prod(spatial)``, ``fan_out = out * prod(spatial)``. Raises
    ``ValueError`` for a shape of rank < 2.
    """
    return fans("compute_fans", shape)


def fans(caller: str, shape: Sequence[int]) -> tuple[int, int]:
    """[`compute_fans`][gradtx.initializers.compute_fans], with errors naming ``caller``."""
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2:
        raise ValueError(
            f"{caller}: shape must have rank >= 2 (dense (in, out) or conv "
            f"(spatial..., in, out)), got shape {shape}"
        )
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field
