"""Loss landscapes with and without skip connections (Li et al. 2018): train the same
deep residual MLP twice, once with its identity shortcuts and once without, then
draw the loss on a 2-D slice through each trained network along filter-normalized
random directions.

    python examples/loss_landscape.py
    python examples/loss_landscape.py --blocks 20 --resolution 41

Writes loss_landscape.png (contours, and surfaces below them) and loss_landscape.json
(the training losses and the grid of losses of both networks).
"""

from __future__ import annotations

import jax
import matplotlib.pyplot as plt
from _cli import add_dataset_options, load, out_dir, parser, save_json
from _models import functional
from flax import nnx
from tqdm import tqdm

import gradtx
from gradtx import experiments


class Block(nnx.Module):
    """x ↦ Linear(relu(LayerNorm(Linear(x)))): the residual branch."""

    def __init__(self, width: int, *, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(width, width, rngs=rngs)
        self.norm = nnx.LayerNorm(width, rngs=rngs)
        self.linear2 = nnx.Linear(width, width, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear2(jax.nn.relu(self.norm(self.linear1(x))))


class ResidualMLP(nnx.Module):
    """``blocks`` blocks of two layers; h ← relu(h + block(h)) with skip connections,
    h ← relu(block(h)) without."""

    def __init__(self, features: int, width: int, blocks: int, classes: int, skip: bool,
                 *, rngs: nnx.Rngs):
        self.inp = nnx.Linear(features, width, rngs=rngs)
        self.blocks = nnx.List([Block(width, rngs=rngs) for _ in range(blocks)])
        self.out = nnx.Linear(width, classes, rngs=rngs)
        self.skip = skip

    def __call__(self, x: jax.Array) -> jax.Array:
        h = jax.nn.relu(self.inp(x))
        for block in self.blocks:
            h = jax.nn.relu(h + block(h) if self.skip else block(h))
        return self.out(h)


def main(argv: list[str] | None = None) -> None:
    p = parser("loss_landscape", __doc__.split("\n\n")[0])
    add_dataset_options(p)
    p.add_argument("--blocks", type=int, default=10, help="residual blocks (2 layers each)")
    p.add_argument("--width", type=int, default=32, help="units per layer")
    p.add_argument("--epochs", type=int, default=20, help="training epochs of each network")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--resolution", type=int, default=31, help="grid points per axis")
    p.add_argument("--span", type=float, default=1.0, help="the grid covers [-span, span]²")
    p.add_argument("--examples", type=int, default=1024,
                   help="training examples the landscape is evaluated on")
    args = p.parse_args(argv)
    blocks, width, epochs, resolution = args.blocks, args.width, args.epochs, args.resolution
    if args.smoke:
        blocks, width, epochs, resolution = 1, 8, 3, 5

    ds = load(args)
    train_data = (ds.x_train, ds.y_train)
    landscape_data = (ds.x_train[: args.examples], ds.y_train[: args.examples])
    print(f"{ds.name}: {blocks} blocks of width {width}, Adam {args.lr}, {epochs} epochs, "
          f"{resolution}x{resolution} grid")

    variants = {"with skip connections": True, "without skip connections": False}
    results, landscapes = {}, {}
    with tqdm(total=len(variants) * (epochs + 1), unit="epoch") as bar:
        def progress(name: str, epoch: int, loss: float) -> None:
            bar.set_postfix_str(f"{name}: epoch {epoch} loss {loss:.4f}")
            bar.update()

        for name, skip in variants.items():
            model = ResidualMLP(ds.x_train.shape[1], width, blocks, ds.num_classes, skip,
                                rngs=nnx.Rngs(args.seed))
            params, loss_fn, eval_fn = functional(model)
            run = experiments.train(
                loss_fn, params, gradtx.adam(args.lr), train_data, batch_size=128,
                epochs=epochs, seed=args.seed, eval_fn=eval_fn,
                eval_data=(ds.x_test, ds.y_test), name=name, callback=progress,
            )
            bar.set_postfix_str(f"{name}: landscape")
            landscape = experiments.loss_landscape(
                loss_fn, run.params, landscape_data, key=jax.random.key(args.seed + 1),
                resolution=resolution, span=args.span,
            )
            bar.update()
            landscapes[name] = landscape
            results[name] = {"training": run.to_dict(), "landscape": landscape.to_dict()}

    figure = plt.figure(figsize=(10, 9.5), layout="constrained")
    for column, (name, landscape) in enumerate(landscapes.items()):
        contour = landscape.plot(figure.add_subplot(2, 2, column + 1))
        contour.set_title(name)
        landscape.plot(figure.add_subplot(2, 2, column + 3, projection="3d"), kind="surface")
    figure.suptitle(f"{ds.name}: a {2 * blocks + 2}-layer MLP, filter-normalized directions")
    folder = out_dir(args)
    figure.savefig(folder / "loss_landscape.png", dpi=110)
    config = {"dataset": ds.name, "blocks": blocks, "width": width, "epochs": epochs,
              "lr": args.lr, "resolution": resolution, "span": args.span,
              "examples": len(landscape_data[0]), "seed": args.seed}
    save_json(folder / "loss_landscape.json", {"config": config, "runs": results})
    for name, r in results.items():
        grid = landscapes[name].losses
        print(f"{name:<25} final training loss {r['training']['epoch_losses'][-1]:.4f}, "
              f"test accuracy {r['training']['metrics']['test_accuracy'][-1]:.4f}, "
              f"landscape min {grid.min():.3g} max {grid.max():.3g}")
    print(f"wrote {folder / 'loss_landscape.png'} and loss_landscape.json")


if __name__ == "__main__":
    main()
