"""The lecture's optimizer comparison: SGD, momentum, Nesterov, AdaGrad, RMSProp, AdaDelta
and Adam training the same MLP from the same initialization on the same batches
(learning rate 0.001, batch size 128).

    python examples/compare_optimizers.py                          # digits, bundled
    python examples/compare_optimizers.py --dataset fashion-mnist  # Debian: dataset-fashion-mnist
    python examples/compare_optimizers.py --dataset mnist --data-dir ~/mnist

Writes comparison.png (loss by iteration and by epoch), comparison.json (every
number) and comparison.csv (the loss of every step), and prints the final loss and
test accuracy of each optimizer.
"""

from __future__ import annotations

import csv

from _cli import add_dataset_options, load, out_dir, parser, save_json
from _models import MLP, functional
from flax import nnx
from tqdm import tqdm

import gradtx
from gradtx import experiments

DEFAULT_EPOCHS = {"digits": 30, "fashion-mnist": 5, "mnist": 5}


def optimizers(
    lr: float, momentum: float, adadelta_lr: float
) -> dict[str, gradtx.GradientTransformation]:
    """The lecture's seven optimizers, in its order."""
    return {
        "SGD": gradtx.sgd(lr),
        "Momentum": gradtx.sgd(lr, momentum=momentum),
        "Nesterov": gradtx.sgd(lr, momentum=momentum, nesterov=True),
        "AdaGrad": gradtx.adagrad(lr),
        "RMSProp": gradtx.rmsprop(lr),
        "AdaDelta": gradtx.adadelta(adadelta_lr),
        "Adam": gradtx.adam(lr),
    }


def main(argv: list[str] | None = None) -> None:
    p = parser("compare_optimizers", __doc__.split("\n\n")[0])
    add_dataset_options(p)
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per optimizer (default: 30 on digits, 5 on the MNIST sets)")
    p.add_argument("--batch-size", type=int, default=128, help="examples per minibatch")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate of every optimizer")
    p.add_argument("--momentum", type=float, default=0.9, help="ρ of momentum and Nesterov")
    p.add_argument("--adadelta-lr", type=float, default=1.0,
                   help="AdaDelta's α: 1 is Zeiler's method, which has no learning rate")
    p.add_argument("--width", type=int, default=256, help="units per hidden layer")
    p.add_argument("--depth", type=int, default=2, help="hidden layers")
    args = p.parse_args(argv)
    epochs = args.epochs or DEFAULT_EPOCHS[args.dataset]
    width, depth = args.width, args.depth
    if args.smoke:
        epochs, width, depth = 2, 16, 1

    ds = load(args)
    model = MLP(ds.x_train.shape[1], width, depth, ds.num_classes, rngs=nnx.Rngs(args.seed))
    params, loss_fn, eval_fn = functional(model)
    txs = optimizers(args.lr, args.momentum, args.adadelta_lr)
    print(f"{ds.name}: {len(ds.x_train)} training and {len(ds.x_test)} test images; "
          f"MLP {depth}x{width}; batch {args.batch_size}, lr {args.lr}, {epochs} epochs")

    with tqdm(total=len(txs) * epochs, unit="epoch") as bar:
        def progress(name: str, epoch: int, loss: float) -> None:
            bar.set_postfix_str(f"{name} epoch {epoch} loss {loss:.4f}")
            bar.update()

        result = experiments.compare_optimizers(
            loss_fn, params, txs, (ds.x_train, ds.y_train),
            batch_size=args.batch_size, epochs=epochs, seed=args.seed,
            eval_fn=eval_fn, eval_data=(ds.x_test, ds.y_test), callback=progress,
        )

    folder = out_dir(args)
    figure = result.plot(smoothing=0.6)
    figure.suptitle(f"{ds.name}: lr {args.lr}, batch {args.batch_size}")
    figure.savefig(folder / "comparison.png", dpi=120)
    config = {"dataset": ds.name, "epochs": epochs, "batch_size": args.batch_size,
              "lr": args.lr, "momentum": args.momentum, "adadelta_lr": args.adadelta_lr,
              "width": width, "depth": depth, "seed": args.seed}
    save_json(folder / "comparison.json", {"config": config, "runs": result.to_dict()})
    with open(folder / "comparison.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", *result.runs])
        columns = [run.losses for run in result.runs.values()]
        for step, losses in enumerate(zip(*columns, strict=True)):
            writer.writerow([step, *(f"{v:.6g}" for v in losses)])
    print(result.table())
    print(f"wrote {folder / 'comparison.png'}, comparison.json and comparison.csv")


if __name__ == "__main__":
    main()
