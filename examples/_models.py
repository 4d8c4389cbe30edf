"""A Flax NNX classifier in the functional form that :mod:`gradtx.experiments` takes."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx


class MLP(nnx.Module):
    """Fully connected classifier: ``depth`` hidden ReLU layers of ``width`` units."""

    def __init__(self, features: int, width: int, depth: int, classes: int, *, rngs: nnx.Rngs):
        sizes = [features] + [width] * depth
        self.hidden = nnx.List(
            [nnx.Linear(m, n, rngs=rngs) for m, n in zip(sizes[:-1], sizes[1:], strict=True)]
        )
        self.out = nnx.Linear(sizes[-1], classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.hidden:
            x = jax.nn.relu(layer(x))
        return self.out(x)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of integer ``labels``."""
    log_p = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def functional(model: nnx.Module) -> tuple[Any, Any, Any]:
    """``(params, loss_fn, eval_fn)`` for a classifier: ``params`` a plain dict of arrays,
    ``loss_fn(params, (x, y))`` the mean cross-entropy, ``eval_fn(params, (x, y))`` the
    loss and the accuracy."""
    graphdef, state = nnx.split(model, nnx.Param)

    def logits(params, x):
        return nnx.merge(graphdef, params)(x)

    def loss_fn(params, batch):
        x, y = batch
        return cross_entropy(logits(params, x), y)

    def eval_fn(params, batch):
        x, y = batch
        z = logits(params, x)
        return {"test_loss": cross_entropy(z, y), "test_accuracy": jnp.mean(z.argmax(-1) == y)}

    return nnx.to_pure_dict(state), loss_fn, eval_fn
