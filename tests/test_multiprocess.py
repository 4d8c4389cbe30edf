"""Two processes on 127.0.0.1 train as one: jax.distributed, ZeRO-1 state, Orbax checkpoints.

Each process is ``examples/data_parallel.py`` with 2 host CPU devices (4 in all, gloo
collectives), started here with ``subprocess.Popen``, given a deadline, and ended by PID
if anything fails. The runs are compared with a single process on 4 devices, with an
uninterrupted run (bitwise, after a SIGKILL and a resume), and restored onto 8 devices.
"""

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from gradtx.sharding import abstract_state, restore_latest, state_shardings

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "data_parallel.py"
STEPS, WIDTH, SEED, LEARNING_RATE = 20, 32, 0, 3e-3
ARGS = ["--steps", str(STEPS), "--batch-size", "32", "--width", str(WIDTH), "--seed", str(SEED),
        "--learning-rate", str(LEARNING_RATE), "--log-every", "1", "--checkpoint-every", "5",
        "--data", "synthetic"]
DEADLINE_S = 150  # for a whole run of all its processes


def load_example():
    spec = importlib.util.spec_from_file_location("data_parallel", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Run:
    """The processes of one training run, each logging to its own file."""

    def __init__(self, folder: Path, processes: int, *args: str, cache: Path | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        env.update(JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
        if cache is not None:  # later runs load what the first compiled
            env.update(JAX_COMPILATION_CACHE_DIR=str(cache),
                       JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                       JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
        command = [sys.executable, str(EXAMPLE), *ARGS, *args, "--processes", str(processes),
                   "--devices", "4", "--out-dir", str(folder / "out"),
                   "--timeout", str(DEADLINE_S)]
        if processes > 1:
            command += ["--coordinator", f"127.0.0.1:{free_port()}"]
        self.logs = [folder / f"process_{i}.log" for i in range(processes)]
        self.deadline = time.monotonic() + DEADLINE_S
        self.procs = []
        try:
            for i, log in enumerate(self.logs):
                with open(log, "w") as out:
                    self.procs.append(subprocess.Popen(
                        [*command, "--process-id", str(i)], stdout=out, stderr=subprocess.STDOUT,
                        env=env))
        except BaseException:
            self.kill()
            raise

    def text(self, i: int = 0) -> str:
        return self.logs[i].read_text()

    def failure(self, what: str) -> AssertionError:
        tails = "\n".join(f"--- process {i}:\n{self.text(i)[-3000:]}"
                          for i in range(len(self.logs)))
        return AssertionError(f"{what}\n{tails}")

    def wait_for_line(self, pattern: str) -> None:
        """Until process 0 has printed a line matching ``pattern``."""
        while not re.search(pattern, self.text(), re.MULTILINE):
            if any(p.poll() is not None for p in self.procs) or time.monotonic() > self.deadline:
                raise self.failure(f"no line matching {pattern!r}")
            time.sleep(0.05)

    def finish(self) -> None:
        """Until every process has exited; every one must exit with 0."""
        while any(p.poll() is None for p in self.procs):
            if any(p.returncode not in (None, 0) for p in self.procs):
                raise self.failure("a process failed")
            if time.monotonic() > self.deadline:
                raise self.failure(f"the run took more than {DEADLINE_S} s")
            time.sleep(0.05)
        if any(p.returncode != 0 for p in self.procs):
            raise self.failure(f"exit codes {[p.returncode for p in self.procs]}")

    def kill(self) -> None:
        """SIGKILL every process still running, by PID, and reap it."""
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
        for p in self.procs:
            p.wait(timeout=30)


def run_to_end(folder: Path, processes: int, *args: str, cache: Path | None = None) -> Run:
    run = Run(folder, processes, *args, cache=cache)
    try:
        run.finish()
    finally:
        run.kill()
    return run


def npz(path: Path) -> dict:
    with np.load(path) as f:
        return dict(f)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted 2-process run (with checkpoints) and a 1-process run, side by side."""
    root = tmp_path_factory.mktemp("runs")
    two = Run(root / "two", 2, "--checkpoint-dir", str(root / "two" / "ckpt"),
              cache=root / "jax_cache")
    try:
        run_to_end(root / "one", 1)
        two.finish()
    finally:
        two.kill()
    return root


def test_two_processes_train_as_one_process_on_four_devices(runs):
    two, one = npz(runs / "two/out/final_params.npz"), npz(runs / "one/out/final_params.npz")
    assert sorted(two) == sorted(one) and len(two) == 6
    for k in two:
        np.testing.assert_allclose(two[k], one[k], rtol=1e-6, atol=1e-6, err_msg=k)
    summary = json.loads((runs / "two/out/data_parallel.json").read_text())
    assert summary["processes"] == 2 and summary["devices"] == 4 and summary["zero"]
    losses = summary["losses"]
    assert len(losses) == STEPS and np.mean(losses[-5:]) < np.mean(losses[:5])


def test_zero_state_of_two_processes_is_split_over_all_four_devices(runs):
    summary = json.loads((runs / "two/out/data_parallel.json").read_text())
    params = npz(runs / "two/out/final_params.npz")
    # Adam's two moments of every param; the output bias (10,) divides by no 4 and is kept whole.
    assert summary["replicated_leaves"] == {
        ".states[1]['adam'].mu['out']['bias']": [10], ".states[1]['adam'].nu['out']['bias']": [10]}
    moments = 2 * sum(a.nbytes for a in params.values())
    whole = 2 * params["['out']['bias']"].nbytes
    scalars = summary["state_bytes"] - moments
    per_device = summary["state_bytes_per_device"]
    assert len(per_device) == 2  # process 0's own devices
    assert set(per_device.values()) == {(moments - whole) // 4 + whole + scalars}


def test_a_killed_run_resumes_from_its_last_complete_checkpoint_bitwise(runs, tmp_path):
    ckpt = tmp_path / "ckpt"
    run = Run(tmp_path / "first", 2, "--checkpoint-dir", str(ckpt), cache=runs / "jax_cache")
    try:
        # Saving step 10 waited for step 5's save: Orbax's first save (step 1) and 5 are
        # complete, 10 may be; 9 steps and two saves are left to run when the kill comes.
        run.wait_for_line(r"^step 11 loss")
    finally:
        run.kill()
    assert all(p.returncode == -signal.SIGKILL for p in run.procs)
    complete = sorted(int(p.name) for p in ckpt.iterdir() if p.name.isdigit())
    assert {1, 5} <= set(complete) <= {1, 5, 10}
    # The newest checkpoint, truncated as a kill while writing it leaves it.
    damaged, previous = complete[-1], complete[-2]
    (ckpt / str(damaged) / "default" / "_METADATA").unlink()

    resumed = run_to_end(tmp_path / "second", 2, "--checkpoint-dir", str(ckpt),
                         cache=runs / "jax_cache")
    log = resumed.text()
    assert f"skipping the checkpoint of step {damaged} " in log
    assert f"resumed from the checkpoint of step {previous}\n" in log
    for name in ("final_params.npz", "final_state.npz"):
        want, got = npz(runs / "two/out" / name), npz(tmp_path / "second/out" / name)
        assert sorted(got) == sorted(want)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{name}: {k}")


def test_a_checkpoint_of_four_devices_restores_onto_eight_zero_sharded(runs):
    example = load_example()
    mesh = jax.make_mesh((8,), ("data",))
    _, make_params = example.model(WIDTH, SEED)
    params = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=NamedSharding(mesh, P())),
        jax.eval_shape(make_params))
    tx = example.optimizer(LEARNING_RATE)
    manager = ocp.CheckpointManager((runs / "two/ckpt").absolute(),
                                    options=ocp.CheckpointManagerOptions(read_only=True))
    target = {"params": params, "opt_state": abstract_state(tx, params, zero_axis="data")}
    step, restored = restore_latest(manager, target)
    manager.close()
    assert step == STEPS
    for name, tree in (("final_params.npz", restored["params"]),
                       ("final_state.npz", restored["opt_state"])):
        want = npz(runs / "two/out" / name)
        got = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(tree)}
        assert sorted(got) == sorted(want)
        for k in want:
            np.testing.assert_array_equal(np.asarray(got[k]), want[k], err_msg=f"{name}: {k}")
    kernel = restored["opt_state"][1]["adam"].mu["hidden1"]["kernel"]
    assert len(kernel.addressable_shards) == 8
    assert {s.data.shape for s in kernel.addressable_shards} == {(64 // 8, WIDTH)}
    for got, want in zip(jax.tree.leaves(restored["opt_state"]),
                         jax.tree.leaves(state_shardings(tx, params, zero_axis="data")),
                         strict=True):
        assert got.sharding.is_equivalent_to(want, got.ndim)


def test_every_option_of_the_example_has_help():
    parser = load_example().build_parser()
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert {"--processes", "--zero", "--checkpoint-dir", "--smoke"} <= {
        o for a in options for o in a.option_strings}
    assert [a.option_strings for a in options if not a.help] == []
    done = subprocess.run([sys.executable, str(EXAMPLE), "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "--checkpoint-every" in done.stdout


def test_the_example_refuses_devices_that_do_not_split_between_processes():
    done = subprocess.run([sys.executable, str(EXAMPLE), "--processes", "3", "--devices", "4"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--devices (4) must be a multiple of --processes (3)" in done.stderr
