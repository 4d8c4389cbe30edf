"""Optimizer state on a mesh: ZeRO-1 sharding, shardings for ``jit`` and Orbax, resuming.

gradtx adds no collectives and no process management: JAX's ``jit`` (GSPMD)
moves the data, ``jax.distributed`` runs the processes, Orbax writes the
checkpoints. What this module adds is where each state leaf lives:

* [`state_shardings`][gradtx.sharding.state_shardings] (and
  [`abstract_state`][gradtx.sharding.abstract_state]): one ``NamedSharding``
  (or ``jax.ShapeDtypeStruct``) per leaf of ``tx.init(params)``, for
  ``jax.jit(..., out_shardings=...)`` and as an Orbax restore target. Leaves
  computed from the params are sharded as JAX's sharding types infer them
  (the moments of a param like that param); every other leaf (step counters,
  hyperparameters) is replicated on the params' mesh.
* ``zero_axis=``: ZeRO-1. On top of that, every per-parameter buffer (a
  state leaf shaped as its param: moments, traces, averages) not already
  sharded over the data-parallel mesh axis ``zero_axis`` is split along its
  first unsharded dimension that the axis size divides, so each device of
  that axis holds ``1/|axis|`` of the per-parameter state while the params
  stay replicated. The jitted update then computes each device's shard of the
  update and GSPMD gathers the updated params into their own sharding. Leaves
  that cannot be split stay replicated over the axis:
  [`replicated_leaves`][gradtx.sharding.replicated_leaves] lists them. Flat params
  (``gradtx.flat.ravel(params, pad_to_multiple=|axis|)``) make every bucket
  divisible, so nothing stays replicated but the scalars.
* [`shard_state`][gradtx.sharding.shard_state]: the same placement for a state you already have.
* [`restore_latest`][gradtx.sharding.restore_latest]: the newest checkpoint of an Orbax
  ``CheckpointManager`` that restores, skipping (with a warning naming the
  step) one that a killed run left incomplete.

The recipe, with its memory figures, is ``docs/scaling.md``.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jax.tree_util import keystr, tree_flatten_with_path

from gradtx._optional import optional_import
from gradtx.core.base import GradientTransformation

PyTree = Any

__all__ = [
    "abstract_state",
    "replicated_leaves",
    "restore_latest",
    "shard_state",
    "state_shardings",
]


def state_shardings(
    tx: GradientTransformation, params: PyTree, *, zero_axis: str | None = None
) -> PyTree:
    """One ``NamedSharding`` per leaf of ``tx.init(params)``, on the params' mesh.

    Leaves computed from the params (moments, traces, averages) get the
    sharding JAX's sharding types infer for them, which for a moment is its
    param's; every other leaf (the step counter, hyperparameters, buffers made
    from constants) is replicated, ``NamedSharding(mesh, P())``. With
    ``zero_axis`` every per-parameter buffer (shaped as its param) not already
    sharded over that mesh axis is also split over it, along its first
    unsharded dimension whose size the axis's divides (ZeRO-1). Scalars and
    statistics of other shapes (Adafactor's factored moments) are not split.

    Use it as ``jax.jit(tx.init, out_shardings=...)`` and for the state in the
    ``out_shardings`` of the training step, so the state keeps its placement
    step after step, and to build an Orbax restore target
    ([`abstract_state`][gradtx.sharding.abstract_state]). Nothing is computed: ``tx.init``
    is only traced.

    Args:
      tx: the optimizer.
      params: the params (arrays, or ``jax.ShapeDtypeStruct`` with a
        sharding), every leaf with a ``NamedSharding`` on one mesh.
      zero_axis: a mesh axis name to shard the state over (ZeRO-1), or None.

    Raises:
      ValueError: a params leaf has no ``NamedSharding``, the leaves are on
        different meshes, or ``zero_axis`` is not an axis of the mesh.
    """
    return jax.tree.map(lambda a: a.sharding, _abstract(tx, params, zero_axis, "state_shardings"))


def abstract_state(
    tx: GradientTransformation, params: PyTree, *, zero_axis: str | None = None
) -> PyTree:
    """``tx.init(params)`` as ``jax.ShapeDtypeStruct`` leaves with
    [`state_shardings`][gradtx.sharding.state_shardings].

    The target an Orbax checkpoint of the state is restored into
    (``ocp.args.StandardRestore(abstract_state(tx, params, zero_axis=...))``):
    every restored leaf lands on the params' mesh with its sharding, on however
    many devices the mesh now has. Arguments as in
    [`state_shardings`][gradtx.sharding.state_shardings].
    """
    return _abstract(tx, params, zero_axis, "abstract_state")


def shard_state(state: PyTree, params: PyTree, axis: str) -> PyTree:
    """``state`` (made from ``params``) with its array leaves placed on the params' mesh, ZeRO-1.

    The placement of [`state_shardings`][gradtx.sharding.state_shardings] with
    ``zero_axis=axis``, for a state you already hold (an eager ``tx.init(params)``, a
    state from elsewhere): a per-parameter buffer keeps its sharding and is also split
    over ``axis`` (along its first unsharded dimension whose size the axis's divides,
    unless already sharded over ``axis``); a leaf held off the mesh (a scalar on one device)
    is replicated on it. Leaves that cannot be split stay replicated over
    ``axis`` ([`replicated_leaves`][gradtx.sharding.replicated_leaves]). Arrays are moved with
    ``jax.device_put``; non-array leaves are left as they are.

    Raises:
      ValueError: a params leaf has no ``NamedSharding``, the leaves are on
        different meshes, or ``axis`` is not an axis of the mesh.
    """
    mesh = _mesh_of(params, "shard_state")
    _check_axis(mesh, axis, "shard_state: axis")

    def place(x: Any, per_param: bool) -> Any:
        if not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer):
            return x
        s = x.sharding
        spec = _spec(s) if isinstance(s, NamedSharding) and s.mesh == mesh else P()
        if per_param:
            spec = _zero_spec(tuple(x.shape), spec, mesh, axis)
        target = NamedSharding(mesh, spec)
        if s.is_equivalent_to(target, x.ndim):
            return x
        if target.is_fully_addressable or not x.is_fully_addressable:
            return jax.device_put(x, target)
        value = np.asarray(x)  # several processes: each holds the same value, made the same way
        return jax.make_array_from_callback(value.shape, target, lambda index: value[index])

    return jax.tree.map(place, state, _per_param_leaves(state, params))


def replicated_leaves(state: PyTree, axis: str) -> dict[str, tuple[int, ...]]:
    """The non-scalar leaves of ``state`` that every device along ``axis`` holds whole.

    ``{key path: shape}`` in tree order, for a state (arrays) or an
    [`abstract_state`][gradtx.sharding.abstract_state] (``jax.ShapeDtypeStruct``): the
    leaves ZeRO-1 over ``axis`` did not split: no unsharded dimension's size is a
    multiple of the axis's, or the leaf is not a per-parameter buffer (Adafactor's
    factored moments), or it is not on a mesh at all. An empty dict means only
    scalars are replicated.
    """
    if not isinstance(axis, str):
        raise TypeError(f"replicated_leaves: axis must be a mesh axis name, got {axis!r}")
    out: dict[str, tuple[int, ...]] = {}
    for path, x in tree_flatten_with_path(state)[0]:
        shape = tuple(int(d) for d in np.shape(x))
        if not shape:
            continue
        s = getattr(x, "sharding", None)
        if not (isinstance(s, NamedSharding) and axis in _axes_used(s.spec)):
            out[keystr(path) or "<root>"] = shape
    return out


def restore_latest(manager: Any, target: Any) -> tuple[int, Any] | None:
    """``(step, restored)`` from the newest checkpoint of ``manager`` that restores, or None.

    Steps are tried from the newest down. A step that fails to restore (a run
    killed while writing it leaves it without its metadata or part of its
    arrays; Orbax's error does not say which step) is skipped with a
    ``UserWarning`` that names the step, the directory and the error, and
    says which step is tried next. ``None`` when the manager has no
    checkpoint at all.

    Args:
      manager: an ``orbax.checkpoint.CheckpointManager``.
      target: the tree to restore into (``jax.ShapeDtypeStruct`` leaves with
        shardings, for example ``{"params": ..., "opt_state":
        abstract_state(tx, params, zero_axis="data")}``; restored with
        ``ocp.args.StandardRestore``), or Orbax ``CheckpointArgs`` used as given
        (``ocp.args.Composite(...)``).

    Raises:
      RuntimeError: there are checkpoints but none restores; the message
        lists every step with its error.
      ImportError: ``orbax-checkpoint`` is not installed.

    A skipped step stays on disk: ``manager.save`` does not write a step
    older than the newest one it knows, so training on from the step restored
    saves again from the next interval past the damaged one, and
    ``max_to_keep`` removes it in time (or ``manager.delete(step)``).
    """
    ocp = _orbax("restore_latest")
    args = target if isinstance(target, ocp.args.CheckpointArgs) else ocp.args.StandardRestore(
        target)
    manager.reload()
    steps = sorted(manager.all_steps(), reverse=True)
    failures = []
    for i, step in enumerate(steps):
        try:
            return step, manager.restore(step, args=args)
        except Exception as err:  # Orbax raises several types for a partly written step
            first_line = (str(err).strip().splitlines() or [""])[0]
            failures.append(f"step {step}: {type(err).__name__}: {first_line}")
            then = (f"trying step {steps[i + 1]}" if i + 1 < len(steps)
                    else "no earlier checkpoint to try")
            warnings.warn(
                f"restore_latest: skipping the checkpoint of step {step} in {manager.directory}, "
                f"which does not restore (incomplete or damaged; {type(err).__name__}: "
                f"{first_line}); {then}", UserWarning, stacklevel=2)
    if failures:
        raise RuntimeError(f"restore_latest: no checkpoint in {manager.directory} restores: "
                           + "; ".join(failures))
    return None


# ---------------------------------------------------------------------- helpers


def _abstract(tx: GradientTransformation, params: PyTree, zero_axis: str | None, owner: str
              ) -> PyTree:
    mesh = _mesh_of(params, owner)
    _check_axis(mesh, zero_axis, f"{owner}: zero_axis", optional=True)
    # The state as traced from params on an all-explicit copy of the mesh: each leaf's
    # sharding is then part of its type, as JAX's sharding rules propagate it from the params.
    explicit = Mesh(mesh.devices, mesh.axis_names,
                    axis_types=(AxisType.Explicit,) * len(mesh.axis_names))
    traced = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                       sharding=NamedSharding(explicit, _spec(x.sharding))),
        params)
    with jax.set_mesh(explicit):
        shapes = jax.eval_shape(tx.init, traced)

    def placed(a: jax.ShapeDtypeStruct, per_param: bool) -> jax.ShapeDtypeStruct:
        spec = _spec(a.sharding) if isinstance(a.sharding, NamedSharding) else P()
        if per_param:
            spec = _zero_spec(tuple(a.shape), spec, mesh, zero_axis)
        return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=NamedSharding(mesh, spec))

    return jax.tree.map(placed, shapes, _per_param_leaves(shapes, params))


def _per_param_leaves(state: PyTree, params: PyTree) -> PyTree:
    """For each leaf of ``state``: is it a per-parameter buffer (shaped as its param)?

    A per-parameter buffer sits in a subtree of the state laid out like the params
    (every leaf at a key path of the params; a moment ``mu``, a flat buffer of the
    same layout, a masked subset) and has its param's shape. Only these are split
    by ZeRO: statistics of other shapes (Adafactor's factored moments, L-BFGS's
    history) are combined with each other in ways one split axis cannot serve.
    """
    shapes = {path: tuple(np.shape(x)) for path, x in tree_flatten_with_path(params)[0]}

    def laid_out_like_params(node: Any) -> bool:
        items = tree_flatten_with_path(node)[0]
        return bool(items) and all(path in shapes for path, _ in items)

    def mark(node: Any) -> Any:
        if not laid_out_like_params(node):
            return False
        return jax.tree_util.tree_map_with_path(
            lambda path, x: tuple(np.shape(x)) == shapes[path] and bool(shapes[path]), node)

    return jax.tree.map(mark, state, is_leaf=laid_out_like_params)


def _mesh_of(params: PyTree, owner: str) -> Mesh:
    """The one concrete mesh every leaf of ``params`` is sharded on."""
    mesh = None
    leaves = tree_flatten_with_path(params)[0]
    if not leaves:
        raise ValueError(f"{owner}: params has no leaves, so no mesh to place the state on")
    for path, x in leaves:
        s = getattr(x, "sharding", None)
        if not (isinstance(s, NamedSharding) and isinstance(s.mesh, Mesh)):
            raise ValueError(
                f"{owner}: every params leaf must have a NamedSharding on a mesh "
                f"(jax.device_put(params, NamedSharding(mesh, spec))); the leaf at "
                f"{keystr(path) or '<root>'} has {s!r}")
        if mesh is None:
            mesh = s.mesh
        elif s.mesh != mesh:
            raise ValueError(f"{owner}: params leaves are on two meshes, {mesh} and {s.mesh} "
                             f"(at {keystr(path) or '<root>'}); the state needs one")
    assert mesh is not None
    return mesh


def _check_axis(mesh: Mesh, axis: Any, what: str, optional: bool = False) -> None:
    if (axis is None and optional) or (isinstance(axis, str) and axis in mesh.axis_names):
        return
    raise ValueError(f"{what} must be one of the mesh's axes {tuple(mesh.axis_names)}"
                     f"{' or None' if optional else ''}, got {axis!r}")


def _entry_axes(entry: Any) -> tuple[str, ...]:
    if entry is None:
        return ()
    return tuple(entry) if isinstance(entry, tuple) else (entry,)


def _axes_used(spec: P) -> tuple[str, ...]:
    return tuple(a for entry in spec for a in _entry_axes(entry))


def _spec(sharding: NamedSharding) -> P:
    """The spec with one-axis tuples unwrapped and trailing ``None`` dropped."""
    entries = [_entry_axes(e) for e in sharding.spec]
    while entries and not entries[-1]:
        entries.pop()
    return P(*(None if not e else e[0] if len(e) == 1 else e for e in entries))


def _zero_spec(shape: tuple[int, ...], spec: P, mesh: Mesh, axis: str | None) -> P:
    """``spec`` also split over ``axis``, along the first unsharded dimension it divides.

    Only an unsharded dimension: the gradient meeting this state in the update is
    sharded like the param, and a dimension sharded two ways in two operands has no
    common sharding under explicit mesh axes.
    """
    if axis is None or not shape or axis in _axes_used(spec):
        return spec
    entries = [_entry_axes(e) for e in spec] + [()] * (len(shape) - len(spec))
    for d, size in enumerate(shape):
        if not entries[d] and size % mesh.shape[axis] == 0:
            entries[d] = (axis,)
            break
    else:
        return spec
    while entries and not entries[-1]:
        entries.pop()
    return P(*(None if not e else e[0] if len(e) == 1 else e for e in entries))


def _orbax(owner: str) -> Any:
    with optional_import("orbax", owner):
        import orbax.checkpoint as ocp
    return ocp
