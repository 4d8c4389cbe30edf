"""A whole jitted training step: what an optimizer adds to forward + backward.

What is measured
----------------
A residual MLP with LayerNorm, written in plain JAX (so that the leaf count is
exact and no framework overhead is counted): an input projection, ``B``
residual blocks ``h ← h + W2 · gelu(W1 · LayerNorm(h) + b1) + b2``, a final
LayerNorm and a linear head; 6 leaves per block + 6, so ``B = 23`` gives 144
leaves and ``B = 166`` gives 1002. Mean squared error on a fixed random batch.

The ~1000-leaf model is an embedding-table model (``tablesN``): ``N`` tables of
32 × 4 (one per categorical feature, as in recommendation and tabular models),
each looked up with its own integer column of the batch, the lookups
concatenated and passed through two GELU dense layers of width 64 and a linear
head; ``N + 6`` leaves, so ``tables996`` has 1002. It has the leaf count of a
large model with few operations per leaf, so that XLA:CPU compiles it in under
a minute on 2 cores (the 166-block MLP does not, see below).

Each training step is one ``jax.jit`` with the params and the optimizer
state donated, and is built these ways (``--variants`` picks some):

* ``fwd+bwd``: ``jax.value_and_grad`` then plain SGD written by hand
  (θ ← θ − 10⁻³ g): the gradients are computed and consumed, no optimizer;
* ``gradtx``: ``gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(1e-3))``
  (gradtx's default weight decay λ = 1e-2);
* ``gradtx-static``: the same under ``gradtx.static_hyperparams`` (hyperparameters
  compiled in as constants);
* ``optax``: ``optax.chain(optax.clip_by_global_norm(1.0),
  optax.adamw(1e-3, weight_decay=1e-2))``, the same math;
* ``gradtx-flat``: the gradtx optimizer on flat params — the params are a
  ``gradtx.flat.FlatParams`` (``ravel`` once, before training), the loss is
  taken of ``flat.unravel()``, the gradient with respect to the flat buffers, and
  the update runs once per bucket;
* ``gradtx-flat-static``: ``gradtx-flat`` under ``gradtx.static_hyperparams``;
* ``gradtx-flat-hybrid``: as ``gradtx-flat``, but every leaf of two or more
  dimensions (the matrices the model multiplies by) in a bucket of its own
  (``ravel(params, group=...)``), the small leaves together: the dots then read
  whole buffers instead of views;
* ``gradtx-flatten``: tree params, the optimizer ``gradtx.flat.flatten(tx)``
  (gradients concatenated into flat buffers every step, updates split back).

For each: the compile time (``trace``, ``lower``, ``compile`` stages timed on
a fresh ``jax.jit``, after a warmup of the same three steps on a one-block
model so that jnp's own caches are warm, as in a real program) and the median
step time (each call followed by ``jax.block_until_ready``, warmup calls
excluded, the three variants called alternately, one call each per round).
The optimizer's overhead is reported as (variant − fwd+bwd) / fwd+bwd, in %,
for step time and for compile time (trace + lower + compile).

``--quick``: the 144-leaf model only, 2 warmup calls and 15 rounds, one
compile each. The full run: 144 leaves at width 256, 504 leaves at width 64 and
the 1002-leaf table model, 3 warmup calls and 31 rounds, one compile each.
XLA:CPU's compile time of the MLP grows about quadratically with its op count
whatever the width (20 blocks 2.2 s, 40 blocks 6–10 s, 80 blocks 55–87 s, 166
blocks 417 s for fwd+bwd alone on 2 cores; a profile of the 80-block compile
spends a quarter of it in LLVM's scoped-alias analysis, and turning XLA's alias
metadata off does not shorten it), so the 1002-leaf MLP (``--models 166x64``)
is left to accelerators and patient runs. ``--compile-rounds N`` compiles each
variant N times, alternating the order, and reports the medians;
``--models 23x256,tables996`` picks the models.

Runs unchanged on CPU or GPU: ``jax.devices()`` is printed first.

    python benchmarks/train_step.py --quick
    python benchmarks/train_step.py --json train_step.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from _common import (
    environment,
    fmt_ms,
    fmt_pct,
    print_environment,
    print_table,
    summarize,
    time_interleaved,
    write_json,
)

import gradtx

LR = 1e-3
WEIGHT_DECAY = 1e-2
MAX_NORM = 1.0
SGD_LR = 1e-3

VARIANTS = ("fwd+bwd", "gradtx", "gradtx-static", "optax", "gradtx-flat", "gradtx-flat-static",
            "gradtx-flat-hybrid", "gradtx-flatten")
FLAT = ("gradtx-flat", "gradtx-flat-static", "gradtx-flat-hybrid")


def variants_for(kind: str) -> tuple[str, ...]:
    """The variants measured on a model. Every leaf of the table model but three biases is
    a matrix, so "matrices apart" would be one bucket per leaf (the per-leaf path again);
    it is left out there, and so is ``flatten(tx)``: compiling the sixth ~1000-leaf program
    in one process failed on 2 cores with LLVM's "Cannot allocate memory" while 17 GB were
    free (most likely the limit on memory mappings, 65530 there, as XLA:CPU maps each
    compiled kernel on its own)."""
    if kind == "tables":
        return tuple(v for v in VARIANTS
                     if v not in ("gradtx-flat-hybrid", "gradtx-flatten", "gradtx-flat-static"))
    return VARIANTS
# (kind, blocks or tables, width): 144 leaves at width 256, 504 at width 64, 1002 tables model
MODELS = (("mlp", 23, 256), ("mlp", 83, 64), ("tables", 996, 64))


def parse_model(spec: str) -> tuple[str, int, int]:
    """``"23x256"`` → a residual MLP of 23 blocks of width 256; ``"tables996"`` → 996 tables."""
    if spec.startswith("tables"):
        return "tables", int(spec.removeprefix("tables")), 64
    blocks, width = spec.split("x")
    return "mlp", int(blocks), int(width)


# ----------------------------------------------------------------------------- model


def _dense(key: jax.Array, n_in: int, n_out: int) -> dict[str, jax.Array]:
    return {
        "kernel": jax.random.normal(key, (n_in, n_out), jnp.float32) / jnp.sqrt(n_in),
        "bias": jnp.zeros((n_out,), jnp.float32),
    }


def _norm(width: int) -> dict[str, jax.Array]:
    return {"scale": jnp.ones((width,), jnp.float32), "bias": jnp.zeros((width,), jnp.float32)}


def init_mlp(key: jax.Array, n_blocks: int, width: int, d_in: int, d_out: int) -> dict[str, Any]:
    """Params of the residual MLP: 6 leaves per block + 6."""
    keys = jax.random.split(key, 2 * n_blocks + 2)
    params: dict[str, Any] = {"input": _dense(keys[0], d_in, width)}
    for i in range(n_blocks):
        params[f"block_{i:03d}"] = {
            "norm": _norm(width),
            "dense1": _dense(keys[2 * i + 1], width, width),
            "dense2": _dense(keys[2 * i + 2], width, width),
        }
    params["final_norm"] = _norm(width)
    params["head"] = _dense(keys[-1], width, d_out)
    return params


def _layer_norm(h: jax.Array, p: dict[str, jax.Array]) -> jax.Array:
    mean = jnp.mean(h, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(h - mean), axis=-1, keepdims=True)
    return (h - mean) * jax.lax.rsqrt(var + 1e-6) * p["scale"] + p["bias"]


def _apply_dense(h: jax.Array, p: dict[str, jax.Array]) -> jax.Array:
    return h @ p["kernel"] + p["bias"]


TABLE_VOCAB, TABLE_DIM = 32, 4


def init_tables(key: jax.Array, n_tables: int, width: int, d_out: int) -> dict[str, Any]:
    """Params of the embedding-table model: ``n_tables`` tables of 32 × 4 + 3 dense layers."""
    keys = jax.random.split(key, n_tables + 3)
    return {
        "tables": {f"t{i:04d}": jax.random.normal(keys[i], (TABLE_VOCAB, TABLE_DIM), jnp.float32)
                   for i in range(n_tables)},
        "dense1": _dense(keys[-3], n_tables * TABLE_DIM, width),
        "dense2": _dense(keys[-2], width, width),
        "head": _dense(keys[-1], width, d_out),
    }


def _forward_tables(params: dict[str, Any], x: jax.Array) -> jax.Array:
    tables = params["tables"]
    e = jnp.concatenate([tables[k][x[:, i]] for i, k in enumerate(sorted(tables))], axis=1)
    h = jax.nn.gelu(_apply_dense(e, params["dense1"]))
    h = jax.nn.gelu(_apply_dense(h, params["dense2"]))
    return _apply_dense(h, params["head"])


def forward(params: dict[str, Any], x: jax.Array) -> jax.Array:
    if "tables" in params:
        return _forward_tables(params, x)
    h = _apply_dense(x, params["input"])
    for name in sorted(k for k in params if k.startswith("block_")):
        p = params[name]
        z = jax.nn.gelu(_apply_dense(_layer_norm(h, p["norm"]), p["dense1"]))
        h = h + _apply_dense(z, p["dense2"])
    return _apply_dense(_layer_norm(h, params["final_norm"]), params["head"])


def loss_fn(params: dict[str, Any], x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.square(forward(params, x) - y))


# ----------------------------------------------------------------------------- steps


def _gradtx_tx() -> gradtx.GradientTransformation:
    return gradtx.chain(gradtx.clip_by_global_norm(MAX_NORM), gradtx.adamw(LR))


def make_optimizer(variant: str) -> tuple[Any, Callable] | None:
    if variant.endswith("-static"):
        return gradtx.static_hyperparams(_gradtx_tx()), gradtx.apply_updates
    if variant in ("gradtx", *FLAT):
        return _gradtx_tx(), gradtx.apply_updates
    if variant == "gradtx-flatten":
        return gradtx.flat.flatten(_gradtx_tx()), gradtx.apply_updates
    if variant == "optax":
        tx = optax.chain(optax.clip_by_global_norm(MAX_NORM),
                         optax.adamw(LR, weight_decay=WEIGHT_DECAY))
        return tx, optax.apply_updates
    return None


def make_step(variant: str) -> tuple[Callable, Callable]:
    """(init(params) -> state, step(params, state, x, y) -> (params, state, loss))."""
    opt = make_optimizer(variant)
    if opt is None:
        def no_state(params):
            del params
            return ()

        def sgd_step(params, state, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            return jax.tree.map(lambda p, g: p - SGD_LR * g, params, grads), state, loss

        return no_state, sgd_step
    tx, apply = opt
    loss_of = flat_loss_fn if variant in FLAT else loss_fn

    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_of)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return apply(params, updates), state, loss

    return tx.init, step


def flat_loss_fn(flat: gradtx.flat.FlatParams, x: jax.Array, y: jax.Array) -> jax.Array:
    return loss_fn(flat.unravel(), x, y)


def matrices_apart(tree: Any) -> Any:
    """Group labels: each leaf of 2+ dimensions its own, the others ``"small"``."""
    return jax.tree_util.tree_map_with_path(
        lambda path, x: jax.tree_util.keystr(path) if x.ndim >= 2 else "small", tree)


def params_for(variant: str, params: Any) -> Any:
    """The params a variant trains: flat buffers for the flat variants, else the tree."""
    if variant in ("gradtx-flat", "gradtx-flat-static"):
        return gradtx.flat.ravel(params)
    if variant == "gradtx-flat-hybrid":
        return gradtx.flat.ravel(params, group=matrices_apart)
    return params


def compile_step(variant: str, params: Any, x: jax.Array, y: jax.Array) -> tuple[Any, dict]:
    """(compiled step, seconds of each stage) on a fresh ``jax.jit``."""
    init, step = make_step(variant)
    params = params_for(variant, params)
    state = jax.eval_shape(init, params)
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), params)
    jitted = jax.jit(step, donate_argnums=(0, 1))
    t0 = time.perf_counter()
    traced = jitted.trace(shapes, state, x, y)
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    compiled = lowered.compile()
    t3 = time.perf_counter()
    return compiled, {"trace_s": t1 - t0, "lower_s": t2 - t1, "compile_s": t3 - t2,
                      "total_s": t3 - t0}


def make_data(kind: str, n: int, width: int, batch: int, key: jax.Array) -> tuple[Any, ...]:
    """(params, x, y) of the residual MLP (``kind="mlp"``, ``n`` blocks) or of the
    embedding-table model (``kind="tables"``, ``n`` tables, ``x`` integer indices)."""
    kp, kx, ky = jax.random.split(key, 3)
    y = jax.random.normal(ky, (batch, width), jnp.float32)
    if kind == "tables":
        x = jax.random.randint(kx, (batch, n), 0, TABLE_VOCAB)
        return init_tables(kp, n, width, width), x, y
    x = jax.random.normal(kx, (batch, width), jnp.float32)
    return init_mlp(kp, n, width, width, width), x, y


def measure_model(
    kind: str, n_blocks: int, width: int, batch: int, warmup: int, repeats: int,
    compile_rounds: int, only: set[str] | None = None
) -> dict[str, Any]:
    params, x, y = make_data(kind, n_blocks, width, batch, jax.random.key(0))
    variants = tuple(v for v in variants_for(kind) if only is None or v in only)
    n_leaves = len(jax.tree.leaves(params))
    n_params = sum(a.size for a in jax.tree.leaves(params))

    compile_samples: dict[str, list[dict]] = {v: [] for v in variants}
    compiled: dict[str, Any] = {}
    for r in range(compile_rounds):
        for v in variants if r % 2 == 0 else variants[::-1]:
            compiled[v], stages = compile_step(v, params, x, y)
            compile_samples[v].append(stages)
            print(f"  compiled {v:<8} ({n_leaves} leaves): total {stages['total_s']:.2f} s",
                  flush=True)

    runners = {}
    for v in variants:
        init, _ = make_step(v)
        p0 = jax.tree.map(jnp.copy, params_for(v, params))
        carry = [p0, init(p0)]

        def run(fn=compiled[v], carry=carry):
            carry[0], carry[1], loss = fn(carry[0], carry[1], x, y)
            return carry, loss

        runners[v] = run
    samples = time_interleaved(runners, repeats=repeats, warmup=warmup)

    result: dict[str, Any] = {"model": kind, "blocks": n_blocks, "leaves": n_leaves,
                              "params": int(n_params), "width": width, "batch": batch,
                              "variants": {}}
    for v in variants:
        stages = {k: statistics.median(s[k] for s in compile_samples[v])
                  for k in compile_samples[v][0]}
        result["variants"][v] = {"step": summarize(samples[v]), "compile": stages,
                                 "compile_rounds": compile_samples[v]}
    return result


def warm_caches(kind: str, width: int, batch: int) -> None:
    """Traces and compiles every step once on a one-block (one-table) model (jnp's caches)."""
    params, x, y = make_data(kind, 1, width, batch, jax.random.key(1))
    for v in variants_for(kind):
        compile_step(v, params, x, y)


# ----------------------------------------------------------------------------- report


def report(results: list[dict[str, Any]]) -> None:
    rows = []
    for r in results:
        base = r["variants"]["fwd+bwd"]
        for v in r["variants"]:
            d = r["variants"][v]
            step, comp = d["step"]["median_ms"], d["compile"]["total_s"]
            step_over = None if v == "fwd+bwd" else 100 * (step / base["step"]["median_ms"] - 1)
            comp_over = None if v == "fwd+bwd" else 100 * (comp / base["compile"]["total_s"] - 1)
            rows.append([
                f"{r['leaves']} leaves{' (tables)' if r['model'] == 'tables' else ''} / {v}",
                fmt_ms(step),
                "-" if step_over is None else fmt_pct(step_over),
                f"{d['compile']['trace_s'] + d['compile']['lower_s']:.2f}",
                f"{d['compile']['compile_s']:.2f}",
                f"{comp:.2f}",
                "-" if comp_over is None else fmt_pct(comp_over),
            ])
    print_table(
        "Training step (residual MLP; embedding tables): median step time and compile "
        "time; overhead = "
        "(variant - fwd+bwd) / fwd+bwd",
        ["model / variant", "step ms", "step overhead", "trace+lower s", "compile s",
         "total compile s", "compile overhead"],
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
                        help="the 144-leaf model only, 15 rounds, one compile each "
                             "(under a minute on 2 cores)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--models", help="comma-separated models: BLOCKSxWIDTH residual MLPs "
                                         "and tablesN (N embedding tables, width 64); default "
                                         "23x256,83x64,tables996 = 144, 504 and 1002 leaves; "
                                         "quick 23x256")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--repeats", type=int, help="measured rounds (default 31; quick 15)")
    parser.add_argument("--warmup", type=int, help="warmup calls (default 3; quick 2)")
    parser.add_argument("--compile-rounds", type=int,
                        help="compiles of each variant (default 1)")
    parser.add_argument("--variants", help=f"comma-separated subset of {list(VARIANTS)} "
                                           "(fwd+bwd is always measured)")
    args = parser.parse_args()

    quick = args.quick
    models = ([parse_model(m) for m in args.models.split(",")]
              if args.models else list(MODELS[:1] if quick else MODELS))
    repeats = args.repeats or (15 if quick else 31)
    warmup = args.warmup or (2 if quick else 3)
    compile_rounds = args.compile_rounds or 1
    only = None
    if args.variants:
        only = {"fwd+bwd", *args.variants.split(",")}
        unknown = sorted(only - set(VARIANTS))
        if unknown:
            parser.error(f"--variants: unknown {unknown}; known {list(VARIANTS)}")

    env = environment()
    print_environment(env)
    t_start = time.perf_counter()
    results = []
    for kind, n, width in models:
        warm_caches(kind, width, args.batch)
        what = "tables" if kind == "tables" else "blocks"
        print(f"[{time.perf_counter() - t_start:5.1f} s] model with {n} {what} of width "
              f"{width} ...", flush=True)
        results.append(measure_model(kind, n, width, args.batch, warmup, repeats,
                                     compile_rounds, only))
    report(results)
    elapsed = time.perf_counter() - t_start
    print(f"\ntotal {elapsed:.0f} s")
    if args.json:
        write_json(args.json, {
            "benchmark": "train_step",
            "mode": "quick" if quick else "full",
            "environment": env,
            "repeats": repeats,
            "warmup": warmup,
            "models": results,
            "elapsed_s": elapsed,
        })


if __name__ == "__main__":
    main()
