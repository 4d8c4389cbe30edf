"""Optimizer step time and compile time: gradtx against optax, in one process.

What is measured
----------------
* **Step time.** One step is ``jax.jit(update + apply_updates)`` with the params
  and the optimizer state donated (``donate_argnums=(0, 1)``); the gradients
  are a fixed standard-normal tree (so ``clip_by_global_norm(1.0)`` always
  clips). Each call is followed by ``jax.block_until_ready``; warmup calls
  (the first compiles) are excluded; the contestants of one row are called
  alternately, one call each per round, the order reversed every other round,
  and each reports the median of its rounds. Trees of equal total size
  (``--size``, default 2**23 ≈ 8.4M float32 parameters):

  - ``one_leaf``: a single (2048, 4096) array (for the default size);
  - ``transformer``: 148 leaves shaped like a 12-layer transformer (token and
    position embeddings, per layer LayerNorm scales and biases, qkv / out /
    mlp kernels and biases, a final LayerNorm);
  - ``many_small``: 2000 equal 1-D leaves;
  - ``gpt2_small`` (not in the default set; its size is fixed): GPT-2 small's
    148 leaves, 124.4M params (vocabulary 50257, context 1024, width 768, 12 layers).

  For ``adamw`` and ``clip_adamw`` a third contestant, ``jnp``, is the same
  math written by hand as staged ``jax.tree.map`` calls (the issue's
  "plain staged jnp tree maps"): the floor a library should reach.

  ``gradtx-flat`` is the same gradtx optimizer on flat params: params and
  gradients are ``gradtx.flat.ravel``-ed once, outside the timed step (as a
  model trained on ``FlatParams`` holds them), so the step updates a few
  buffers instead of one array per leaf. Where torch is importable, ``torch``
  is ``torch.optim.Adam`` / ``AdamW`` with ``fused=True`` on tensors of the
  same shapes (gradients set once), for ``adam`` and ``adamw``.

* **Compile time.** For each optimizer, the same step on trees of 100, 1000
  and 5000 small leaves (alternately (32, 32) and (32,)) is traced
  (``jax.jit(step).trace``), lowered (``.lower()``) and compiled
  (``.compile()``), each stage timed. Every measurement runs in a fresh
  Python process (no warm jit caches, memory returned afterwards; the jnp
  ufunc caches are warmed on a 2-leaf tree first), gradtx (per leaf, on flat
  params, and per leaf under ``gradtx.static_hyperparams``) and optax
  alternately; a compile that exceeds ``--compile-timeout`` is reported as
  such.

Optimizers (hyperparameters matched exactly; checked numerically at start):
``sgd_momentum`` sgd(1e-3, momentum=0.9); ``rmsprop`` rmsprop(1e-3, decay=0.9,
eps=1e-8, ε outside the root); ``adam`` adam(1e-3); ``adamw`` adamw(1e-3,
weight_decay=1e-2); ``clip_adamw`` chain(clip_by_global_norm(1.0),
adamw(1e-3, weight_decay=1e-2)).

``--quick`` (under a minute on 2 CPU cores): optimizers adamw and clip_adamw
only, trees one_leaf and transformer, 2 warmup calls and 15 rounds, compile
time at 100 leaves only, measured in-process. The full run: all five
optimizers, all three trees, 3 warmup calls and 41 rounds, compile time at
100, 1000 and 5000 leaves in fresh processes.

Runs unchanged on CPU or GPU: ``jax.devices()`` is printed first.

    python benchmarks/step_time.py --quick
    python benchmarks/step_time.py --json step_time.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import (
    environment,
    fmt_ms,
    fmt_ratio,
    print_environment,
    print_table,
    summarize,
    time_interleaved,
    write_json,
)

import gradtx

LR = 1e-3
MOMENTUM = 0.9
RMS_DECAY = 0.9
EPS = 1e-8
B1, B2 = 0.9, 0.999
WEIGHT_DECAY = 1e-2
MAX_NORM = 1.0

DEFAULT_SIZE = 2**23


# ----------------------------------------------------------------------------- optimizers


def _jnp_adamw(clip: bool) -> optax.GradientTransformation:
    """clip_by_global_norm + adamw written by hand as staged tree maps (the reference)."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return jnp.zeros([], jnp.int32), zeros, jax.tree.map(jnp.zeros_like, params)

    def update(grads, state, params):
        count, mu, nu = state
        if clip:
            norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
            factor = jnp.minimum(1.0, MAX_NORM / norm)
            grads = jax.tree.map(lambda g: g * factor, grads)
        mu = jax.tree.map(lambda m, g: B1 * m + (1 - B1) * g, mu, grads)
        nu = jax.tree.map(lambda v, g: B2 * v + (1 - B2) * g * g, nu, grads)
        t = (count + 1).astype(jnp.float32)
        bc1, bc2 = 1 - B1**t, 1 - B2**t
        updates = jax.tree.map(
            lambda m, v, p: -LR * ((m / bc1) / (jnp.sqrt(v / bc2) + EPS) + WEIGHT_DECAY * p),
            mu, nu, params,
        )
        return updates, (count + 1, mu, nu)

    return optax.GradientTransformation(init, update)


