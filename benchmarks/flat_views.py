"""Views of flat params and their gradients: which formulation XLA runs fastest.

What is measured
----------------
The residual MLP of ``train_step.py`` (6 leaves per block + 6) with its params
held flat, ``flat = gradtx.flat.ravel(params)`` (one float32 bucket), and one
jitted training step (params donated) per *formulation* of the views
``flat → tree`` used inside the loss::

    loss, g = jax.value_and_grad(lambda f: loss_fn(views(f), x, y))(flat)
    flat = jax.tree.map(lambda p, g: p - 1e-3 * g, flat, g)

Formulations (forward views / gradient, as autodiff or a ``custom_vjp`` makes it):

* ``tree``: no flat buffer, the params tree itself (the reference);
* ``split``: ``lax.split`` of each bucket (what ``jnp.split`` and
  ``jax.flatten_util.ravel_pytree`` do) / its transpose, one ``concatenate``
  per bucket; this is ``flat.unravel()``;
* ``slice``: one ``lax.slice`` per leaf / ``pad`` + ``add`` per leaf;
* ``dynamic_slice``: one ``lax.dynamic_slice`` per leaf at a constant offset /
  ``dynamic_update_slice`` into zeros + ``add`` per leaf;
* ``custom_vjp``: ``lax.slice`` per leaf / a ``custom_vjp`` whose backward is
  one ``concatenate`` per bucket;
* ``stacked``: buckets of equal-shaped leaves (``ravel(params, group=shape)``),
  each reshaped to ``(n, *shape)`` and split along its first axis (one split per
  bucket) / one ``concatenate`` per bucket along that axis;
* ``split+adamw`` and ``tree+adamw``: the same step with
  ``gradtx.chain(clip_by_global_norm(1.0), adamw(1e-3))`` instead of the SGD line,
  on the flat params (``split`` views) and on the tree: what a user of the
  flat path gets.

For each: the compile time (trace + lower + compile of a fresh ``jax.jit``, wall
and process CPU time, the median of ``--compile-rounds`` compiles in alternating
order, after one warmup compile of every formulation on a one-block model), the
median step time over interleaved rounds (``_common.time_interleaved``), and
instruction counts of the optimized HLO (``compiled.as_text()``): fusions and all
ops (parameters, constants, tuples, get-tuple-elements and bitcasts excluded) in
the ENTRY computation, one per kernel launched, and the ops the formulations
differ by (slice, concatenate, pad, dynamic-update-slice, copy) in the whole
module, inside fusions included. Every formulation's gradient is checked
against the tree gradient first.

``--quick``: the 144-leaf model (width 256) only, 2 warmup calls, 21 rounds
(about a minute and a half on 2 CPU cores; a smoke test: under load, 21 rounds
do not separate formulations a few % apart). The full run adds a 504-leaf model
at width 64 (83 blocks): XLA:CPU's compile time grows about quadratically with
the model's op count here (the 1002-leaf tree step alone took 7 minutes to
compile on 2 cores, whatever the width), so ``--models 166:64`` is left to
whoever has the time. ``docs/flat-views.md`` has the commands and the figures.

    python benchmarks/flat_views.py --quick
    python benchmarks/flat_views.py --json flat_views.json
"""

from __future__ import annotations

import argparse
import collections
import re
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from _common import (
    environment,
    fmt_ms,
    print_environment,
    print_table,
    summarize,
    time_interleaved,
    write_json,
)
from jax import lax
from train_step import init_mlp, loss_fn

import gradtx
from gradtx.flat import FlatParams, Layout

SGD_LR = 1e-3
FORMULATIONS = ("tree", "split", "slice", "dynamic_slice", "custom_vjp", "stacked",
                "tree+adamw", "split+adamw")
COUNTED_OPS = ("slice", "concatenate", "pad", "dynamic-update-slice", "copy")


# ----------------------------------------------------------------------------- views


def _leaf_pieces(layout: Layout, b: int, buffer: jax.Array, slicer: Callable) -> list:
    return [slicer(buffer, layout.leaves[i]).reshape(layout.leaves[i].shape)
            for i in layout.buckets[b].leaves]


