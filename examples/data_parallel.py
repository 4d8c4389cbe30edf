"""Data-parallel training over several processes: ZeRO-1 optimizer state, resumable checkpoints.

    python examples/data_parallel.py                          # 1 process, 4 host CPU devices
    python examples/data_parallel.py --processes 2            # 2 processes on 127.0.0.1
    python examples/data_parallel.py --processes 2 --checkpoint-dir ckpt   # kill it, rerun: resumes

A Flax NNX classifier on scikit-learn's bundled digits, trained with a gradtx chain
(clip + AdamW) on a one-axis mesh ``data`` over every device of every process. The
params are replicated; with ``--zero`` (the default) every per-parameter state buffer is
split over ``data`` (ZeRO-1, ``gradtx.sharding.state_shardings``). Each process feeds its own
rows of every global batch. JAX does the rest: ``jax.distributed`` joins the processes
(the coordinator on 127.0.0.1, gloo collectives between the CPU devices), ``jit`` with
shardings computes each device's share and gathers the params, Orbax writes and reads
the checkpoints (asynchronously, every ``--checkpoint-every`` steps; a rerun resumes
from the newest checkpoint that restores).

With ``--processes N`` this script starts N copies of itself, each a process of the run
(``--process-id``, ``--coordinator``), waits for them, and ends them all, by PID, if one
fails or ``--timeout`` passes. Process 0 prints the loss and writes ``final_params.npz``,
``final_state.npz`` and ``data_parallel.json`` to ``--out-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="data_parallel.py",
        description=__doc__.split("\n\n")[2].replace("\n", " ").replace("``", ""),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--processes", type=int, default=1,
                   help="number of processes; more than 1 starts them here, on 127.0.0.1")
    p.add_argument("--devices", type=int, default=4,
                   help="host CPU devices in all, split evenly between the processes")
    p.add_argument("--steps", type=int, default=200, help="training steps in all")
    p.add_argument("--batch-size", type=int, default=64,
                   help="global batch size (split evenly between the processes)")
    p.add_argument("--learning-rate", type=float, default=3e-3, help="AdamW's learning rate")
    p.add_argument("--width", type=int, default=64, help="units of each of the 2 hidden layers")
    p.add_argument("--data", choices=("digits", "synthetic"), default="digits",
                   help="digits: scikit-learn's bundled 8x8 digits; synthetic: 10 Gaussian "
                        "clusters in 64 dimensions, made with NumPy (no scikit-learn import)")
    p.add_argument("--zero", action=argparse.BooleanOptionalAction, default=True,
                   help="shard the optimizer state over the data axis (ZeRO-1)")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="Orbax checkpoints of params and state here; resume from the newest")
    p.add_argument("--checkpoint-every", type=int, default=10,
                   help="save a checkpoint every this many steps (asynchronously)")
    p.add_argument("--keep", type=int, default=3, help="checkpoints to keep")
    p.add_argument("--log-every", type=int, default=10, help="print the loss every this many steps")
    p.add_argument("--out-dir", type=Path, default=Path("outputs") / "data_parallel",
                   help="folder for final_params.npz, final_state.npz, data_parallel.json")
    p.add_argument("--seed", type=int, default=0, help="random seed (initialization, batches)")
    p.add_argument("--smoke", action="store_true",
                   help="20 steps with batch 32, to check that the script runs")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds the processes may run before all are ended")
    p.add_argument("--process-id", type=int, default=None,
                   help="this process's index in the run (set by --processes)")
    p.add_argument("--coordinator", default=None,
                   help="host:port of process 0's coordinator (set by --processes)")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    if args.smoke:
        args.steps, args.batch_size = 20, 32
    for name in ("processes", "devices", "steps", "batch_size", "width", "checkpoint_every",
                 "keep", "log_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.devices % args.processes or args.batch_size % args.devices:
        p.error(f"--devices ({args.devices}) must be a multiple of --processes "
                f"({args.processes}), and --batch-size ({args.batch_size}) of --devices")
    if args.processes > 1 and args.process_id is not None and args.coordinator is None:
        p.error("--process-id needs --coordinator host:port")
    return args


# ---------------------------------------------------------------------- launcher


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(argv: list[str], processes: int) -> int:
    """Runs ``processes`` copies of this script as one run; their first failing exit code."""
    coordinator = f"127.0.0.1:{free_port()}"
    children = [subprocess.Popen([sys.executable, __file__, *argv, "--process-id", str(i),
                                  "--coordinator", coordinator])
                for i in range(processes)]
    deadline = time.monotonic() + parse_args(argv).timeout
    try:
        while any(c.poll() is None for c in children):
            if any(c.returncode not in (None, 0) for c in children):
                break
            if time.monotonic() > deadline:
                print("data_parallel: the processes ran past --timeout; ending them",
                      file=sys.stderr)
                break
            time.sleep(0.1)
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait()
    codes = [c.returncode for c in children]
    return next((code for code in codes if code != 0), 0)


# ---------------------------------------------------------------------- one process


def optimizer(learning_rate: float):
    """The optimizer: clip the gradient's global norm, then AdamW."""
    import gradtx

    return gradtx.chain(gradtx.clip_by_global_norm(1.0),
                        gradtx.adamw(learning_rate, weight_decay=1e-4))


