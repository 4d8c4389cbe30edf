"""Data-dependent initialization of Flax models: LSUV and per-unit normalisation.

Both walk the layers that own a ``kernel`` (``Dense``/``Conv`` in linen,
``Linear``/``Conv`` in nnx) in the order the forward pass calls them, and rescale each
kernel from the statistics of that layer's output ``z = x·W + b`` (its
pre-activation) on a data batch, with every earlier layer already fixed.

Every change is a per-unit affine map of a layer's parameters,
``W[..., j] ← a_j·W[..., j]`` and ``b_j ← t_j·b_j + c_j``. The factors live on the host
and enter one jitted forward pass that applies them and returns the statistics of
every layer's output, so the whole procedure compiles the model once.

Flax is an optional dependency: it is imported inside these functions only.
"""

import contextlib
import functools
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from gradtx._optional import optional_import
from gradtx.initializers._checks import check_positive
from gradtx.initializers._orthogonal import orthogonal

Arrays = dict[str, jax.Array]


class LayerReport(NamedTuple):
    """What an initializer did to one layer.

    ``layer``: the module path joined by ``/`` (e.g. ``"Dense_0"``, ``"layers/0"``);
    ``iterations``: how many times its kernel was rescaled;
    ``variance``: the variance of its output on the batch afterwards.
    """

    layer: str
    iterations: int
    variance: float


def lsuv(
    apply_fn: Callable[..., Any],
    params: Mapping[str, Any],
    batch: Any,
    *,
    key: jax.Array | None,
    tol: float = 0.1,
    max_iters: int = 10,
) -> tuple[dict[str, Any], list[LayerReport]]:
    """Layer-sequential unit-variance init (Mishkin & Matas 2015, arXiv:1511.06422), linen.

    1. Every kernel is replaced by [`orthogonal`][gradtx.initializers.orthogonal] (skipped
       when ``key`` is None, e.g. when the kernels were built with
       ``kernel_init=orthogonal()``).
    2. For each layer in call order: while ``|Var(z) − 1| >= tol`` and fewer than
       ``max_iters`` rescalings were done, ``W ← W / √Var(z)``, where ``Var(z)`` is the
       variance of all entries of the layer's output on ``batch``.

    ``apply_fn`` is called as ``apply_fn({"params": params}, batch)``, so
    ``model.apply`` works; for other collections or arguments pass a wrapper, e.g.
    ``lambda v, x: model.apply({**v, "batch_stats": bs}, x, train=False)``. It is traced
    with ``jax.jit``, and layer outputs are recorded with
    ``flax.linen.intercept_methods``. Leaves named ``kernel`` are the layers; biases are
    left alone. Returns ``(new_params, report)`` with one
    [`LayerReport`][gradtx.initializers.LayerReport] per layer reached by the forward pass;
    warns if a layer did not reach the tolerance.
    """
    check_positive("lsuv", "tol", tol)
    _check_iterations("lsuv", max_iters)
    model = _LinenModel("lsuv", apply_fn, params, batch)
    report = _lsuv(model, key, tol, max_iters)
    return model.params, report


def lsuv_nnx(
    model: Any,
    batch: Any,
    *,
    key: jax.Array | None,
    tol: float = 0.1,
    max_iters: int = 10,
) -> list[LayerReport]:
    """LSUV (see [`lsuv`][gradtx.initializers.lsuv]) for a ``flax.nnx`` module, updated in place.

    The layers are the submodules with an ``nnx.Param`` attribute named ``kernel``;
    the model is run (traced with ``jax.jit``, on a copy) as ``model(batch)``; call
    ``model.eval()`` first if it has dropout or batch norm. Outputs are recorded by
    wrapping the layers' classes' ``__call__`` while the forward pass is traced.
    """
    check_positive("lsuv_nnx", "tol", tol)
    _check_iterations("lsuv_nnx", max_iters)
    return _lsuv(_NnxModel("lsuv_nnx", model, batch), key, tol, max_iters)