def _jnp_apply(params, updates):
    return jax.tree.map(jnp.add, params, updates)


Maker = Callable[[], Any]

# name -> {library: (make optimizer, apply_updates)}
OPTIMIZERS: dict[str, dict[str, tuple[Maker, Callable]]] = {
    "sgd_momentum": {
        "gradtx": (lambda: gradtx.sgd(LR, momentum=MOMENTUM), gradtx.apply_updates),
        "optax": (lambda: optax.sgd(LR, momentum=MOMENTUM), optax.apply_updates),
    },
    "rmsprop": {
        "gradtx": (lambda: gradtx.rmsprop(LR, decay=RMS_DECAY, eps=EPS), gradtx.apply_updates),
        "optax": (
            lambda: optax.rmsprop(LR, decay=RMS_DECAY, eps=EPS, eps_in_sqrt=False),
            optax.apply_updates,
        ),
    },
    "adam": {
        "gradtx": (lambda: gradtx.adam(LR, b1=B1, b2=B2, eps=EPS), gradtx.apply_updates),
        "optax": (lambda: optax.adam(LR, b1=B1, b2=B2, eps=EPS), optax.apply_updates),
    },
    "adamw": {
        "gradtx": (
            lambda: gradtx.adamw(LR, b1=B1, b2=B2, eps=EPS, weight_decay=WEIGHT_DECAY),
            gradtx.apply_updates,
        ),
        "optax": (
            lambda: optax.adamw(LR, b1=B1, b2=B2, eps=EPS, weight_decay=WEIGHT_DECAY),
            optax.apply_updates,
        ),
        "jnp": (lambda: _jnp_adamw(clip=False), _jnp_apply),
    },
    "clip_adamw": {
        "gradtx": (
            lambda: gradtx.chain(
                gradtx.clip_by_global_norm(MAX_NORM),
                gradtx.adamw(LR, b1=B1, b2=B2, eps=EPS, weight_decay=WEIGHT_DECAY),
            ),
            gradtx.apply_updates,
        ),
        "optax": (
            lambda: optax.chain(
                optax.clip_by_global_norm(MAX_NORM),
                optax.adamw(LR, b1=B1, b2=B2, eps=EPS, weight_decay=WEIGHT_DECAY),
            ),
            optax.apply_updates,
        ),
        "jnp": (lambda: _jnp_adamw(clip=True), _jnp_apply),
    },
}


# ----------------------------------------------------------------------------- trees