def model(width: int, seed: int):
    """``(graphdef, make_params)``: the NNX classifier's graph, and a function that builds
    its params (a plain dict of arrays) from ``seed``."""
    import jax
    from flax import nnx

    class MLP(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            self.hidden1 = nnx.Linear(64, width, rngs=rngs)
            self.hidden2 = nnx.Linear(width, width, rngs=rngs)
            self.out = nnx.Linear(width, 10, rngs=rngs)

        def __call__(self, x):
            return self.out(jax.nn.relu(self.hidden2(jax.nn.relu(self.hidden1(x)))))

    def make_params():
        return nnx.to_pure_dict(nnx.state(MLP(nnx.Rngs(seed))))

    return nnx.graphdef(nnx.eval_shape(lambda: MLP(nnx.Rngs(seed)))), make_params


def dataset(name: str, seed: int):
    """``(x_train, y_train, x_test, y_test)``: 64 float32 features, 10 classes."""
    import numpy as np

    if name == "digits":
        from gradtx.experiments import load_digits

        d = load_digits(seed=seed)
        return d.x_train, d.y_train, d.x_test, d.y_test
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(10, 64))
    y = rng.integers(0, 10, 1280).astype(np.int32)
    x = (centers[y] + 1.5 * rng.normal(size=(len(y), 64))).astype(np.float32)
    return x[:1024], y[:1024], x[1024:], y[1024:]


def host_device_flags(count: int) -> str:
    """XLA_FLAGS with ``count`` host CPU devices (any other device count removed)."""
    flags = re.sub(r"--xla_force_host_platform_device_count=\S+", "",
                   os.environ.get("XLA_FLAGS", ""))
    return f"{flags} --xla_force_host_platform_device_count={count}".strip()