def data_dependent_init(
    apply_fn: Callable[..., Any],
    params: Mapping[str, Any],
    batch: Any,
) -> tuple[dict[str, Any], list[LayerReport]]:
    """Per-unit data-dependent init, after Krähenbühl et al. 2015 (arXiv:1511.06856), linen.

    For each layer in call order, with ``μ_j, σ_j`` the mean and standard deviation of
    output unit ``j`` over the batch (and spatial positions),
    ``W[..., j] ← W[..., j]/σ_j`` and ``b_j ← (b_j − μ_j)/σ_j``, so that every unit
    starts with zero mean (if the layer has a bias) and unit variance. One pass per
    layer is exact. Same calling convention as [`lsuv`][gradtx.initializers.lsuv]; the
    kernels are not re-drawn.
    """
    model = _LinenModel("data_dependent_init", apply_fn, params, batch)
    report = _normalise_units(model)
    return model.params, report


def data_dependent_init_nnx(model: Any, batch: Any) -> list[LayerReport]:
    """[`data_dependent_init`][gradtx.initializers.data_dependent_init] for a ``flax.nnx``
    module, updated in place."""
    return _normalise_units(_NnxModel("data_dependent_init_nnx", model, batch))


def _check_iterations(caller: str, max_iters: int) -> None:
    if not isinstance(max_iters, int) or max_iters < 1:
        raise ValueError(f"{caller}: max_iters must be an integer >= 1, got {max_iters!r}")


class _Affine(NamedTuple):
    """Per-unit map of a layer: ``W[..., j]·scale_j`` and ``b_j·bias_scale_j + shift_j``."""

    scale: np.ndarray
    bias_scale: np.ndarray
    shift: np.ndarray


def _apply(kernels: Arrays, biases: Arrays, affine: dict[str, _Affine]) -> tuple[Arrays, Arrays]:
    kernels = {n: (k * affine[n].scale).astype(k.dtype) for n, k in kernels.items()}
    biases = {
        n: (b * affine[n].bias_scale + affine[n].shift).astype(b.dtype) for n, b in biases.items()
    }
    return kernels, biases


_apply_jit = jax.jit(_apply)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _orthogonal_kernel(key: jax.Array, shape: tuple[int, ...], dtype: np.dtype) -> jax.Array:
    return orthogonal()(key, shape, dtype)


class _Moments(NamedTuple):
    """Statistics of a layer output ``z``: the variance of all its entries, and the
    mean and standard deviation of each output unit (last axis) over the others.
    Device arrays where computed (under jit), NumPy arrays once fetched to the host."""

    variance: jax.Array | np.ndarray
    unit_mean: jax.Array | np.ndarray
    unit_std: jax.Array | np.ndarray


def _moments(z: jax.Array) -> _Moments:
    z = z.astype(jnp.promote_types(z.dtype, jnp.float32))
    axes = tuple(range(z.ndim - 1))
    return _Moments(jnp.var(z), jnp.mean(z, axis=axes), jnp.std(z, axis=axes))


class _Model(Protocol):
    """A model's kernel layers and a forward pass that reports their outputs."""

    caller: str

    def layers(self) -> tuple[Arrays, Arrays]:
        """``(kernels, biases)`` by layer name; layers without a bias are left out."""
        ...

    def set_layers(self, kernels: Arrays, biases: Arrays) -> None: ...

    def moments(self, affine: dict[str, _Affine]) -> dict[str, _Moments]:
        """Output statistics of the layers (first call of each) under ``affine``, in
        call order."""
        ...


def _identity(model: _Model) -> dict[str, _Affine]:
    kernels, _ = model.layers()
    ones = {n: np.ones(k.shape[-1], np.float32) for n, k in kernels.items()}
    return {n: _Affine(one, one, np.zeros_like(one)) for n, one in ones.items()}


