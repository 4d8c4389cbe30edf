"""optax 0.2.8's own docstring examples, run with optax and with ``gradtx.compat.optax``.

For every name of ``gradtx.compat.optax.__all__`` (and of its submodules ``schedules``,
``tree_utils``, ``tree``, ``transforms``, ``microbatching``) whose optax counterpart has
``>>>`` examples in its docstring, the examples (extracted with ``doctest.DocTestFinder``)
run twice, each time in a fresh namespace, in the jax default configuration the docstrings
are written for (``jax_enable_x64`` off; ``conftest.py`` turns it on for the other tests):
once with ``optax``, once with ``optax`` bound to ``gradtx.compat.optax``. Every ``import
optax``, ``import optax.tree_utils``, ``from optax import …`` and ``from optax.schedules
import …`` of the examples goes through an ``__import__`` of the namespace's builtins that
gives the module of the run (the real optax, or the compat module and its submodules);
``optax``, ``jax`` and ``jnp`` are also bound up front, as some examples use them without
importing them.

The two runs are compared against each other, never against the outputs written in the
docstrings (some of those are stale):

* example by example, the text each statement prints (``print``, and the repr of a bare
  expression as in a doctest) is the same once numbers are taken out of it (module paths
  of class names, object addresses and whitespace normalized), and the numbers agree to
  float32 rounding (``RTOL``, ``ATOL``; plus one unit of the last printed digit where an
  example formats numbers to a fixed precision, such as ``{:.2E}``);
* an example that runs under optax runs under compat (and one that raises under optax
  raises the same exception type under compat);
* after the last example, every variable the examples left is the same in both runs: its
  pytree structure (class names, fields, keys), and each leaf's type, shape, dtype, weak
  type and values (to ``RTOL`` of the leaf's largest entry); functions as callables,
  transformations by their structure; and none of it is optax's (so the compat run never
  reached the real optax).

The few differences docs/migrating.md lists that show in these examples are per-name
exceptions below, each allowing that one difference (in one direction) and checking the
rest.

Names whose optax object is the object of another name (``optax.transforms.chain`` is
``optax.chain``) share that name's examples; the compat names must then be one object too.
"""

from __future__ import annotations

import builtins
import contextlib
import doctest
import io
import re
import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradtx.compat.optax as goptax

SUBMODULES = ("schedules", "tree_utils", "tree", "transforms", "microbatching")
RTOL = 1e-4
ATOL = 1e-6
# A variable's leaf is compared relative to its largest entry (|a − b| ≤ RTOL · max|b| +
# LEAF_ATOL): ATOL would hide a 1e-3 relative difference of an update of size 1e-3.
LEAF_ATOL = 1e-12

# ----------------------------------------------------------------- per-name exceptions
# Each is a difference docs/migrating.md lists; everything else of the case is compared.

# The examples call optax's losses (``optax.l2_loss``), which gradtx.compat.optax does not
# provide ("Not provided": use optax's alongside): the compat run gets optax's loss.
OPTAX_LOSSES = {
    "optax.scale_by_backtracking_linesearch": ("l2_loss",),
    "optax.scale_by_zoom_linesearch": ("l2_loss",),
}
# compat's transforms built on optax's state layouts are GradientTransformationExtraArgs
# (they take extra arguments) where optax's are GradientTransformation: a variable holding
# one may have the subclass in compat (never the other way round).
EXTRA_ARGS_SUBCLASS = {"optax.add_noise", "optax.chain", "optax.named_chain"}
# Arrays gradtx makes from Python scalars (schedule values, states of Python-float params,
# measure_with_ema's average) are strongly typed where optax's are weakly typed: optax's
# ``weak_type=True`` is taken out of its printed text, and a leaf weakly typed in optax may
# be strongly typed in compat (never the other way round); values and dtypes as everywhere.
WEAK_TYPED_IN_OPTAX = {"optax.linear_schedule", "optax.polynomial_schedule",
                       "optax.monitor", "optax.optimistic_adam", "optax.optimistic_adam_v2"}
# compat's schedules are gradtx schedules, whose values are arrays of the default float
# dtype; optax's constant_schedule returns its value as given (``5`` for 5): compat's
# ``Array(5., dtype=float32)`` is read as its number.
SCHEDULE_VALUE_AS_ARRAY = {"optax.constant_schedule"}

# ------------------------------------------------------------------------------ the cases

