"""Shared helpers of the benchmark scripts: timing, statistics, tables, JSON.

Every measured call is followed by ``jax.block_until_ready``; warmup calls are
not recorded; contestants are measured in alternating order, one call each per
round, so that load from other processes on a shared machine hits them alike.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax

__all__ = [
    "environment",
    "fmt_ms",
    "fmt_pct",
    "fmt_ratio",
    "print_table",
    "summarize",
    "time_interleaved",
    "timed",
    "write_json",
]


def environment() -> dict[str, Any]:
    """The software and hardware the numbers were measured on."""
    import optax

    import gradtx

    try:
        import flax

        flax_version = flax.__version__
    except ImportError:
        flax_version = None
    return {
        "devices": [str(d) for d in jax.devices()],
        "backend": jax.default_backend(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "jax": jax.__version__,
        "optax": optax.__version__,
        "flax": flax_version,
        "gradtx": gradtx.__version__,
    }


def print_environment(env: dict[str, Any]) -> None:
    print(f"jax.devices(): {env['devices']}")
    print(
        f"jax {env['jax']}, optax {env['optax']}, flax {env['flax']}, gradtx {env['gradtx']}; "
        f"{env['cpu_count']} CPU cores visible, load average at start {env['loadavg_at_start']}"
    )


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Median, minimum and quartiles of timings in seconds, in milliseconds."""
    ms = sorted(1e3 * s for s in samples)
    q = statistics.quantiles(ms, n=4) if len(ms) >= 2 else [ms[0]] * 3
    return {
        "median_ms": statistics.median(ms),
        "min_ms": ms[0],
        "q1_ms": q[0],
        "q3_ms": q[2],
        "n": len(ms),
    }


def time_interleaved(
    runners: dict[str, Callable[[], Any]], repeats: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds per call of each runner, runners alternated call by call.

    ``runners[name]()`` performs one call and returns what must be waited for.
    The order of the runners is reversed every other round.
    """
    names = list(runners)
    for _ in range(warmup):
        for name in names:
            jax.block_until_ready(runners[name]())
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            out = runners[name]()
            jax.block_until_ready(out)
            samples[name].append(time.perf_counter() - t0)
    return samples


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(result, seconds) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def fmt_ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def fmt_pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.0f}%"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A plain-text table with right-aligned columns (first column left-aligned)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    print()
    print(title)
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths,
                                                                        strict=True))
    )
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ))


def write_json(path: str, payload: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
    print(f"\nwrote {path}")