def _lsuv(model: _Model, key: jax.Array | None, tol: float, max_iters: int) -> list[LayerReport]:
    if key is not None:
        kernels, _ = model.layers()
        kernels = {
            n: _orthogonal_kernel(jax.random.fold_in(key, i), k.shape, k.dtype)
            for i, (n, k) in enumerate(kernels.items())
        }
        model.set_layers(kernels, {})
    affine = _identity(model)
    moments = model.moments(affine)
    report = []
    for name in list(moments):
        variance = float(moments[name].variance)
        iterations = 0
        while abs(variance - 1.0) >= tol and iterations < max_iters:
            _check_spread(model.caller, name, variance)
            affine[name] = affine[name]._replace(
                scale=affine[name].scale / np.float32(math.sqrt(variance))
            )
            iterations += 1
            moments = model.moments(affine)
            variance = float(moments[name].variance)
        if abs(variance - 1.0) >= tol:
            warnings.warn(
                f"{model.caller}: layer {name!r} has output variance {variance:.6g} after "
                f"{max_iters} rescalings, outside 1 ± {tol}",
                RuntimeWarning,
                stacklevel=3,
            )
        report.append(LayerReport(name, iterations, variance))
    model.set_layers(*_apply_jit(*model.layers(), affine))
    return report


def _normalise_units(model: _Model) -> list[LayerReport]:
    affine = _identity(model)
    moments = model.moments(affine)
    report = []
    for name in list(moments):
        _, mean, std = moments[name]
        _check_spread(model.caller, name, float(std.min()))
        scale, bias_scale, shift = affine[name]
        affine[name] = _Affine(scale / std, bias_scale / std, (shift - mean) / std)
        moments = model.moments(affine)
        report.append(LayerReport(name, 1, float(moments[name].variance)))
    model.set_layers(*_apply_jit(*model.layers(), affine))
    return report


def _check_spread(caller: str, name: str, spread: float) -> None:
    if not spread > 0:
        raise ValueError(
            f"{caller}: layer {name!r} has an output spread of {spread!r} on the batch, "
            f"so its kernel cannot be rescaled to unit variance (is its input constant?)"
        )


def _in_call_order(
    run: Callable[..., Arrays],
) -> Callable[..., dict[str, _Moments]]:
    """``jax.jit`` of ``run`` (which records layer outputs by name, in call order),
    returning each output's ``_Moments``, on the host, in that order.

    ``jit`` returns dicts with sorted keys, so the names are remembered when ``run`` is
    traced and the statistics are returned as a list.
    """
    names: list[str] = []

    def moments(*args: Any) -> list[_Moments]:
        outputs = run(*args)
        names[:] = outputs
        return [_moments(z) for z in outputs.values()]

    jitted = jax.jit(moments)

    def forward(*args: Any) -> dict[str, _Moments]:
        return dict(zip(names, jax.device_get(jitted(*args)), strict=True))

    return forward


def _thaw(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _thaw(v) for k, v in tree.items()}
    return tree


