"""ZeRO-1 on the 8-device host mesh: per-device optimizer-state memory and step time.

What is measured
----------------
An MLP in plain JAX (784 → width → … → width → 10, tanh; ``--depth`` hidden
layers, about 2.9M params at the default width 1024 and depth 3), trained
data-parallel on a one-axis mesh ``data`` of 8 host CPU devices
(``--xla_force_host_platform_device_count=8``): params replicated, the batch
split over ``data``, one ``jax.jit`` per variant with ``out_shardings`` (params
replicated, the state as ``gradtx.sharding.state_shardings`` gives it) and the
params and state donated. The optimizer is
``gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(1e-3))``. Four variants:

* ``replicated``: every device holds the whole state (``state_shardings(tx, params)``);
* ``zero-1``: the state split over ``data`` (``zero_axis="data"``): every
  per-parameter leaf along its first dimension that 8 divides (the 10-element
  output bias divides by nothing and stays whole);
* ``flat replicated`` / ``flat zero-1``: the same on flat params
  (``gradtx.flat.ravel(params, pad_to_multiple=8)``: one padded bucket, split in 8).

Per device: the optimizer-state bytes, summed over each leaf's
``addressable_shards`` on that device (the largest over devices is reported;
all are equal here), and XLA's own figures for the compiled step
(``compiled.memory_analysis()``: argument and temporary bytes). The step time
is the median over ``--repeats`` rounds, the variants called alternately, one
call each per round, each followed by ``jax.block_until_ready``; the compile
time is trace + lower + compile of each variant once. Ratios are zero-1 over
replicated on the same path. On one CPU the 8 "devices" share its cores, so
the step times say what the gathering costs, not what 8 accelerators would
gain; the memory figures are what each device holds on any backend.

    python benchmarks/zero.py
    python benchmarks/zero.py --width 512 --repeats 11 --json zero.json
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8").strip()

import argparse  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    environment,
    fmt_ms,
    fmt_ratio,
    print_environment,
    print_table,
    summarize,
    time_interleaved,
    write_json,
)
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import gradtx  # noqa: E402

VARIANTS = ("replicated", "zero-1", "flat replicated", "flat zero-1")


def make_params(width: int, depth: int, seed: int = 0) -> dict[str, Any]:
    sizes = [784] + [width] * depth + [10]
    rng = np.random.default_rng(seed)
    return {f"layer{i}": {"w": (rng.normal(size=(m, n)) / np.sqrt(m)).astype(np.float32),
                          "b": np.zeros(n, np.float32)}
            for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))}


def loss_fn(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    h = x
    layers = [params[f"layer{i}"] for i in range(len(params))]
    for layer in layers[:-1]:
        h = jnp.tanh(h @ layer["w"] + layer["b"])
    logits = h @ layers[-1]["w"] + layers[-1]["b"]
    log_p = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.sum(jax.nn.one_hot(y, 10, dtype=log_p.dtype) * log_p, axis=-1))


def state_bytes_per_device(state: Any) -> int:
    """The largest number of optimizer-state bytes any one device holds."""
    per: dict[Any, int] = {}
    for leaf in jax.tree.leaves(state):
        for shard in leaf.addressable_shards:
            per[shard.device] = per.get(shard.device, 0) + shard.data.nbytes
    return max(per.values())


def build(variant: str, host: dict[str, Any], mesh: jax.sharding.Mesh, batch: int):
    tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(1e-3))
    replicated = NamedSharding(mesh, P())
    params = jax.device_put(host, replicated)
    flat = variant.startswith("flat")
    if flat:
        params = gradtx.flat.ravel(params, pad_to_multiple=mesh.shape["data"])
    zero_axis = "data" if variant.endswith("zero-1") else None
    param_shardings = jax.tree.map(lambda a: a.sharding, params)
    state_shardings = gradtx.sharding.state_shardings(tx, params, zero_axis=zero_axis)
    state = jax.jit(tx.init, out_shardings=state_shardings)(params)

    def loss(p, x, y):
        return loss_fn(p.unravel() if flat else p, x, y)

    @partial(jax.jit, out_shardings=(param_shardings, state_shardings, replicated),
             donate_argnums=(0, 1))
    def step(p, s, x, y):
        value, grads = jax.value_and_grad(loss)(p, x, y)
        updates, s = tx.update(grads, s, p)
        return gradtx.apply_updates(p, updates), s, value

    rng = np.random.default_rng(1)
    by_row = NamedSharding(mesh, P("data"))
    x = jax.device_put(rng.normal(size=(batch, 784)).astype(np.float32), by_row)
    y = jax.device_put(rng.integers(0, 10, batch).astype(np.int32), by_row)

    t0 = time.perf_counter()
    compiled = step.trace(params, state, x, y).lower().compile()
    compile_s = time.perf_counter() - t0
    memory = compiled.memory_analysis()
    held = {"params": params, "state": state}

    def run():
        held["params"], held["state"], value = compiled(held["params"], held["state"], x, y)
        return value

    info = {
        "state_bytes_per_device": state_bytes_per_device(state),
        "state_bytes_total": sum(leaf.nbytes for leaf in jax.tree.leaves(state)),
        "params": sum(int(np.prod(a.shape)) for a in jax.tree.leaves(host)),
        "replicated_leaves": list(gradtx.sharding.replicated_leaves(state, "data")),
        "argument_bytes": getattr(memory, "argument_size_in_bytes", None),
        "temp_bytes": getattr(memory, "temp_size_in_bytes", None),
        "compile_s": compile_s,
    }
    return run, info, held


def mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring and docs/benchmarks.md for what is measured.")
    parser.add_argument("--width", type=int, default=1024, help="hidden width (default 1024)")
    parser.add_argument("--depth", type=int, default=3, help="hidden layers (default 3)")
    parser.add_argument("--batch", type=int, default=256,
                        help="global batch, split over the 8 devices (default 256)")
    parser.add_argument("--repeats", type=int, default=21, help="measured rounds (default 21)")
    parser.add_argument("--warmup", type=int, default=3, help="warmup calls (default 3)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()

    env = environment()
    print_environment(env)
    mesh = jax.make_mesh((8,), ("data",))
    host = make_params(args.width, args.depth)
    t_start = time.perf_counter()
    runners, infos, keep = {}, {}, []
    for variant in VARIANTS:
        runners[variant], infos[variant], held = build(variant, host, mesh, args.batch)
        keep.append(held)
        print(f"[{time.perf_counter() - t_start:5.1f} s] compiled {variant}", flush=True)
    samples = time_interleaved(runners, args.repeats, args.warmup)
    results = {v: {**infos[v], **summarize(samples[v])} for v in VARIANTS}

    n = results["replicated"]["params"]
    rows = []
    for v in VARIANTS:
        r = results[v]
        base = results["flat replicated" if v.startswith("flat") else "replicated"]
        rows.append([v, mb(r["state_bytes_per_device"]),
                     fmt_ratio(r["state_bytes_per_device"] / base["state_bytes_per_device"]),
                     mb(r["argument_bytes"]), mb(r["temp_bytes"]), fmt_ms(r["median_ms"]),
                     fmt_ratio(r["median_ms"] / base["median_ms"]), f"{r['compile_s']:.2f}",
                     str(len(r["replicated_leaves"])) if v.endswith("zero-1") else "all"])
    print_table(f"AdamW state of {n / 1e6:.2f}M float32 params on 8 devices, batch {args.batch}",
                ["variant", "state MB/device", "vs replicated", "step args MB/device",
                 "step temp MB/device", "step ms", "vs replicated", "compile s",
                 "leaves kept whole"], rows)
    elapsed = time.perf_counter() - t_start
    print(f"\ntotal {elapsed:.0f} s")
    if args.json:
        write_json(args.json, {"benchmark": "zero", "environment": env, "width": args.width,
                               "depth": args.depth, "batch": args.batch,
                               "repeats": args.repeats, "warmup": args.warmup,
                               "results": results, "elapsed_s": elapsed})


if __name__ == "__main__":
    main()