def train(args: argparse.Namespace) -> None:
    os.environ["XLA_FLAGS"] = host_device_flags(args.devices // args.processes)
    os.environ["JAX_PLATFORMS"] = "cpu"

    import jax
    import jax.numpy as jnp
    import numpy as np
    import orbax.checkpoint as ocp
    from flax import nnx
    from jax.experimental import multihost_utils
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import gradtx

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if args.processes > 1:
        jax.distributed.initialize(args.coordinator, args.processes, args.process_id,
                                   initialization_timeout=int(args.timeout))
    me, lead = jax.process_index(), jax.process_index() == 0
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    replicated, by_row = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))

    # Every process runs the same initialization (one jitted program), replicated on the mesh.
    graphdef, make_params = model(args.width, args.seed)
    params = jax.jit(make_params, out_shardings=replicated)()
    param_shardings = jax.tree.map(lambda a: a.sharding, params)

    tx = optimizer(args.learning_rate)
    zero_axis = "data" if args.zero else None
    state_shardings = gradtx.sharding.state_shardings(tx, params, zero_axis=zero_axis)
    opt_state = jax.jit(tx.init, out_shardings=state_shardings)(params)

    def loss_fn(params, x, y):
        log_p = jax.nn.log_softmax(nnx.merge(graphdef, params)(x))
        return -jnp.mean(jnp.sum(jax.nn.one_hot(y, 10, dtype=log_p.dtype) * log_p, axis=-1))

    # Each device updates its shard of the state; out_shardings gathers the params back.
    @partial(jax.jit, out_shardings=(param_shardings, state_shardings, replicated))
    def train_step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return gradtx.apply_updates(params, updates), opt_state, loss

    manager, start = None, 0
    if args.checkpoint_dir is not None:
        manager = ocp.CheckpointManager(
            args.checkpoint_dir.absolute(),
            options=ocp.CheckpointManagerOptions(save_interval_steps=args.checkpoint_every,
                                                 max_to_keep=args.keep))
        # The restore target: every leaf's shape, dtype and sharding on this run's mesh.
        target = {"params": jax.tree.map(lambda a: jax.ShapeDtypeStruct(
                      a.shape, a.dtype, sharding=a.sharding), params),
                  "opt_state": gradtx.sharding.abstract_state(tx, params, zero_axis=zero_axis)}
        found = gradtx.sharding.restore_latest(manager, target)
        if found is not None:
            start, restored = found
            params, opt_state = restored["params"], restored["opt_state"]
            if lead:
                print(f"resumed from the checkpoint of step {start}", flush=True)

    x_train, y_train, x_test, y_test = dataset(args.data, args.seed)
    rows = args.batch_size // args.processes
    losses = []
    with jax.set_mesh(mesh):
        for step in range(start, args.steps):
            batch = np.random.default_rng([args.seed, step]).choice(
                len(x_train), args.batch_size, replace=False)
            mine = batch[me * rows:(me + 1) * rows]  # this process's rows of the global batch
            x = jax.make_array_from_process_local_data(
                by_row, x_train[mine], (args.batch_size, 64))
            y = jax.make_array_from_process_local_data(
                by_row, y_train[mine], (args.batch_size,))
            params, opt_state, loss = train_step(params, opt_state, x, y)
            losses.append(float(loss))
            if manager is not None:
                manager.save(step + 1, args=ocp.args.StandardSave(
                    {"params": params, "opt_state": opt_state}))
            if lead and ((step + 1) % args.log_every == 0 or step + 1 == args.steps):
                print(f"step {step + 1} loss {losses[-1]:.4f}", flush=True)
    if manager is not None:
        if manager.latest_step() != args.steps:
            manager.save(args.steps, args=ocp.args.StandardSave(
                {"params": params, "opt_state": opt_state}), force=True)
        manager.wait_until_finished()
        manager.close()

    # Every process takes part in gathering the sharded state; process 0 writes it out.
    state_values = multihost_utils.process_allgather(opt_state, tiled=True)
    bytes_here = {}
    for leaf in jax.tree.leaves(opt_state):
        for shard in leaf.addressable_shards:
            bytes_here[str(shard.device)] = bytes_here.get(str(shard.device), 0) + shard.data.nbytes
    if lead:
        local = jax.tree.map(lambda a: np.asarray(a.addressable_data(0)), params)
        logits = jax.jit(lambda p, x: nnx.merge(graphdef, p)(x))(local, x_test)
        accuracy = float(np.mean(np.asarray(logits).argmax(-1) == y_test))
        named = lambda tree: {jax.tree_util.keystr(k): np.asarray(v)  # noqa: E731
                              for k, v in jax.tree_util.tree_leaves_with_path(tree)}
        args.out_dir.mkdir(parents=True, exist_ok=True)
        np.savez(args.out_dir / "final_params.npz", **named(local))
        np.savez(args.out_dir / "final_state.npz", **named(state_values))
        total = sum(leaf.nbytes for leaf in jax.tree.leaves(opt_state))
        summary = {
            "processes": args.processes, "devices": jax.device_count(), "steps": args.steps,
            "resumed_from": start, "zero": args.zero, "losses": losses,
            "test_accuracy": accuracy, "state_bytes": total,
            "state_bytes_per_device": bytes_here,
            "replicated_leaves": {k: list(v) for k, v in gradtx.sharding.replicated_leaves(
                opt_state, "data").items()},
        }
        (args.out_dir / "data_parallel.json").write_text(json.dumps(summary, indent=1) + "\n")
        print(f"after {args.steps} steps on {jax.device_count()} devices in {args.processes} "
              f"process(es): test accuracy {accuracy:.4f}; optimizer state {total} bytes, "
              f"{max(bytes_here.values())} on each device", flush=True)
    if args.processes > 1:
        jax.distributed.shutdown()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.processes > 1 and args.process_id is None:
        sys.exit(launch(argv, args.processes))
    train(args)


if __name__ == "__main__":
    main()