def one_leaf_shapes(size: int) -> dict[str, tuple[int, ...]]:
    cols = 4096 if size % 4096 == 0 else size
    return {"w": (size // cols, cols) if cols != size else (size,)}


def transformer_shapes(size: int, n_layers: int = 12, seq: int = 512) -> dict[str, Any]:
    """A 12-layer pre-LN transformer's parameter shapes, ``size`` parameters in all (about).

    The width d (a multiple of 8) is the largest for which the layers take at
    most 85% of ``size``; the token embedding takes the rest. 12 leaves per
    layer + 2 embeddings + 2 final LayerNorm leaves = 148 leaves.
    """

    def per_layer(d: int) -> int:
        return 12 * d * d + 13 * d

    d = 8
    while n_layers * per_layer(d + 8) + seq * (d + 8) <= 0.85 * size:
        d += 8
    vocab = max(1, (size - n_layers * per_layer(d) - seq * d - 2 * d) // d)

    def dense(n_in: int, n_out: int) -> dict[str, tuple[int, ...]]:
        return {"kernel": (n_in, n_out), "bias": (n_out,)}

    def norm() -> dict[str, tuple[int, ...]]:
        return {"scale": (d,), "bias": (d,)}

    tree: dict[str, Any] = {"embed": {"tokens": (vocab, d), "positions": (seq, d)}}
    for i in range(n_layers):
        tree[f"layer_{i:02d}"] = {
            "ln1": norm(),
            "attn": {"qkv": dense(d, 3 * d), "out": dense(d, d)},
            "ln2": norm(),
            "mlp": {"up": dense(d, 4 * d), "down": dense(4 * d, d)},
        }
    tree["ln_f"] = norm()
    return tree


def gpt2_small_shapes(size: int = 0) -> dict[str, Any]:
    """GPT-2 small (124.4M params, 148 leaves); ``size`` is ignored."""
    del size
    d, vocab, context = 768, 50257, 1024

    def layer() -> dict[str, Any]:
        return {"ln1": {"scale": (d,), "bias": (d,)},
                "attn": {"qkv": {"kernel": (d, 3 * d), "bias": (3 * d,)},
                         "proj": {"kernel": (d, d), "bias": (d,)}},
                "ln2": {"scale": (d,), "bias": (d,)},
                "mlp": {"fc": {"kernel": (d, 4 * d), "bias": (4 * d,)},
                        "proj": {"kernel": (4 * d, d), "bias": (d,)}}}

    return {"wte": (vocab, d), "wpe": (context, d),
            **{f"h{i:02d}": layer() for i in range(12)},
            "ln_f": {"scale": (d,), "bias": (d,)}}


def many_small_shapes(size: int, n_leaves: int = 2000) -> dict[str, tuple[int, ...]]:
    return {f"p{i:04d}": (size // n_leaves,) for i in range(n_leaves)}


def compile_tree_shapes(n_leaves: int) -> dict[str, tuple[int, ...]]:
    """``n_leaves`` small leaves, alternately (32, 32) kernels and (32,) biases."""
    return {f"p{i:04d}": ((32, 32) if i % 2 == 0 else (32,)) for i in range(n_leaves)}


def _is_shape(x: Any) -> bool:
    return isinstance(x, tuple) and all(isinstance(i, int) for i in x)


def materialize(shapes: Any, seed: int, scale: float) -> Any:
    """Standard-normal float32 arrays of the given shapes, times ``scale``."""
    leaves, treedef = jax.tree.flatten(shapes, is_leaf=_is_shape)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return treedef.unflatten(
        [scale * jax.random.normal(k, s, jnp.float32) for k, s in zip(keys, leaves, strict=True)]
    )


def abstract(shapes: Any) -> Any:
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s, jnp.float32), shapes, is_leaf=_is_shape)


def count(shapes: Any) -> tuple[int, int]:
    leaves = jax.tree.leaves(shapes, is_leaf=_is_shape)
    return len(leaves), int(sum(np.prod(s) for s in leaves))


# ----------------------------------------------------------------------------- step


def contestants(name: str) -> dict[str, tuple[Maker, Callable]]:
    """The libraries compared for optimizer ``name``: OPTIMIZERS' and gradtx on flat params."""
    return {**OPTIMIZERS[name], "gradtx-flat": OPTIMIZERS[name]["gradtx"]}


def in_layout(lib: str, tree: Any, like: Any = None) -> Any:
    """``tree`` as ``lib`` trains it: flat buffers for ``gradtx-flat``, else the tree."""
    if lib != "gradtx-flat":
        return tree
    return gradtx.flat.ravel(tree, like=like)


def _tree_of(x: Any) -> Any:
    return x.unravel() if isinstance(x, gradtx.flat.FlatParams) else x


def torch_runner(name: str, warm_params: Any, grads: Any) -> Callable | None:
    """One fused torch.optim step on tensors like the tree, or None without torch."""
    if name not in ("adam", "adamw"):
        return None
    try:
        import torch
    except ImportError:
        return None
    device = "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"
    tensors = [torch.tensor(np.asarray(p), device=device, requires_grad=True)
               for p in jax.tree.leaves(warm_params)]
    for t, g in zip(tensors, jax.tree.leaves(grads), strict=True):
        t.grad = torch.tensor(np.asarray(g), device=device)
    cls, wd = (torch.optim.Adam, 0.0) if name == "adam" else (torch.optim.AdamW, WEIGHT_DECAY)
    opt = cls(tensors, lr=LR, betas=(B1, B2), eps=EPS, weight_decay=wd, fused=True)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def run():
        opt.step()
        sync()
        return None

    return run


def make_step(tx: Any, apply: Callable) -> Callable:
    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return apply(params, updates), state

    return step


def check_equivalence(names: list[str]) -> dict[str, float]:
    """Max |Δθ| between gradtx (and jnp) and optax after 3 steps on a small tree.

    Raises if they disagree: the hyperparameters of the contestants must match.
    """
    shapes = {"a": (7, 5), "b": (11,), "c": {"d": (3, 4, 2)}}
    params = materialize(shapes, 1, 0.5)
    out = {}
    for name in names:
        finals = {}
        for lib, (make, apply) in contestants(name).items():
            tx = make()
            step = jax.jit(make_step(tx, apply))
            p = in_layout(lib, params)
            s = tx.init(p)
            for i in range(3):
                p, s = step(p, s, in_layout(lib, materialize(shapes, 10 + i, 2.0), like=p))
            finals[lib] = _tree_of(p)
        for lib, p in finals.items():
            if lib == "optax":
                continue
            diff = max(
                float(jnp.max(jnp.abs(a - b)))
                for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(finals["optax"]), strict=True)
            )
            if diff > 1e-6:
                raise AssertionError(f"{name}: {lib} and optax disagree after 3 steps: {diff}")
            out[f"{name}/{lib}"] = diff
    return out


def measure_steps(shapes: Any, names: list[str], warmup: int, repeats: int) -> dict[str, Any]:
    params = materialize(shapes, 0, 0.02)
    grads = materialize(shapes, 1, 1.0)
    rows = {}
    for name in names:
        runners = {}
        for lib, (make, apply) in contestants(name).items():
            tx = make()
            fn = jax.jit(make_step(tx, apply), donate_argnums=(0, 1))
            p0 = in_layout(lib, jax.tree.map(jnp.copy, params))
            g = in_layout(lib, grads, like=p0)
            carry = [p0, tx.init(p0)]

            def run(fn=fn, carry=carry, g=g):
                carry[0], carry[1] = fn(carry[0], carry[1], g)
                return carry

            runners[lib] = run
        torch_run = torch_runner(name, params, grads)
        if torch_run is not None:
            runners["torch"] = torch_run
        samples = time_interleaved(runners, repeats=repeats, warmup=warmup)
        rows[name] = {lib: summarize(s) for lib, s in samples.items()}
        del runners
    return rows


# ----------------------------------------------------------------------------- compile


def compile_once(lib: str, name: str, n_leaves: int) -> dict[str, float]:
    """Seconds to trace, lower and compile one step on ``n_leaves`` leaves.

    ``gradtx-static`` is gradtx's optimizer under ``gradtx.static_hyperparams`` (its
    hyperparameters compiled in as constants)."""
    if lib == "gradtx-static":
        make_gradtx, apply = OPTIMIZERS[name]["gradtx"]

        def make() -> Any:
            return gradtx.static_hyperparams(make_gradtx())
    else:
        make, apply = contestants(name)[lib]

    def stages(shapes):
        tx = make()
        params = abstract(shapes)
        if lib == "gradtx-flat":
            params = jax.eval_shape(gradtx.flat.ravel, params)
        state = jax.eval_shape(tx.init, params)
        jitted = jax.jit(make_step(tx, apply), donate_argnums=(0, 1))
        t0 = time.perf_counter()
        traced = jitted.trace(params, state, params)
        t1 = time.perf_counter()
        lowered = traced.lower()
        t2 = time.perf_counter()
        lowered.compile()
        t3 = time.perf_counter()
        return {"trace_s": t1 - t0, "lower_s": t2 - t1, "compile_s": t3 - t2, "total_s": t3 - t0}

    stages(compile_tree_shapes(2))  # warms the jnp ufunc caches, as in a real program
    return stages(compile_tree_shapes(n_leaves))


def compile_in_subprocess(lib: str, name: str, n_leaves: int, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--compile-one", lib, name, str(n_leaves)]
    # The parent may hold most of an accelerator's memory; the child only compiles.
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True,
                             env=env)
    except subprocess.TimeoutExpired:
        return {"timeout_s": timeout}
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"compile subprocess failed:\n{err.stderr}") from err
    return json.loads(res.stdout.strip().splitlines()[-1])


def measure_compiles(
    names: list[str], leaf_counts: list[int], isolate: bool, timeout: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    k = 0
    for n_leaves in leaf_counts:
        for name in names:
            libs = ["gradtx", "optax", "gradtx-flat", "gradtx-static"]
            libs = libs if k % 2 == 0 else libs[::-1]
            k += 1
            res = {}
            for lib in libs:
                if isolate:
                    res[lib] = compile_in_subprocess(lib, name, n_leaves, timeout)
                else:
                    res[lib] = compile_once(lib, name, n_leaves)
                print(f"  compiled {name:<12} {n_leaves:>5} leaves  {lib:<6} "
                      f"{_fmt_compile(res[lib])}", flush=True)
            out[f"{name}/{n_leaves}"] = {"optimizer": name, "leaves": n_leaves, **res}
    return out


def _fmt_compile(r: dict[str, Any]) -> str:
    if "timeout_s" in r:
        return f"timed out after {r['timeout_s']:.0f} s"
    return (f"trace {r['trace_s']:.2f} s, lower {r['lower_s']:.2f} s, "
            f"compile {r['compile_s']:.2f} s")


# ----------------------------------------------------------------------------- report


def report_steps(results: dict[str, Any]) -> None:
    for tree, info in results["trees"].items():
        rows = []
        for name, r in info["rows"].items():
            g, o = r["gradtx"]["median_ms"], r["optax"]["median_ms"]
            f = r["gradtx-flat"]["median_ms"]
            j = r["jnp"]["median_ms"] if "jnp" in r else None
            t = r["torch"]["median_ms"] if "torch" in r else None
            rows.append([name, fmt_ms(g), fmt_ms(f), fmt_ms(o), fmt_ratio(g / o),
                         fmt_ratio(f / o), fmt_ms(j), fmt_ratio(g / j if j else None),
                         fmt_ms(t), fmt_ratio(f / t if t else None)])
        print_table(
            f"Step time, tree '{tree}' ({info['leaves']} leaves, {info['params']:,} float32 "
            f"params): median ms over {results['repeats']} rounds",
            ["optimizer", "gradtx ms", "flat ms", "optax ms", "gradtx/optax", "flat/optax",
             "jnp ms", "gradtx/jnp", "torch fused ms", "flat/torch"],
            rows,
        )
    rows = []
    for tree, info in results["trees"].items():
        r = info["rows"]
        if "adamw" not in r or "clip_adamw" not in r:
            continue
        for lib in ("gradtx", "optax", "jnp"):
            a, c = r["adamw"][lib]["median_ms"], r["clip_adamw"][lib]["median_ms"]
            rows.append([f"{tree} / {lib}", fmt_ms(a), fmt_ms(c), fmt_ratio(c / a)])
    if rows:
        print_table(
            "chain(clip_by_global_norm(1.0), adamw) against adamw alone (memory traffic: 8 vs 7 "
            "passes over the params, ratio 1.14)",
            ["tree / library", "adamw ms", "clip+adamw ms", "clip+adamw / adamw"],
            rows,
        )


def report_compiles(results: dict[str, Any]) -> None:
    rows = []
    for r in results.values():
        g, o, f, c = r["gradtx"], r["optax"], r["gradtx-flat"], r["gradtx-static"]

        def tl(x):
            return "-" if "timeout_s" in x else f"{x['trace_s'] + x['lower_s']:.2f}"

        def cp(x):
            return f">{x['timeout_s']:.0f}" if "timeout_s" in x else f"{x['compile_s']:.2f}"

        def ratio(a, b):
            return (a["total_s"] / b["total_s"]) if "total_s" in a and "total_s" in b else None

        rows.append([f"{r['optimizer']} @ {r['leaves']}", tl(g), cp(g), tl(c), cp(c), tl(f),
                     cp(f), tl(o), cp(o), fmt_ratio(ratio(g, o)), fmt_ratio(ratio(c, o)),
                     fmt_ratio(ratio(f, o))])
    print_table(
        "Trace+lower and XLA compile time of one step, seconds (static: "
        "gradtx.static_hyperparams)",
        ["optimizer @ leaves", "gradtx trace+lower", "gradtx compile", "static trace+lower",
         "static compile", "flat trace+lower", "flat compile", "optax trace+lower",
         "optax compile", "gradtx/optax total", "static/optax total", "flat/optax total"],
        rows,
    )


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring and docs/benchmarks.md for what is measured.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="adamw and clip_adamw only, trees one_leaf and transformer, "
                             "15 rounds, compile time at 100 leaves (under a minute on 2 cores)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE,
                        help="total float32 parameters of each step-time tree (default 2**23)")
    parser.add_argument("--repeats", type=int, help="measured rounds (default 41; quick 15)")
    parser.add_argument("--warmup", type=int, help="warmup calls (default 3; quick 2)")
    parser.add_argument("--optimizers", help=f"comma-separated subset of {list(OPTIMIZERS)}")
    parser.add_argument("--trees", help="comma-separated subset of one_leaf,transformer,"
                                        "many_small,gpt2_small (empty string: skip)")
    parser.add_argument("--compile-leaves", default=None,
                        help="comma-separated leaf counts (default 100,1000,5000; quick 100; "
                             "empty string: skip)")
    parser.add_argument("--compile-timeout", type=float, default=600.0,
                        help="seconds allowed to one compile measurement (full mode)")
    parser.add_argument("--compile-one", nargs=3, metavar=("LIB", "OPT", "LEAVES"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.compile_one:
        lib, name, n = args.compile_one
        print(json.dumps(compile_once(lib, name, int(n))))
        return

    quick = args.quick
    names = (args.optimizers.split(",") if args.optimizers
             else ["adamw", "clip_adamw"] if quick else list(OPTIMIZERS))
    tree_names = ([t for t in args.trees.split(",") if t] if args.trees is not None
                  else ["one_leaf", "transformer"] if quick
                  else ["one_leaf", "transformer", "many_small"])
    repeats = args.repeats or (15 if quick else 41)
    warmup = args.warmup or (2 if quick else 3)
    leaf_counts = ([int(x) for x in args.compile_leaves.split(",") if x]
                   if args.compile_leaves is not None else [100] if quick else [100, 1000, 5000])

    env = environment()
    print_environment(env)
    t_start = time.perf_counter()
    equivalence = check_equivalence(names)
    print(f"hyperparameters match optax: max |Δθ| after 3 steps "
          f"{max(equivalence.values()):.1e}")

    builders = {"one_leaf": one_leaf_shapes, "transformer": transformer_shapes,
                "many_small": many_small_shapes, "gpt2_small": gpt2_small_shapes}
    step_results: dict[str, Any] = {"repeats": repeats, "warmup": warmup, "trees": {}}
    for tree in tree_names:
        shapes = builders[tree](args.size)
        n_leaves, n_params = count(shapes)
        print(f"[{time.perf_counter() - t_start:5.1f} s] step time on '{tree}' "
              f"({n_leaves} leaves) ...", flush=True)
        rows = measure_steps(shapes, names, warmup, repeats)
        step_results["trees"][tree] = {"leaves": n_leaves, "params": n_params, "rows": rows}
    report_steps(step_results)

    compile_results: dict[str, Any] = {}
    if leaf_counts:
        print(f"\n[{time.perf_counter() - t_start:5.1f} s] compile time ...", flush=True)
        compile_results = measure_compiles(
            names, leaf_counts, isolate=not quick, timeout=args.compile_timeout
        )
        report_compiles(compile_results)
    elapsed = time.perf_counter() - t_start
    print(f"\ntotal {elapsed:.0f} s")

    if args.json:
        write_json(args.json, {
            "benchmark": "step_time",
            "mode": "quick" if quick else "full",
            "environment": env,
            "hyperparameter_check_max_abs_diff": equivalence,
            "step_time": step_results,
            "compile_time": compile_results,
            "elapsed_s": elapsed,
        })


if __name__ == "__main__":
    main()
