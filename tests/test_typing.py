"""gradtx's types reach its users: a user's code is checked against them by mypy.

mypy runs on small user files against a copy of the installed ``gradtx`` package
placed on ``PYTHONPATH`` (found as an installed package, so PEP 561 applies: its
``py.typed`` marker is what lets mypy read the inline annotations). Without the
marker mypy would skip gradtx and see every name as ``Any``.
"""

import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gradtx

USER_CODE = """\
import gradtx

params = {"w": 1.0}
optimizer = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adam(learning_rate=1e-3))
state = optimizer.init(params)
updates, state = optimizer.update(params, state, params)
params = gradtx.apply_updates(params, updates)
"""

# Each line is one wrong call, and the error mypy must report for it.
WRONG_CALLS = {
    'gradtx.adam(learning_rate="fast")': "[arg-type]",
    "gradtx.chain(gradtx.adam(), 0.1)": "[arg-type]",
    'gradtx.apply_updates({"w": 1.0})': "[call-arg]",
}

# Every public namespace: its __all__, or its public names when it has none.
PUBLIC_MODULES = (
    "gradtx", "gradtx.schedules", "gradtx.initializers", "gradtx.diagnostics", "gradtx.flat",
    "gradtx.wrappers", "gradtx.experiments", "gradtx.sharding", "gradtx.compat.optax",
)


def _mypy(tmp_path: Path, site: Path, *files: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(config),
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", *files],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(site)},
    )


def _installed_copy(tmp_path: Path, *, marker: bool) -> Path:
    site = tmp_path / ("site" if marker else "site-without-marker")
    shutil.copytree(Path(gradtx.__file__).parent, site / "gradtx",
                    ignore=shutil.ignore_patterns("__pycache__"))
    if not marker:
        (site / "gradtx" / "py.typed").unlink()
    return site


@pytest.fixture(scope="module")
def mypy_run(tmp_path_factory):
    """One mypy run over the user file and the file of wrong calls."""
    tmp = tmp_path_factory.mktemp("typing")
    (tmp / "user.py").write_text(USER_CODE)
    (tmp / "wrong.py").write_text("import gradtx\n\n" + "\n".join(WRONG_CALLS) + "\n")
    result = _mypy(tmp, _installed_copy(tmp, marker=True), "user.py", "wrong.py")
    return result.stdout + result.stderr


def _errors(output: str, file: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(f"{file}:")]


def test_package_ships_the_py_typed_marker():
    assert (Path(gradtx.__file__).parent / "py.typed").is_file()


def test_user_code_type_checks_strictly_against_gradtx(mypy_run):
    assert _errors(mypy_run, "user.py") == []
    assert "Cannot find implementation" not in mypy_run and "import-untyped" not in mypy_run


def test_each_wrong_call_is_reported_with_its_error_code(mypy_run):
    errors = _errors(mypy_run, "wrong.py")
    assert len(errors) == len(WRONG_CALLS), mypy_run
    for line_number, (call, code) in enumerate(WRONG_CALLS.items(), start=3):
        (error,) = [e for e in errors if e.startswith(f"wrong.py:{line_number}:")]
        assert error.endswith(code), (call, error)


def test_without_the_marker_mypy_sees_gradtx_as_untyped(tmp_path):
    (tmp_path / "user.py").write_text(USER_CODE)
    result = _mypy(tmp_path, _installed_copy(tmp_path, marker=False), "user.py")
    assert re.search(r'Skipping analyzing "gradtx".*py\.typed marker', result.stdout)


def _public_callables():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
        for name in names:
            obj = getattr(module, name)
            if not getattr(obj, "__module__", "").startswith("gradtx"):
                continue
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    public = not attr.startswith("_") or attr in ("__init__", "__call__")
                    if public and inspect.isfunction(member) and member.__module__.startswith(
                            "gradtx"):
                        yield f"{module_name}.{name}.{attr}", member
            elif inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj


def _unannotated(fn) -> list[str]:
    sig = inspect.signature(fn)
    missing = [p.name for p in sig.parameters.values()
               if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty]
    if sig.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def test_every_public_callable_is_fully_annotated():
    found = dict(_public_callables())
    assert "gradtx.adam" in found and "gradtx.schedules.cosine.__call__" in found
    missing = {name: m for name, fn in found.items() if (m := _unannotated(fn))}
    assert missing == {}, textwrap.indent("\n".join(f"{k}: {v}" for k, v in missing.items()), "  ")