def _public(module):
    return list(getattr(module, "__all__", None)
                or [n for n in dir(module) if not n.startswith("_")])


def _resolve(root, dotted):
    """``_resolve(optax, "optax.tree_utils.tree_get")``; None where a part is missing."""
    obj = root
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _collect():
    """(cases, aliases): cases maps a name to its examples, one case per optax object;
    aliases maps a later name of the same optax object to the name of its case."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    names = [f"optax.{n}" for n in goptax.__all__]
    names += [f"optax.{sub}.{n}" for sub in SUBMODULES for n in _public(getattr(goptax, sub))]
    cases, aliases, first = {}, {}, {}
    for name in names:
        obj = _resolve(optax, name)
        if obj is None or isinstance(obj, types.ModuleType) or name in cases:
            continue
        examples = [ex for test in finder.find(obj, name=name, module=False, globs={})
                    for ex in test.examples]
        if not examples:
            continue
        if id(obj) in first:
            aliases[name] = first[id(obj)]
            continue
        first[id(obj)] = name
        cases[name] = examples
    return cases, aliases


CASES, ALIASES = _collect()


# ------------------------------------------------------------------------------ running

def _importer(root):
    """An ``__import__`` that gives ``root`` (and its attributes) for ``optax[.…]``."""
    real_import = builtins.__import__

    def import_(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and (name == "optax" or name.startswith("optax.")):
            target = root
            for part in name.split(".")[1:]:
                if not isinstance(getattr(target, part, None), types.ModuleType):
                    raise ModuleNotFoundError(f"No module named {name!r} in {root.__name__}")
                target = getattr(target, part)
            return target if fromlist else root
        return real_import(name, globals, locals, fromlist, level)

    return import_


PREBOUND = ("optax", "jax", "jnp")


def _has_code(source):
    return any(line.strip() and not line.strip().startswith("#")
               for line in source.splitlines())


def _compat_root(name):
    """gradtx.compat.optax, with optax's losses the case's examples call (``OPTAX_LOSSES``)."""
    if name not in OPTAX_LOSSES:
        return goptax
    root = types.ModuleType(goptax.__name__, goptax.__doc__)
    vars(root).update(vars(goptax))
    for loss in OPTAX_LOSSES[name]:
        setattr(root, loss, getattr(optax, loss))
    return root


def _run(name, examples, root):
    """Runs the examples in a fresh namespace with ``optax`` as ``root``: a list of
    (index, source, printed text, exception raised or None), one per example with code,
    and the namespace."""
    namespace = {
        "__builtins__": {**vars(builtins), "__import__": _importer(root)},
        "__name__": "__doctest__",
        "optax": root,
        "jax": jax,
        "jnp": jnp,
    }
    records = []
    with jax.enable_x64(False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, example in enumerate(examples):
            if not _has_code(example.source):  # only comments: nothing to compile
                continue
            out = io.StringIO()
            raised = None
            with contextlib.redirect_stdout(out):
                try:
                    code = compile(example.source, f"<{name} example {i}>", "single",
                                   dont_inherit=True)
                    exec(code, namespace)
                except Exception as error:  # noqa: BLE001  (recorded, compared)
                    raised = error
            records.append((i, example.source, out.getvalue(), raised))
    return records, namespace


# ------------------------------------------------------------------------------ comparing

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|inf|nan)"
                     r"(?![\w.])")
_QUALIFIED = re.compile(r"\b(?:optax|gradtx)(?:\.\w+)*\.([A-Za-z_]\w*)")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_WEAK = ", weak_type=True"
_FLOAT_ARRAY = re.compile(r"Array\(([^,()]+), dtype=float32\)")
# a format spec with a precision: the example prints numbers rounded to it
_ROUNDED = re.compile(r"\{[^{}]*:[^{}]*\.\d+[eEfFgG%]\}|%[-+ #0]*\d*\.\d+[eEfFgG]")


def _normalize(text):
    """Class names without their module path (``optax._src.base.EmptyState`` and
    ``gradtx.compat.optax._states.EmptyState`` are ``EmptyState``), no object addresses."""
    return _ADDRESS.sub(" at 0x…", _QUALIFIED.sub(r"\1", text))


def _skeleton(text):
    """The text with its numbers as ``#``, whitespace runs as one space, none next to
    brackets (numpy pads and wraps arrays by the width of their numbers)."""
    text = _NUMBER.sub("#", _normalize(text))
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r" ?([\[\](){},]) ?", r"\1", text)


def _last_digit(token):
    """The unit of the last printed digit of a number's text."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _numbers_close(ours, theirs, rounded):
    a, b = float(ours), float(theirs)
    if not (np.isfinite(a) and np.isfinite(b)):
        return (np.isnan(a) and np.isnan(b)) or a == b
    tol = ATOL + RTOL * max(abs(a), abs(b))
    if rounded:  # two values within tol may round to neighbouring printed values
        tol += max(_last_digit(ours), _last_digit(theirs))
    return abs(a - b) <= tol


