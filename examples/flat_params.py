"""The flat fast path with a Flax NNX model: the nnx.Param state held as flat buffers.

The recipe (docs/flat.md): split the model, ``gradtx.flat.ravel`` its ``nnx.Param``
state once, and merge ``flat.unravel()`` back inside the loss; the gradient is then a
``FlatParams`` of the same layout and the optimizer runs once per buffer. The rest of
the model's state (here BatchNorm's statistics) is untouched.

    python examples/flat_params.py

Trains the same CNN-free MLP on scikit-learn's bundled digits twice, with tree params
and with flat params, from the same initialization; prints both test accuracies, the
largest difference between the final params, the number of arrays the optimizer state
holds in each path, and writes flat_params.png (both loss curves) and flat_params.json.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from _cli import parser
from flax import nnx

import gradtx
from gradtx.experiments import load_digits


class Classifier(nnx.Module):
    def __init__(self, width: int, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(64, width, use_bias=False, rngs=rngs)
        self.norm = nnx.BatchNorm(width, rngs=rngs)
        self.out = nnx.Linear(width, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(nnx.relu(self.norm(self.hidden(x))))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))


def train(flat: bool, steps: int, width: int, seed: int, batches: list[np.ndarray], data):
    """Trains from the seed's initialization; returns (losses, test accuracy, params, #arrays)."""
    graphdef, params, rest = nnx.split(Classifier(width, nnx.Rngs(seed)), nnx.Param, ...)
    tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(3e-3, weight_decay=1e-4))
    trained = gradtx.flat.ravel(params) if flat else params
    opt_state = tx.init(trained)

    @jax.jit
    def step(trained, rest, opt_state, x, y):
        def loss_fn(trained):
            tree = trained.unravel() if flat else trained
            model = nnx.merge(graphdef, tree, rest, copy=True)
            return cross_entropy(model(x), y), nnx.state(model, nnx.BatchStat)

        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(trained)
        updates, opt_state = tx.update(grads, opt_state, trained)
        return gradtx.apply_updates(trained, updates), stats, opt_state, loss

    losses = []
    for batch in batches[:steps]:
        trained, stats, opt_state, loss = step(trained, rest, opt_state, data.x_train[batch],
                                               data.y_train[batch])
        rest = nnx.merge_state(rest, stats)
        losses.append(float(loss))
    tree = trained.unravel() if flat else trained
    model = nnx.merge(graphdef, tree, rest)
    model.eval()
    accuracy = float(jnp.mean(model(data.x_test).argmax(-1) == data.y_test))
    return losses, accuracy, tree, len(jax.tree.leaves(opt_state))


def main(argv: list[str] | None = None) -> None:
    p = parser("flat_params", __doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300, help="training steps")
    p.add_argument("--width", type=int, default=64, help="hidden width")
    p.add_argument("--batch-size", type=int, default=64, help="examples per step")
    args = p.parse_args(argv)
    steps, width = (20, 16) if args.smoke else (args.steps, args.width)

    data = load_digits()
    rng = np.random.default_rng(args.seed)
    batches = [rng.choice(len(data.x_train), args.batch_size, replace=False)
               for _ in range(steps)]
    runs = {name: train(name == "flat", steps, width, args.seed, batches, data)
            for name in ("tree", "flat")}
    diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(
        jax.tree.leaves(runs["flat"][2]), jax.tree.leaves(runs["tree"][2]), strict=True))
    for name, (losses, accuracy, _, arrays) in runs.items():
        print(f"{name:>4} params: final loss {np.mean(losses[-5:]):.4f}, test accuracy "
              f"{accuracy:.4f}, optimizer state of {arrays} arrays")
    print(f"largest difference between the final params: {diff:.2e}")

    args.out_dir.mkdir(parents=True, exist_ok=True)
    figure, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    for (name, (losses, *_)), style in zip(runs.items(), ("-", "--"), strict=True):
        ax.plot(losses, style, label=f"{name} params")
    ax.set(xlabel="step", ylabel="training loss", yscale="log",
           title="the same training, tree and flat params")
    ax.legend()
    figure.savefig(args.out_dir / "flat_params.png", dpi=110)
    (args.out_dir / "flat_params.json").write_text(json.dumps({
        name: {"losses": losses, "test_accuracy": accuracy, "state_arrays": arrays}
        for name, (losses, accuracy, _, arrays) in runs.items()
    } | {"max_param_difference": diff}, indent=1))
    print(f"wrote {args.out_dir / 'flat_params.png'} and flat_params.json")


if __name__ == "__main__":
    main()
