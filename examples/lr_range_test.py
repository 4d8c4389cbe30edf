"""Smith's learning-rate range test: train an MLP for a few hundred steps while the learning
rate grows exponentially, from far too small to far too large, and read a good rate off
the loss curve.

    python examples/lr_range_test.py                          # momentum on the digits, bundled
    python examples/lr_range_test.py --optimizer adam --min-lr 1e-5 --max-lr 1
    python examples/lr_range_test.py --dataset fashion-mnist  # Debian: dataset-fashion-mnist

Step k trains at α_k = α_min (α_max / α_min)^(k / (n − 1)). The loss stays flat while α
is too small to move the weights, falls once α is large enough, and blows up once α
is too large; the suggested rate is where the smoothed loss falls fastest
(gradtx.experiments.suggest_learning_rate states the rule). Writes lr_range_test.png
(loss against α on a log axis, the suggestion marked) and lr_range_test.json.
"""

from __future__ import annotations

from _cli import add_dataset_options, load, out_dir, parser, save_json
from _models import MLP, functional
from flax import nnx

import gradtx
from gradtx import experiments

OPTIMIZERS = {
    "sgd": lambda lr: gradtx.sgd(lr),
    "momentum": lambda lr: gradtx.sgd(lr, momentum=0.9),
    "adam": lambda lr: gradtx.adam(lr),
}


def main(argv: list[str] | None = None) -> None:
    p = parser("lr_range_test", __doc__.split("\n\n")[0])
    add_dataset_options(p)
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="momentum",
                   help="the optimizer whose learning rate is swept (momentum: SGD with ρ = 0.9)")
    p.add_argument("--min-lr", type=float, default=1e-5, help="α_min, the rate of the first step")
    p.add_argument("--max-lr", type=float, default=10.0, help="α_max, the rate of the last step")
    p.add_argument("--steps", type=int, default=200, help="n, the number of steps (one rate each)")
    p.add_argument("--batch-size", type=int, default=32, help="examples per minibatch")
    p.add_argument("--smoothing", type=float, default=0.9,
                   help="β of the debiased moving average the suggestion reads")
    p.add_argument("--method", choices=["steepest", "minimum"], default="steepest",
                   help="steepest: where the smoothed loss falls fastest; minimum: a decade "
                        "below the smoothed minimum")
    p.add_argument("--width", type=int, default=64, help="units per hidden layer")
    p.add_argument("--depth", type=int, default=2, help="hidden layers")
    args = p.parse_args(argv)
    steps, width, depth = args.steps, args.width, args.depth
    if args.smoke:
        steps, width, depth = 40, 16, 1

    ds = load(args)
    model = MLP(ds.x_train.shape[1], width, depth, ds.num_classes, rngs=nnx.Rngs(args.seed))
    params, loss_fn, _ = functional(model)
    print(f"{ds.name}: MLP {depth}x{width}, {args.optimizer}, batch {args.batch_size}, "
          f"α from {args.min_lr:g} to {args.max_lr:g} in {steps} steps")
    result = experiments.lr_range_test(
        loss_fn, params, OPTIMIZERS[args.optimizer], (ds.x_train, ds.y_train),
        min_lr=args.min_lr, max_lr=args.max_lr, num_steps=steps, batch_size=args.batch_size,
        seed=args.seed, smoothing=args.smoothing, method=args.method,
    )

    folder = out_dir(args)
    ax = result.plot()
    ax.set_title(f"{ds.name}: {args.optimizer}, batch {args.batch_size}, {steps} steps")
    ax.figure.savefig(folder / "lr_range_test.png", dpi=120)
    config = {"dataset": ds.name, "optimizer": args.optimizer, "min_lr": args.min_lr,
              "max_lr": args.max_lr, "steps": steps, "batch_size": args.batch_size,
              "smoothing": args.smoothing, "width": width, "depth": depth,
              "seed": args.seed}
    save_json(folder / "lr_range_test.json", {"config": config, "result": result.to_dict()})
    print(f"suggested learning rate ({args.method}): {result.suggested_lr:.3g}")
    if result.stop == steps:
        print(f"note: the loss had not diverged by α = {args.max_lr:g}; a larger --max-lr "
              "shows where it does")
    else:
        print(f"the smoothed loss diverged at α = {result.learning_rates[result.stop]:.3g}")
    print(f"wrote {folder / 'lr_range_test.png'} and lr_range_test.json")


if __name__ == "__main__":
    main()
