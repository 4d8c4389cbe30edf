"""The effect of the batch size: the same MLP, optimizer and learning rate, trained with
several batch sizes; loss by iteration and by epoch (the lecture's two panels).

Small batches take many noisy steps per epoch; large ones few, smooth steps. Per
iteration, larger batches lower the loss faster; per epoch (per example seen),
smaller ones do.

    python examples/batch_size.py
    python examples/batch_size.py --batch-sizes 4 32 256 --optimizer adam --lr 1e-3

Writes batch_size.png and batch_size.json.
"""

from __future__ import annotations

from _cli import add_dataset_options, load, out_dir, parser, save_json
from _models import MLP, functional
from flax import nnx
from tqdm import tqdm

import gradtx
from gradtx import experiments

OPTIMIZERS = {
    "sgd": lambda lr: gradtx.sgd(lr),
    "momentum": lambda lr: gradtx.sgd(lr, momentum=0.9),
    "adam": lambda lr: gradtx.adam(lr),
}


def main(argv: list[str] | None = None) -> None:
    p = parser("batch_size", __doc__.split("\n\n")[0])
    add_dataset_options(p)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 16, 64, 256],
                   help="the batch sizes compared, one training run each")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="sgd",
                   help="the optimizer of every run (momentum: SGD with ρ = 0.9)")
    p.add_argument("--lr", type=float, default=0.05, help="the same for every batch size")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training set per run")
    p.add_argument("--width", type=int, default=256, help="units of each of the 2 hidden layers")
    args = p.parse_args(argv)
    batch_sizes, epochs, width = args.batch_sizes, args.epochs, args.width
    if args.smoke:
        batch_sizes, epochs, width = [256, 512], 3, 16

    ds = load(args)
    model = MLP(ds.x_train.shape[1], width, 2, ds.num_classes, rngs=nnx.Rngs(args.seed))
    params, loss_fn, eval_fn = functional(model)
    print(f"{ds.name}: {args.optimizer}, lr {args.lr}, {epochs} epochs, "
          f"batch sizes {batch_sizes}")

    runs = {}
    with tqdm(total=len(batch_sizes) * epochs, unit="epoch") as bar:
        def progress(name: str, epoch: int, loss: float) -> None:
            bar.set_postfix_str(f"{name} epoch {epoch} loss {loss:.4f}")
            bar.update()

        for batch_size in batch_sizes:
            name = f"batch {batch_size}"
            runs[name] = experiments.train(
                loss_fn, params, OPTIMIZERS[args.optimizer](args.lr), (ds.x_train, ds.y_train),
                batch_size=batch_size, epochs=epochs, seed=args.seed,
                eval_fn=eval_fn, eval_data=(ds.x_test, ds.y_test), name=name, callback=progress,
            )
    result = experiments.Comparison(runs)

    folder = out_dir(args)
    figure = result.plot(smoothing=0.95)
    by_iteration, _ = figure.axes
    by_iteration.set_xscale("log")
    figure.suptitle(f"{ds.name}: {args.optimizer}, lr {args.lr}")
    figure.savefig(folder / "batch_size.png", dpi=120)
    config = {"dataset": ds.name, "optimizer": args.optimizer, "lr": args.lr, "epochs": epochs,
              "batch_sizes": batch_sizes, "width": width, "seed": args.seed}
    save_json(folder / "batch_size.json", {"config": config, "runs": result.to_dict()})
    print(result.table())
    print(f"wrote {folder / 'batch_size.png'} and batch_size.json")


if __name__ == "__main__":
    main()