def _assemble(layout: Layout, per_bucket: list[list[jax.Array]]) -> Any:
    out: list[Any] = [None] * len(layout.leaves)
    for b, views in enumerate(per_bucket):
        for i, v in zip(layout.buckets[b].leaves, views, strict=True):
            out[i] = v
    return layout.treedef.unflatten(out)


def views_split(flat: FlatParams) -> Any:
    return flat.unravel()


def views_slice(flat: FlatParams) -> Any:
    layout = flat.layout
    return _assemble(layout, [
        _leaf_pieces(layout, b, buf, lambda x, leaf: lax.slice(x, (leaf.offset,),
                                                               (leaf.offset + leaf.size,)))
        for b, buf in enumerate(flat.buffers)])


def views_dynamic_slice(flat: FlatParams) -> Any:
    layout = flat.layout
    return _assemble(layout, [
        _leaf_pieces(layout, b, buf, lambda x, leaf: lax.dynamic_slice(x, (leaf.offset,),
                                                                       (leaf.size,)))
        for b, buf in enumerate(flat.buffers)])


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _sliced(layout: Layout, buffers: tuple[jax.Array, ...]) -> Any:
    return views_slice(FlatParams(buffers, layout))


def _sliced_fwd(layout, buffers):
    return _sliced(layout, buffers), None


def _sliced_bwd(layout, _, cotangent):
    leaves = layout.treedef.flatten_up_to(cotangent)
    return (tuple(layout.bucket_from_leaves(b, [leaves[i] for i in spec.leaves])
                  for b, spec in enumerate(layout.buckets)),)


_sliced.defvjp(_sliced_fwd, _sliced_bwd)


def views_custom_vjp(flat: FlatParams) -> Any:
    return _sliced(flat.layout, flat.buffers)


def views_stacked(flat: FlatParams) -> Any:
    layout = flat.layout
    per_bucket = []
    for b, buf in enumerate(flat.buffers):
        spec = layout.buckets[b]
        shape = layout.leaves[spec.leaves[0]].shape
        stacked = buf.reshape((len(spec.leaves), *shape))
        pieces = lax.split(stacked, [1] * len(spec.leaves), axis=0)
        per_bucket.append([p.reshape(shape) for p in pieces])
    return _assemble(layout, per_bucket)


VIEWS = {"split": views_split, "slice": views_slice, "dynamic_slice": views_dynamic_slice,
         "custom_vjp": views_custom_vjp, "stacked": views_stacked, "split+adamw": views_split}


def to_params(formulation: str, params: Any) -> Any:
    if formulation.startswith("tree"):
        return params
    if formulation == "stacked":
        return gradtx.flat.ravel(params, group=jax.tree.map(lambda a: str(a.shape), params))
    return gradtx.flat.ravel(params)


# ----------------------------------------------------------------------------- steps


def make_step(formulation: str) -> tuple[Callable, Callable]:
    """(init(params) -> state, step(params, state, x, y) -> (params, state, loss))."""
    views = VIEWS.get(formulation, lambda p: p)

    def loss(p, x, y):
        return loss_fn(views(p), x, y)

    if formulation.endswith("+adamw"):
        tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adamw(1e-3))

        def step(p, state, x, y):
            value, g = jax.value_and_grad(loss)(p, x, y)
            updates, state = tx.update(g, state, p)
            return gradtx.apply_updates(p, updates), state, value

        return tx.init, step

    def sgd_step(p, state, x, y):
        value, g = jax.value_and_grad(loss)(p, x, y)
        return jax.tree.map(lambda a, b: a - SGD_LR * b, p, g), state, value

    return lambda p: (), sgd_step


def _opcode(line: str) -> str | None:
    """The opcode of one HLO instruction line, or None."""
    m = re.match(r"\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(.*)", line)
    if not m:
        return None
    rest = m.group(1)
    if rest.startswith("("):  # a tuple shape: skip to its closing parenthesis
        depth = 0
        for j, ch in enumerate(rest):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                rest = rest[j + 1:]
                break
    else:
        rest = rest.split(" ", 1)[1] if " " in rest else ""
    op = re.match(r"\s*([\w\-]+)\(", rest)
    return op.group(1) if op else None