def assert_same_text(ours, theirs, what, rounded=False):
    """The same text but for numbers, which agree to RTOL/ATOL (and, ``rounded``, one
    unit of their last printed digit)."""
    assert _skeleton(ours) == _skeleton(theirs), f"{what}:\n{ours!r}\n!=\n{theirs!r}"
    nums_ours = _NUMBER.findall(_normalize(ours))
    nums_theirs = _NUMBER.findall(_normalize(theirs))
    assert len(nums_ours) == len(nums_theirs), f"{what}:\n{ours!r}\n!=\n{theirs!r}"
    for x, y in zip(nums_ours, nums_theirs, strict=True):
        assert _numbers_close(x, y, rounded), \
            f"{what}: {x} != {y} in\n{ours!r}\n!=\n{theirs!r}"


def _is_number(x):
    return isinstance(x, (jax.Array, np.ndarray, np.generic, bool, int, float, complex))


def _as_numbers(x):
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    return np.asarray(x).astype(np.complex128)


def assert_same_leaf(ours, theirs, what, name):
    """A leaf: callables as callables; numbers with their type (or shape, dtype and
    weak type) and values; anything else by its repr (``assert_same_text``)."""
    if callable(theirs):
        assert callable(ours), what
        return
    if not _is_number(theirs):
        assert_same_text(repr(ours), repr(theirs), what)
        return
    assert _is_number(ours), f"{what}: {type(ours)} for {type(theirs)}"
    if isinstance(theirs, (bool, int, float, complex)):
        assert type(ours) is type(theirs), f"{what}: {type(ours)} != {type(theirs)}"
    else:
        assert np.shape(ours) == np.shape(theirs), f"{what}: {np.shape(ours)} != " \
                                                   f"{np.shape(theirs)}"
        dtype_ours, dtype_theirs = jnp.asarray(ours).dtype, jnp.asarray(theirs).dtype
        assert str(dtype_ours) == str(dtype_theirs), f"{what}: {dtype_ours} != {dtype_theirs}"
        weak_ours = bool(getattr(ours, "weak_type", False))
        weak_theirs = bool(getattr(theirs, "weak_type", False))
        if name in WEAK_TYPED_IN_OPTAX and weak_theirs:
            pass  # WEAK_TYPED_IN_OPTAX: compat's may be strongly typed
        else:
            assert weak_ours == weak_theirs, f"{what}: weak_type {weak_ours} != {weak_theirs}"
    a, b = _as_numbers(ours), _as_numbers(theirs)
    finite = np.isfinite(a) & np.isfinite(b)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    scale = max(np.abs(a[finite]).max(initial=0.0), np.abs(b[finite]).max(initial=0.0))
    close = same | (finite & (np.abs(a - b) <= LEAF_ATOL + RTOL * scale))
    assert close.all(), f"{what}: {a[~close][:4]} != {b[~close][:4]} (scale {scale:.3g})"


def assert_same_structure(ours, theirs, what, name):
    """The same pytree structure: node classes (by name), fields, keys."""
    ours, theirs = _normalize(str(ours)), _normalize(str(theirs))
    if name in EXTRA_ARGS_SUBCLASS:  # compat's may be the ExtraArgs subclass
        pattern = re.escape(theirs).replace(r"GradientTransformation\]",
                                            r"GradientTransformation(?:ExtraArgs)?\]")
        assert re.fullmatch(pattern, ours), f"{what}:\n{ours}\n!=\n{theirs}"
    else:
        assert ours == theirs, f"{what}:\n{ours}\n!=\n{theirs}"


