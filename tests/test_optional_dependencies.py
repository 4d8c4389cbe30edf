"""Every optional dependency, when missing, gives an ImportError naming the pip extra.

A subprocess blocks the optional modules (``sys.modules[name] = None`` before
anything is imported, so ``import flax`` raises ``ModuleNotFoundError`` as if flax
were not installed), imports gradtx, calls each feature that needs one, and
reports what it raised.
"""

import importlib.metadata
import json
import re
import subprocess
import sys

import pytest

from gradtx._optional import EXTRAS, missing_message, optional_import

BLOCKED = ("flax", "matplotlib", "optax", "orbax", "sklearn")

# Each feature, the call that needs an optional module, and the message expected.
CASES = {
    "lsuv_nnx": (
        "gradtx.initializers.lsuv_nnx(object(), None, key=None)",
        "lsuv_nnx needs flax: pip install 'gradtx[examples]'",
    ),
    "data_dependent_init_nnx": (
        "gradtx.initializers.data_dependent_init_nnx(object(), None)",
        "data_dependent_init_nnx needs flax: pip install 'gradtx[examples]'",
    ),
    "lsuv": (
        "gradtx.initializers.lsuv(lambda v, x: x, {}, None, key=None)",
        "lsuv needs flax: pip install 'gradtx[examples]'",
    ),
    "data_dependent_init": (
        "gradtx.initializers.data_dependent_init(lambda v, x: x, {}, None)",
        "data_dependent_init needs flax: pip install 'gradtx[examples]'",
    ),
    "Schedule.plot": (
        "gradtx.schedules.constant(0.1).plot(3)",
        "Schedule.plot needs matplotlib: pip install 'gradtx[plot]'",
    ),
    "plot_histograms": (
        "gradtx.diagnostics.plot_histograms([])",
        "plot_histograms needs matplotlib: pip install 'gradtx[plot]'",
    ),
    "experiment plots": (
        "gradtx.experiments._plot.pyplot('Comparison.plot')",
        "Comparison.plot needs matplotlib: pip install 'gradtx[plot]'",
    ),
    "load_digits": (
        "gradtx.experiments.load_digits()",
        "load_digits needs scikit-learn: pip install 'gradtx[examples]'",
    ),
    "as_optax": (
        "gradtx.as_optax(gradtx.sgd(0.1))",
        "as_optax needs optax: pip install 'gradtx[optax]'",
    ),
    "restore_latest": (
        "gradtx.sharding.restore_latest(None, None)",
        "restore_latest needs orbax-checkpoint: pip install 'gradtx[checkpoint]'",
    ),
}

_SCRIPT = """\
import json, sys
for name in {blocked!r}:
    sys.modules[name] = None
import gradtx
import gradtx.compat.optax, gradtx.diagnostics, gradtx.experiments, gradtx.flat
import gradtx.initializers, gradtx.schedules, gradtx.sharding, gradtx.wrappers
results = {{}}
for label, call in {calls!r}.items():
    try:
        eval(call)
    except ImportError as err:
        results[label] = [type(err).__name__, str(err), type(err.__cause__).__name__]
    else:
        results[label] = ["no error", "", ""]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def raised():
    """label -> [exception type, message, type of its cause], with the modules blocked."""
    script = _SCRIPT.format(blocked=BLOCKED, calls={k: call for k, (call, _) in CASES.items()})
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("label", CASES)
def test_missing_dependency_raises_an_import_error_naming_the_extra(raised, label):
    kind, message, cause = raised[label]
    assert (kind, message) == ("ImportError", CASES[label][1])
    assert cause == "ModuleNotFoundError"


def test_gradtx_and_its_subpackages_import_without_any_optional_dependency(raised):
    assert set(raised) == set(CASES)


def test_every_blocked_module_is_an_optional_one_with_an_extra():
    assert set(BLOCKED) == set(EXTRAS)


@pytest.mark.parametrize("module", sorted(EXTRAS))
def test_the_extra_named_in_the_message_installs_the_distribution(module):
    distribution, extra = EXTRAS[module]
    requirements = importlib.metadata.requires("gradtx") or []
    pattern = re.compile(rf"^{re.escape(distribution)}\b[^;]*;\s*extra\s*==\s*['\"]{extra}['\"]")
    assert any(pattern.match(r) for r in requirements), (distribution, extra, requirements)


def test_optional_import_passes_through_when_the_module_imports():
    with optional_import("matplotlib", "caller"):
        import json as imported  # any importable module
    assert imported is json


def test_optional_import_chains_the_original_error():
    with pytest.raises(ImportError, match=re.escape(missing_message("optax", "caller"))) as info:
        with optional_import("optax", "caller"):
            raise ModuleNotFoundError("No module named 'optax'", name="optax")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_optional_import_rejects_a_module_without_an_extra():
    with pytest.raises(KeyError, match="unknown optional module 'torch'"):
        with optional_import("torch", "caller"):
            pass


def test_the_message_names_owner_distribution_and_extra():
    assert missing_message("sklearn", "load_digits") == (
        "load_digits needs scikit-learn: pip install 'gradtx[examples]'")
