"""Quickstart: a gradtx optimizer training a Flax NNX model (the README's quickstart).

The optimizer is a chain of building blocks: clip the gradient's global norm, then
AdamW with a warmup-cosine learning rate; ``flax.nnx.Optimizer`` takes it as it takes
an optax one.

    python examples/quickstart_nnx.py

Trains a small MLP on scikit-learn's bundled digits, prints the test accuracy and
writes quickstart.png (the loss and the learning rate by step) and quickstart.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402
from tqdm import tqdm  # noqa: E402

import gradtx  # noqa: E402
from gradtx import schedules  # noqa: E402
from gradtx.experiments import load_digits  # noqa: E402


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))


@nnx.jit
def train_step(model: nnx.Module, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array):
    loss, grads = nnx.value_and_grad(lambda m: cross_entropy(m(x), y))(model)
    optimizer.update(model, grads, value=loss)
    return loss


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="quickstart_nnx.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out-dir", type=Path, default=Path("outputs/quickstart_nnx"),
                   help="folder for the PNG plot and the JSON numbers")
    p.add_argument("--steps", type=int, default=200, help="training steps")
    p.add_argument("--batch-size", type=int, default=64, help="examples per step")
    p.add_argument("--seed", type=int, default=0, help="random seed (initialization, batches)")
    p.add_argument("--smoke", action="store_true", help="a few steps, to check that it runs")
    args = p.parse_args(argv)
    steps = 20 if args.smoke else args.steps

    data = load_digits()
    model = nnx.Sequential(nnx.Linear(64, 32, rngs=nnx.Rngs(args.seed)), nnx.relu,
                           nnx.Linear(32, 10, rngs=nnx.Rngs(args.seed + 1)))
    tx = gradtx.chain(gradtx.clip_by_global_norm(1.0),
                      gradtx.adamw(schedules.warmup_cosine(1e-2, steps // 20, steps)))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    rng = np.random.default_rng(args.seed)
    losses, rates = [], []
    for _ in tqdm(range(steps), unit="step"):
        batch = rng.choice(len(data.x_train), args.batch_size, replace=False)
        loss = train_step(model, optimizer, data.x_train[batch], data.y_train[batch])
        losses.append(float(loss))
        rates.append(float(gradtx.get_hyperparams(optimizer.opt_state)["learning_rate"]))

    accuracy = float(jnp.mean(model(data.x_test).argmax(-1) == data.y_test))
    print(f"after {steps} steps: training loss {np.mean(losses[-10:]):.4f}, "
          f"test accuracy {accuracy:.4f}")

    args.out_dir.mkdir(parents=True, exist_ok=True)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
    left.plot(losses)
    left.set(xlabel="step", ylabel="training loss", yscale="log", title="loss")
    right.plot(rates)
    right.set(xlabel="step", ylabel=r"$\alpha_t$", title="learning rate (warmup, cosine)")
    figure.savefig(args.out_dir / "quickstart.png", dpi=110)
    (args.out_dir / "quickstart.json").write_text(json.dumps(
        {"losses": losses, "learning_rates": rates, "test_accuracy": accuracy}, indent=1))
    print(f"wrote {args.out_dir / 'quickstart.png'} and quickstart.json")


if __name__ == "__main__":
    main()