def _kernel_paths(
    tree: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    for k, v in tree.items():
        if isinstance(v, Mapping):
            yield from _kernel_paths(v, (*prefix, k))
        elif k == "kernel":
            yield prefix


class _LinenModel:
    """A linen ``params`` tree (copied) and ``apply_fn``."""

    def __init__(
        self, caller: str, apply_fn: Callable[..., Any], params: Mapping[str, Any], batch: Any
    ):
        with optional_import("flax", caller):
            import flax.linen as nn

        self.caller = caller
        self.params = _thaw(params)
        self._paths = {"/".join(p): p for p in _kernel_paths(self.params)}
        if not self._paths:
            raise ValueError(f"{caller}: params contain no leaf named 'kernel'")
        self._batch = batch

        def run(params: dict[str, Any], affine: dict[str, _Affine], batch: Any) -> Arrays:
            params = self._with_layers(params, *_apply(*self._layers(params), affine))
            outputs: Arrays = {}

            def record(next_fun, args, kwargs, context):
                out = next_fun(*args, **kwargs)
                name = "/".join(context.module.path)
                if context.method_name == "__call__" and name in self._paths:
                    outputs.setdefault(name, out)
                return out

            with nn.intercept_methods(record):
                apply_fn({"params": params}, batch)
            return outputs

        self._run = _in_call_order(run)

    def _node(self, params: dict[str, Any], name: str) -> dict[str, Any]:
        for part in self._paths[name]:
            params = params[part]
        return params

    def _layers(self, params: dict[str, Any]) -> tuple[Arrays, Arrays]:
        nodes = {n: self._node(params, n) for n in self._paths}
        kernels = {n: node["kernel"] for n, node in nodes.items()}
        biases = {n: node["bias"] for n, node in nodes.items() if "bias" in node}
        return kernels, biases

    def _with_layers(self, params: dict[str, Any], kernels: Arrays, biases: Arrays) -> Any:
        params = _thaw(params)
        for n, kernel in kernels.items():
            self._node(params, n)["kernel"] = kernel
        for n, bias in biases.items():
            self._node(params, n)["bias"] = bias
        return params

    def layers(self) -> tuple[Arrays, Arrays]:
        return self._layers(self.params)

    def set_layers(self, kernels: Arrays, biases: Arrays) -> None:
        self.params = self._with_layers(self.params, kernels, biases)

    def moments(self, affine: dict[str, _Affine]) -> dict[str, _Moments]:
        return self._run(self.params, affine, self._batch)


def _module_name(path: tuple[Any, ...]) -> str:
    return "/".join(str(p) for p in path)


class _NnxModel:
    """An ``nnx.Module``; its forward passes run on jitted copies."""

    def __init__(self, caller: str, model: Any, batch: Any):
        with optional_import("flax", caller):
            from flax import nnx

        self.caller = caller
        self._model = model
        self._batch = batch
        self._split = nnx.split
        self._modules = self._kernel_modules(nnx, model)
        if not self._modules:
            raise ValueError(f"{caller}: model has no submodule with an nnx.Param named 'kernel'")
        graphdef, _ = nnx.split(model)
        classes = {type(m) for m in self._modules.values()}

        def run(state: Any, affine: dict[str, _Affine], batch: Any) -> Arrays:
            copy = nnx.merge(graphdef, state)
            modules = self._kernel_modules(nnx, copy)
            _set_nnx_layers(modules, *_apply(*_nnx_layers(modules), affine))
            names = {id(m): n for n, m in modules.items()}
            outputs: Arrays = {}
            with _recording_calls(classes, names, outputs):
                copy(batch)
            return outputs

        self._run = _in_call_order(run)

    @staticmethod
    def _kernel_modules(nnx: Any, model: Any) -> dict[str, Any]:
        return {
            _module_name(path): module
            for path, module in nnx.iter_modules(model)
            if isinstance(getattr(module, "kernel", None), nnx.Param)
        }

    def layers(self) -> tuple[Arrays, Arrays]:
        return _nnx_layers(self._modules)

    def set_layers(self, kernels: Arrays, biases: Arrays) -> None:
        _set_nnx_layers(self._modules, kernels, biases)

    def moments(self, affine: dict[str, _Affine]) -> dict[str, _Moments]:
        _, state = self._split(self._model)
        return self._run(state, affine, self._batch)


def _nnx_layers(modules: dict[str, Any]) -> tuple[Arrays, Arrays]:
    kernels = {n: m.kernel.get_value() for n, m in modules.items()}
    biases = {
        n: m.bias.get_value() for n, m in modules.items() if getattr(m, "bias", None) is not None
    }
    return kernels, biases


def _set_nnx_layers(modules: dict[str, Any], kernels: Arrays, biases: Arrays) -> None:
    for n, kernel in kernels.items():
        modules[n].kernel.set_value(kernel)
    for n, bias in biases.items():
        modules[n].bias.set_value(bias)


@contextlib.contextmanager
def _recording_calls(classes: set[type], names: dict[int, str], outputs: Arrays) -> Iterator[None]:
    """Wrap ``cls.__call__`` so that calls on the tracked instances record their output."""
    saved = {cls: cls.__dict__.get("__call__") for cls in classes}

    def wrap(call: Callable[..., Any]) -> Callable[..., Any]:
        def recording_call(self: Any, *args: Any, **kwargs: Any) -> Any:
            out = call(self, *args, **kwargs)
            if id(self) in names:
                outputs.setdefault(names[id(self)], out)
            return out

        return recording_call

    for cls in classes:  # patched on the class for the with block, restored below
        cls.__call__ = wrap(cls.__call__)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for cls, call in saved.items():
            if call is None:
                del cls.__call__
            else:
                cls.__call__ = call  # type: ignore[method-assign]
