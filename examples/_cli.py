"""Command line and outputs shared by the example scripts."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from gradtx.experiments import data  # noqa: E402


def parser(example: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every example has: --out-dir, --seed, --smoke."""
    p = argparse.ArgumentParser(
        prog=f"{example}.py",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out-dir", type=Path, default=Path("outputs") / example,
                   help="folder for the PNG plot and the JSON/CSV numbers")
    p.add_argument("--seed", type=int, default=0, help="random seed (initialization, batches)")
    p.add_argument("--smoke", action="store_true",
                   help="a few steps on a small model, to check that the script runs")
    return p


def add_dataset_options(p: argparse.ArgumentParser) -> None:
    """--dataset and --data-dir."""
    p.add_argument("--dataset", choices=data.DATASETS, default="digits",
                   help="digits: scikit-learn's bundled 8x8 digits; fashion-mnist: Debian's "
                        "dataset-fashion-mnist package; mnist: IDX files in --data-dir")
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"folder of the IDX files (fashion-mnist: {data.FASHION_MNIST_DIR})")


def load(args: argparse.Namespace) -> data.Dataset:
    """The dataset the command line names; a missing or corrupt file exits with its message."""
    try:
        return data.load_dataset(args.dataset, args.data_dir)
    except (OSError, ValueError, ImportError) as err:
        sys.exit(f"error: {err}")


def out_dir(args: argparse.Namespace) -> Path:
    """The output folder, created."""
    args.out_dir.mkdir(parents=True, exist_ok=True)
    return args.out_dir


def save_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON (NaN and infinities written as null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    path.write_text(json.dumps(clean(payload), indent=1) + "\n")
