"""Every example runs in its fast mode (--smoke): its files appear, its numbers are
finite, and its losses decrease."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradtx import schedules

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = ["compare_optimizers", "batch_size", "schedules", "init_stats", "loss_landscape",
           "quickstart_nnx", "flat_params", "lr_range_test"]


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


def test_every_option_of_every_example_has_help():
    # Each script runs until it parses its command line; the parser it built is read there.
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    code = (
        "import argparse, json, runpy, sys\n"
        f"sys.path.insert(0, {str(EXAMPLES)!r})\n"
        "class Parsed(Exception):\n"
        "    pass\n"
        "def stop(parser, *args, **kwargs):\n"
        "    raise Parsed(parser)\n"
        "argparse.ArgumentParser.parse_args = stop\n"
        "found = {}\n"
        f"for path in sorted({[str(p) for p in EXAMPLES.glob('[!_]*.py')]!r}):\n"
        "    try:\n"
        "        runpy.run_path(path, run_name='__main__')\n"
        "    except Parsed as parsed:\n"
        "        found[path] = [(a.option_strings or [a.dest], (a.help or '').strip())\n"
        "                       for a in parsed.args[0]._actions]\n"
        "print(json.dumps(found))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert {Path(path).stem for path in found} >= set(SCRIPTS)
    without_help = [f"{Path(path).name} {options[0]}" for path, actions in found.items()
                    for options, text in actions if not text]
    assert not without_help
    for actions in found.values():
        assert ["--smoke"] in [options for options, _ in actions]


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


@pytest.fixture(scope="module")
def schedules_numbers(tmp_path_factory):
    out = tmp_path_factory.mktemp("schedules")
    _, (numbers,) = _smoke("schedules", out, "schedules.png", "schedules.json")
    return numbers


def test_schedules_smoke_shows_every_schedule(schedules_numbers):
    numbers = schedules_numbers
    public = set(schedules.__all__) - {"Schedule", "ScheduleLike"}
    assert set(numbers["schedules"]) == public
    for entry in numbers["schedules"].values():
        values = np.asarray(entry["values"], dtype=float)
        assert values.shape == (numbers["steps"],) and np.all(np.isfinite(values))


def test_schedules_gallery_draws_no_curve_twice(schedules_numbers):
    curves = {name: np.asarray(entry["values"])
              for name, entry in schedules_numbers["schedules"].items()}
    names = sorted(curves)
    alike = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
             if np.allclose(curves[a], curves[b])]
    assert not alike


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


def test_lr_range_test_smoke_plots_the_sweep_and_a_suggestion_inside_it(tmp_path):
    # --out is argparse's unambiguous abbreviation of --out-dir
    done = _run("lr_range_test", "--smoke", "--out", str(tmp_path))
    assert (tmp_path / "lr_range_test.png").stat().st_size > 0
    numbers = json.loads((tmp_path / "lr_range_test.json").read_text())
    config, result = numbers["config"], numbers["result"]
    rates = np.asarray(result["learning_rates"])
    assert len(rates) == len(result["losses"]) == config["steps"]
    np.testing.assert_allclose(rates, np.geomspace(config["min_lr"], config["max_lr"],
                                                   config["steps"]), rtol=1e-6)
    assert config["min_lr"] < result["suggested_lr"] <= config["max_lr"]
    assert f"suggested learning rate (steepest): {result['suggested_lr']:.3g}" in done.stdout


def test_every_example_script_is_smoke_tested_here():
    # data_parallel.py starts processes of its own: tests/test_multiprocess.py runs it.
    elsewhere = {"data_parallel": Path(__file__).parent / "test_multiprocess.py"}
    for script, test_file in elsewhere.items():
        assert f"{script}.py" in test_file.read_text()
    scripts = {p.stem for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(SCRIPTS) | set(elsewhere)