def assert_same_value(ours, theirs, what, name):
    """A variable the examples left: callables as callables, pytrees leaf by leaf."""
    if callable(theirs) or isinstance(theirs, type):
        assert callable(ours), what
        return
    leaves_ours, tree_ours = jax.tree_util.tree_flatten_with_path(ours)
    leaves_theirs, tree_theirs = jax.tree_util.tree_flatten_with_path(theirs)
    assert_same_structure(tree_ours, tree_theirs, what, name)
    for (path, a), (_, b) in zip(leaves_ours, leaves_theirs, strict=True):
        assert_same_leaf(a, b, f"{what}{jax.tree_util.keystr(path)}", name)


def _variables(namespace):
    return {k: v for k, v in namespace.items()
            if not k.startswith("_") and k not in PREBOUND
            and not isinstance(v, types.ModuleType)}


def _from_optax(value):
    module = getattr(value, "__module__", None) or type(value).__module__ or ""
    return isinstance(module, str) and (module == "optax" or module.startswith("optax."))


def _reaches_optax(value):
    """Whether ``value``, a node of it or a leaf is optax's (or of optax's classes)."""
    return any(_from_optax(x) for x in jax.tree.leaves(value, is_leaf=_from_optax))


def _compat_output(name, text):
    """compat's printed text, with the per-name differences (above) read as optax's."""
    if name in SCHEDULE_VALUE_AS_ARRAY:
        text = _FLOAT_ARRAY.sub(r"\1", text)
    return text


def _optax_output(name, text):
    if name in WEAK_TYPED_IN_OPTAX:
        text = text.replace(_WEAK, "")
    return text


# ------------------------------------------------------------------------------ tests

def test_cases_found():
    """optax's docstrings have examples for the names this file is about."""
    assert len(CASES) >= 60, sorted(CASES)
    for name in ("optax.adam", "optax.chain", "optax.tree_utils.tree_get",
                 "optax.microbatching.micro_grad", "optax.polynomial_schedule"):
        assert name in CASES
    exceptions = (set(OPTAX_LOSSES) | EXTRA_ARGS_SUBCLASS | WEAK_TYPED_IN_OPTAX
                  | SCHEDULE_VALUE_AS_ARRAY)
    assert exceptions <= set(CASES), exceptions - set(CASES)


def test_imports_in_the_examples_bind_the_run_s_module():
    """``import optax`` and its forms give compat's module and submodules in the compat run
    (and optax's in the optax run); a module compat does not have is not found."""
    source = ("import optax\nimport optax.tree_utils as otu\nfrom optax import tree, adam\n"
              "from optax.schedules import linear_schedule\nimport optax.microbatching\n")
    for root in (optax, goptax):
        namespace = {"__builtins__": {**vars(builtins), "__import__": _importer(root)}}
        exec(compile(source, "<imports>", "exec"), namespace)
        assert namespace["optax"] is root
        assert namespace["otu"] is root.tree_utils
        assert namespace["tree"] is root.tree and namespace["adam"] is root.adam
        assert namespace["linear_schedule"] is root.schedules.linear_schedule
    with pytest.raises(ModuleNotFoundError):
        exec("import optax.contrib", namespace)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases_share_the_object(alias):
    """optax's names of one object are one object in compat, so that one run of the
    examples covers them all."""
    assert _resolve(goptax, alias) is _resolve(goptax, ALIASES[alias])


@pytest.mark.parametrize("name", sorted(CASES))
def test_docstring_examples(name):
    examples = CASES[name]
    theirs, ns_theirs = _run(name, examples, optax)
    ours, ns_ours = _run(name, examples, _compat_root(name))
    for (i, source, out_ours, err_ours), (_, _, out_theirs, err_theirs) in zip(
            ours, theirs, strict=True):
        what = f"{name} example {i}: {source.strip()!r}"
        if err_theirs is None:
            assert err_ours is None, f"{what} raised under compat: {err_ours!r}"
        else:
            assert type(err_ours) is type(err_theirs), \
                f"{what}: {err_ours!r} under compat, {err_theirs!r} under optax"
        assert_same_text(_compat_output(name, out_ours), _optax_output(name, out_theirs),
                         what, rounded=bool(_ROUNDED.search(source)))
    vars_ours, vars_theirs = _variables(ns_ours), _variables(ns_theirs)
    assert sorted(vars_ours) == sorted(vars_theirs), name
    for var, value in vars_ours.items():
        assert not _reaches_optax(value), f"{name}: {var} is optax's: {value!r}"
        assert_same_value(value, vars_theirs[var], f"{name}: {var}", name)