def _computations(text: str) -> dict[str, list[str]]:
    """The body lines of every named computation of an HLO module text."""
    comps: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^(?:ENTRY )?%?([\w.\-]+) \(.*\) -> .* \{$", line)
        if m:
            current = m.group(1)
            comps[current] = []
        elif line.startswith("}"):
            current = None
        elif current is not None:
            comps[current].append(line)
    return comps


def hlo_counts(text: str) -> dict[str, int]:
    """Instruction counts of optimized HLO text.

    ``fusions`` and ``ops`` (all but parameters, constants, tuples,
    get-tuple-elements and bitcasts): in the ENTRY computation, so one per
    kernel launched. ``kernels``: distinct fused computations among those
    fusions (names and metadata ignored), about the number of kernels XLA:CPU
    compiles, as it compiles identical fusions once. The opcodes of
    ``COUNTED_OPS``: in the whole module, inside fusions included.
    """
    comps = _computations(text)
    entry_name = re.search(r"\nENTRY %?([\w.\-]+)", text).group(1)
    entry = comps[entry_name]
    top = collections.Counter(_opcode(line) for line in entry)
    bodies = set()
    for line in entry:
        m = re.search(r" fusion\(.*kind=(\w+), calls=%?([\w.\-]+)", line)
        if m:
            body = "\n".join(comps[m.group(2)])
            body = re.sub(r", metadata=\{[^}]*\}", "", body)
            bodies.add(m.group(1) + re.sub(r"%[\w.\-]+", "%", body))
    everywhere = collections.Counter(_opcode(line) for line in text.splitlines())
    skip = {None, "parameter", "constant", "tuple", "get-tuple-element", "bitcast"}
    out = {"fusions": top["fusion"], "kernels": len(bodies),
           "ops": sum(n for k, n in top.items() if k not in skip)}
    out.update({k: everywhere[k] for k in COUNTED_OPS})
    return out


def compile_step(formulation: str, params: Any, x: jax.Array, y: jax.Array):
    """(compiled step, seconds of wall and CPU time for trace+lower+compile, HLO counts).

    On a fresh ``jax.jit``. The process CPU time (all threads) is less sensitive
    to other load on a shared machine than the wall time.
    """
    init, step = make_step(formulation)
    p = to_params(formulation, params)
    state = jax.eval_shape(init, p)
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), p)
    jitted = jax.jit(step, donate_argnums=(0, 1))
    t0, c0 = time.perf_counter(), time.process_time()
    compiled = jitted.trace(shapes, state, x, y).lower().compile()
    seconds = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    return compiled, seconds, hlo_counts(compiled.as_text())


def check_gradients(width: int, batch: int) -> None:
    """Every formulation's gradient, unravelled, equals the tree gradient (on a 2-block model)."""
    kp, kx, ky = jax.random.split(jax.random.key(2), 3)
    params = init_mlp(kp, 2, width, width, width)
    x = jax.random.normal(kx, (batch, width), jnp.float32)
    y = jax.random.normal(ky, (batch, width), jnp.float32)
    ref = jax.grad(loss_fn)(params, x, y)
    for name, views in VIEWS.items():
        p = to_params(name, params)
        g = jax.jit(jax.grad(lambda f, views=views: loss_fn(views(f), x, y)))(p)
        for a, b in zip(jax.tree.leaves(g.unravel()), jax.tree.leaves(ref), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=name)


def measure_model(n_blocks: int, width: int, batch: int, warmup: int, repeats: int,
                  compile_rounds: int, formulations: tuple[str, ...]) -> dict[str, Any]:
    kp, kx, ky = jax.random.split(jax.random.key(0), 3)
    params = init_mlp(kp, n_blocks, width, width, width)
    x = jax.random.normal(kx, (batch, width), jnp.float32)
    y = jax.random.normal(ky, (batch, width), jnp.float32)
    n_leaves = len(jax.tree.leaves(params))
    check_gradients(width, batch)
    result: dict[str, Any] = {"blocks": n_blocks, "leaves": n_leaves, "width": width,
                              "batch": batch, "formulations": {f: {} for f in formulations}}
    seconds: dict[str, list[dict[str, float]]] = {f: [] for f in formulations}
    compiled = {}
    for r in range(compile_rounds):
        for f in formulations if r % 2 == 0 else formulations[::-1]:
            compiled[f], s, counts = compile_step(f, params, x, y)
            seconds[f].append(s)
            result["formulations"][f]["hlo"] = counts
            print(f"  {n_leaves} leaves, {f:<14} compiled in {s['wall_s']:6.2f} s "
                  f"({s['cpu_s']:6.2f} s CPU); {counts}", flush=True)
    runners = {}
    for f in formulations:
        for k in ("wall_s", "cpu_s"):
            result["formulations"][f][f"compile_{k}"] = statistics.median(s[k] for s in seconds[f])
        result["formulations"][f]["compile_rounds"] = seconds[f]
        init, _ = make_step(f)
        p0 = to_params(f, jax.tree.map(jnp.copy, params))
        carry = [p0, init(p0)]

        def run(fn=compiled[f], carry=carry):
            carry[0], carry[1], value = fn(carry[0], carry[1], x, y)
            return carry, value

        runners[f] = run
    samples = time_interleaved(runners, repeats=repeats, warmup=warmup)
    for f in formulations:
        result["formulations"][f]["step"] = summarize(samples[f])
    return result


