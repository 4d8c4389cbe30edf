"""The lecture's activation-statistics experiment: 10 layers of 500 units, unit-Gaussian
input, zero biases, and the mean and standard deviation of every layer's activations
for its five initializations:

  1. tanh, W = 0.01·randn      — the signal vanishes layer by layer
  2. tanh, W = 1·randn         — the units saturate at ±1
  3. tanh, Xavier              — the spread decays slowly
  4. ReLU, Xavier              — the spread collapses again
  5. ReLU, He                  — the spread holds

    python examples/init_stats.py

Prints one table per initialization (with the lecture's printed standard deviations
beside ours) and writes init_stats.png (a histogram per layer), init_stats.json and
init_stats.md (the tables in Markdown).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import matplotlib.pyplot as plt
from _cli import out_dir, parser, save_json
from tqdm import tqdm

from gradtx import initializers
from gradtx.diagnostics import format_table, mlp_activation_stats, plot_histograms


class Case(NamedTuple):
    title: str
    activation: str
    init: Any
    lecture_std: tuple[float, ...] | None


# The standard deviations the lecture prints for hidden layers 1-10 (it shows no numbers for
# He; its Xavier/tanh printout repeats layer 4's value at layer 5).
CASES = {
    "tanh_0.01randn": Case("tanh, W = 0.01·randn", "tanh", initializers.normal(0.01), (
        0.213081, 0.047551, 0.010630, 0.002378, 0.000532,
        0.000119, 0.000026, 0.000006, 0.000001, 0.000000)),
    "tanh_1randn": Case("tanh, W = 1·randn", "tanh", initializers.normal(1.0), (
        0.981879, 0.981649, 0.981601, 0.981755, 0.981560,
        0.981560, 0.981520, 0.981913, 0.981728, 0.981736)),
    "tanh_xavier": Case("tanh, Xavier", "tanh", initializers.xavier_normal("tanh"), (
        0.627953, 0.486051, 0.407723, 0.357108, 0.357108,
        0.292116, 0.273387, 0.254935, 0.239266, 0.228008)),
    "relu_xavier": Case("ReLU, Xavier", "relu", initializers.xavier_normal("tanh"), (
        0.582273, 0.403795, 0.276912, 0.198685, 0.140299,
        0.103280, 0.072748, 0.051572, 0.033583, 0.026076)),
    "relu_he": Case("ReLU, He", "relu", initializers.he_normal(), None),
}


def markdown(title: str, stats: list[Any], lecture_std: tuple[float, ...] | None) -> str:
    """One case as a Markdown table: layer, mean, std, the lecture's std, saturated/dead."""
    extra = "saturated" if stats[0].saturated_fraction is not None else "dead"
    lines = [f"**{title}**", "", f"| layer | mean | std | lecture std | {extra} |",
             "|---:|---:|---:|---:|---:|"]
    for i, s in enumerate(stats):
        fraction = s.saturated_fraction if s.saturated_fraction is not None else s.dead_fraction
        reference = f"{lecture_std[i]:.6f}" if lecture_std and i < len(lecture_std) else "—"
        lines.append(f"| {s.layer} | {s.mean:.6f} | {s.std:.6f} | {reference} | {fraction:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = parser("init_stats", __doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=10, help="hidden layers of the network")
    p.add_argument("--width", type=int, default=500, help="units per layer")
    p.add_argument("--batch", type=int, default=1000, help="input rows, x ~ N(0, 1)")
    args = p.parse_args(argv)
    layers, width, batch = args.layers, args.width, args.batch
    if args.smoke:
        layers, width, batch = 4, 50, 100
    compare = (layers, width) == (10, 500)

    folder = out_dir(args)
    figure, axes = plt.subplots(len(CASES), layers, figsize=(1.9 * layers, 2.1 * len(CASES)),
                                layout="constrained", squeeze=False)
    results, tables = {}, []
    for row, (name, case) in zip(axes, tqdm(CASES.items(), unit="init"), strict=True):
        stats = mlp_activation_stats(jax.random.key(args.seed), case.init, case.activation,
                                     n_layers=layers, width=width, batch=batch)
        plot_histograms(stats, list(row))
        row[0].set_ylabel(case.title, fontsize=8)
        lecture = case.lecture_std if compare else None
        tqdm.write(f"\n{case.title}\n{format_table(stats)}")
        if lecture:
            tqdm.write("lecture's std: " + " ".join(f"{s:.3g}" for s in lecture))
        tables.append(markdown(case.title, stats, lecture))
        results[name] = {
            "title": case.title,
            "activation": case.activation,
            "mean": [s.mean for s in stats],
            "std": [s.std for s in stats],
            "saturated_fraction": [s.saturated_fraction for s in stats],
            "dead_fraction": [s.dead_fraction for s in stats],
            "lecture_std": list(lecture) if lecture else None,
        }
    figure.savefig(folder / "init_stats.png", dpi=90)
    config = {"layers": layers, "width": width, "batch": batch, "seed": args.seed}
    save_json(folder / "init_stats.json", {"config": config, "cases": results})
    (folder / "init_stats.md").write_text("\n\n".join(tables) + "\n")
    print(f"wrote {folder / 'init_stats.png'}, init_stats.json and init_stats.md")


if __name__ == "__main__":
    main()
