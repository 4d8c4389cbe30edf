"""Every example runs in its fast mode (--smoke): its files appear, its numbers are
finite, and its losses decrease."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from gradtx import schedules

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = ["compare_optimizers", "batch_size", "schedules", "init_stats", "loss_landscape",
           "quickstart_nnx", "flat_params"]


def _run(script: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["MPLBACKEND"] = "Agg"
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{script}.py"), *args],
                          capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def _smoke(script: str, out: Path, *files: str) -> tuple[str, list[dict]]:
    done = _run(script, "--smoke", "--out-dir", str(out))
    for name in files:
        assert (out / name).stat().st_size > 0, f"{script} did not write {name}"
    return done.stdout, [json.loads((out / n).read_text()) for n in files if n.endswith(".json")]


def _assert_decreasing(curve) -> None:
    curve = np.asarray(curve, dtype=float)
    assert np.all(np.isfinite(curve)), curve
    assert curve[-1] < curve[0], curve


def test_every_example_answers_help():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    code = (
        "import contextlib, io, runpy, sys\n"
        f"sys.path.insert(0, {str(EXAMPLES)!r})\n"
        f"for name in {SCRIPTS!r}:\n"
        "    sys.argv = [name + '.py', '--help']\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        try:\n"
        "            runpy.run_path(f'{sys.path[0]}/{name}.py', run_name='__main__')\n"
        "        except SystemExit as done:\n"
        "            assert done.code == 0, name\n"
        "    assert '--smoke' in out.getvalue() and '--out-dir' in out.getvalue(), name\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_compare_optimizers_smoke(tmp_path):
    stdout, (numbers,) = _smoke("compare_optimizers", tmp_path, "comparison.png",
                                "comparison.csv", "comparison.json")
    names = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"]
    assert list(numbers["runs"]) == names
    for name, run in numbers["runs"].items():
        _assert_decreasing(run["epoch_losses"])
        assert name in stdout
    rows = (tmp_path / "comparison.csv").read_text().splitlines()
    assert rows[0] == ",".join(["step", *names])
    assert len(rows) == 1 + len(numbers["runs"]["SGD"]["losses"])


def test_compare_optimizers_reports_a_missing_dataset_without_a_traceback(tmp_path):
    done = _run("compare_optimizers", "--smoke", "--dataset", "mnist", "--data-dir",
                str(tmp_path / "nowhere"), "--out-dir", str(tmp_path), check=False)
    assert done.returncode != 0
    assert "error: mnist: data directory not found" in done.stderr
    assert "Traceback" not in done.stderr


def test_batch_size_smoke(tmp_path):
    _, (numbers,) = _smoke("batch_size", tmp_path, "batch_size.png", "batch_size.json")
    assert len(numbers["runs"]) == 2
    for run in numbers["runs"].values():
        _assert_decreasing(run["epoch_losses"])


def test_schedules_smoke_shows_every_schedule(tmp_path):
    _, (numbers,) = _smoke("schedules", tmp_path, "schedules.png", "schedules.json")
    public = set(schedules.__all__) - {"Schedule", "ScheduleLike"}
    assert set(numbers["schedules"]) == public
    for entry in numbers["schedules"].values():
        values = np.asarray(entry["values"], dtype=float)
        assert values.shape == (numbers["steps"],) and np.all(np.isfinite(values))


def test_init_stats_smoke_shows_the_small_init_vanishing(tmp_path):
    _, (numbers,) = _smoke("init_stats", tmp_path, "init_stats.png", "init_stats.json",
                           "init_stats.md")
    assert len(numbers["cases"]) == 5
    _assert_decreasing(numbers["cases"]["tanh_0.01randn"]["std"])
    for case in numbers["cases"].values():
        assert np.all(np.isfinite(case["std"]))


def test_loss_landscape_smoke(tmp_path):
    _, (numbers,) = _smoke("loss_landscape", tmp_path, "loss_landscape.png",
                           "loss_landscape.json")
    assert len(numbers["runs"]) == 2
    for run in numbers["runs"].values():
        _assert_decreasing(run["training"]["epoch_losses"])
        grid = np.asarray(run["landscape"]["losses"], dtype=float)
        assert grid.shape == (5, 5) and np.all(np.isfinite(grid))


def test_quickstart_nnx_smoke(tmp_path):
    _, (numbers,) = _smoke("quickstart_nnx", tmp_path, "quickstart.png", "quickstart.json")
    losses = np.asarray(numbers["losses"], dtype=float)
    assert np.all(np.isfinite(losses))
    assert losses[-5:].mean() < losses[:5].mean()


def test_flat_params_smoke_trains_as_tree_params(tmp_path):
    stdout, (numbers,) = _smoke("flat_params", tmp_path, "flat_params.png", "flat_params.json")
    _assert_decreasing(numbers["flat"]["losses"])
    np.testing.assert_allclose(numbers["flat"]["losses"], numbers["tree"]["losses"], rtol=1e-5)
    assert numbers["max_param_difference"] < 1e-5
    # the moments: two arrays per leaf in the tree path, two per bucket in the flat path
    assert numbers["flat"]["state_arrays"] < numbers["tree"]["state_arrays"]
    assert "largest difference between the final params" in stdout


def test_every_example_script_is_smoke_tested_here():
    scripts = {p.stem for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(SCRIPTS)
