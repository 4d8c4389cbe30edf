"""A gallery of every learning-rate schedule in gradtx.schedules, each plotted over its
first steps (step 0 is the rate of the first update).

    python examples/schedules.py
    python examples/schedules.py --steps 1000

Writes schedules.png (the gallery) and schedules.json (every schedule's values);
the documentation's schedule plots are drawn by the same functions when the site is
built.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from _cli import out_dir, parser, save_json

from gradtx import schedules as S

STEPS = 300
PROTOCOL = {"Schedule", "ScheduleLike"}
"""Names in ``gradtx.schedules.__all__`` that are not schedules."""


def gallery(steps: int = STEPS) -> dict[str, S.Schedule]:
    """One illustrative instance of every schedule, α0 = 0.1, laid out over ``steps`` steps."""
    a0, q, hundredth = 0.1, steps // 4, max(steps // 100, 1)
    return {
        "constant": S.constant(a0),
        "piecewise_constant": S.piecewise_constant([a0, a0 / 2, a0 / 10], [q, 2 * q]),
        "step_decay": S.step_decay(init_value=a0, step_size=q, gamma=0.5),
        "linear": S.linear(init_value=a0, end_value=0.0, decay_steps=steps),
        "polynomial": S.polynomial(init_value=a0, end_value=0.0, decay_steps=steps, power=2.0),
        "inverse_time": S.inverse_time(init_value=a0, decay_rate=10.0 / steps),
        "exponential": S.exponential(init_value=a0, decay_rate=0.99, decay_steps=hundredth),
        "natural_exponential": S.natural_exponential(init_value=a0, decay_rate=3.0 / steps),
        "cosine": S.cosine(init_value=a0, decay_steps=steps),
        "warmup": S.warmup(S.step_decay(init_value=a0, step_size=q, gamma=0.5), q),
        "join": S.join([S.constant(a0), S.exponential(a0, 0.98, hundredth)], [q]),
        "warmup_cosine": S.warmup_cosine(peak_value=a0, warmup_steps=q // 2, decay_steps=steps),
        "cyclic": S.cyclic(base_value=a0 / 10, max_value=a0, step_size=q // 2,
                           mode="triangular2"),
        "sgdr": S.sgdr(init_value=a0, period=steps // 7, period_mult=2.0),
        "onecycle": S.onecycle(total_steps=steps, max_value=a0),
    }


def missing_from_gallery(shown: dict[str, Any]) -> list[str]:
    """The public schedules of ``gradtx.schedules`` that the gallery does not show."""
    return sorted(set(S.__all__) - PROTOCOL - set(shown))


def rates(shown: dict[str, S.Schedule], steps: int) -> dict[str, np.ndarray]:
    """Each schedule's rates α_0 … α_{steps−1} (`Schedule.values`), computed once."""
    return {name: schedule.values(steps) for name, schedule in shown.items()}


def draw(name: str, values: np.ndarray, ax: Any = None) -> Any:
    """One schedule's rates against the step on ``ax`` (a new figure when None), titled
    with its name."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    ax.plot(np.arange(len(values)), values)
    ax.set_title(name, fontsize="medium")
    ax.set_xlabel("step", fontsize="small")
    ax.set_ylabel("α", fontsize="small")
    ax.grid(True, alpha=0.3)
    return ax


def draw_gallery(values: dict[str, np.ndarray], columns: int = 4) -> Any:
    """Every schedule's rates (``{name: values}``, see `rates`) in a grid; returns the figure."""
    import matplotlib.pyplot as plt

    rows = -(-len(values) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.6 * rows),
                                layout="constrained", squeeze=False)
    for ax, (name, v) in zip(axes.flat, values.items(), strict=False):
        draw(name, v, ax)
    for ax in axes.flat[len(values):]:
        ax.set_visible(False)
    return figure


def main(argv: list[str] | None = None) -> None:
    p: argparse.ArgumentParser = parser("schedules", __doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=STEPS, help="steps shown per schedule")
    args = p.parse_args(argv)
    steps = 40 if args.smoke else args.steps
    shown = gallery(steps)
    missing = missing_from_gallery(shown)
    if missing:
        print(f"note: not in the gallery yet: {', '.join(missing)}")
    folder = out_dir(args)
    values = rates(shown, steps)
    draw_gallery(values).savefig(folder / "schedules.png", dpi=110)
    save_json(folder / "schedules.json", {
        "steps": steps,
        "schedules": {name: {"repr": repr(s), "values": values[name].tolist()}
                      for name, s in shown.items()},
    })
    for name, v in values.items():
        print(f"{name:<20} α_0 = {v[0]:.4g}   α_{steps - 1} = {v[-1]:.4g}")
    print(f"wrote {folder / 'schedules.png'} and schedules.json")


if __name__ == "__main__":
    main()