def warm_caches(width: int, batch: int, formulations: tuple[str, ...]) -> None:
    """Compiles every formulation once on a one-block model (jax's and jnp's own caches)."""
    params = init_mlp(jax.random.key(1), 1, width, width, width)
    x = jnp.zeros((batch, width), jnp.float32)
    for f in formulations:
        compile_step(f, params, x, x)


def report(results: list[dict[str, Any]]) -> None:
    rows = []
    for r in results:
        fs = r["formulations"]
        for f, d in fs.items():
            base = fs["tree+adamw" if f.endswith("+adamw") else "tree"]
            step = d["step"]["median_ms"]
            rows.append([
                f"{r['leaves']} leaves / {f}", fmt_ms(step),
                f"{step / base['step']['median_ms']:.2f}",
                f"{d['compile_wall_s']:.2f}", f"{d['compile_cpu_s']:.2f}",
                f"{d['compile_cpu_s'] / base['compile_cpu_s']:.2f}",
                *(str(d["hlo"][k]) for k in ("fusions", "kernels", "ops", *COUNTED_OPS)),
            ])
    print_table(
        "fwd+bwd+SGD (or +clip+AdamW) with flat params: median step time and compile time, "
        "as ratios to the tree params of the same step; optimized-HLO instruction counts",
        ["model / formulation", "step ms", "step ratio", "compile s", "compile CPU s",
         "CPU ratio", "fusions", "kernels", "ops", *COUNTED_OPS],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="the 144-leaf model only, 21 rounds (1.5 min on 2 cores)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--models", help="comma-separated blocks:width pairs "
                                         "(default 23:256,83:64; quick 23:256)")
    parser.add_argument("--formulations", help=f"comma-separated, from {','.join(FORMULATIONS)}")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--repeats", type=int, help="measured rounds (default 21)")
    parser.add_argument("--warmup", type=int, help="warmup calls (default 3; quick 2)")
    parser.add_argument("--compile-rounds", type=int, default=1,
                        help="compiles of each formulation, alternating the order (default 1)")
    args = parser.parse_args()

    models = args.models or ("23:256" if args.quick else "23:256,83:64")
    models_list = [tuple(int(v) for v in m.split(":")) for m in models.split(",")]
    formulations = tuple(args.formulations.split(",")) if args.formulations else FORMULATIONS
    for needed in ("tree", "tree+adamw"):
        if any(f.endswith("+adamw") == needed.endswith("+adamw") for f in formulations) \
                and needed not in formulations:
            formulations = (needed, *formulations)
    repeats = args.repeats or 21
    warmup = args.warmup or (2 if args.quick else 3)

    env = environment()
    print_environment(env)
    t0 = time.perf_counter()
    results = []
    for n_blocks, width in models_list:
        print(f"[{time.perf_counter() - t0:5.1f} s] {n_blocks} blocks, width {width} ...",
              flush=True)
        warm_caches(width, args.batch, formulations)
        results.append(measure_model(n_blocks, width, args.batch, warmup, repeats,
                                     args.compile_rounds, formulations))
    report(results)
    elapsed = time.perf_counter() - t0
    print(f"\ntotal {elapsed:.0f} s")
    if args.json:
        write_json(args.json, {"benchmark": "flat_views", "quick": args.quick, "environment": env,
                               "repeats": repeats, "warmup": warmup, "models": results,
                               "elapsed_s": elapsed})


if __name__ == "__main__":
    main()
