"""optax 0.2.8's ``optax.microbatching``: a function evaluated on a batch one slice (a
microbatch) at a time, in a ``lax.fori_loop``, its results combined as they come, so that
the memory of one microbatch's evaluation is what is needed.

* ``microbatch(fun, argnums, microbatch_size, accumulator)``: ``fun`` on the batch, computed
  microbatch by microbatch and combined by ``accumulator`` (sum, mean, running mean or
  concatenation; per part of ``fun``'s output);
* ``micro_vmap``: ``jax.vmap`` over the batch, microbatch by microbatch;
* ``micro_grad``: per-example gradients (transformed, then summed or averaged) and
  per-example values, metrics and aux, microbatch by microbatch;
* ``reshape_batch_axis``, ``Accumulator``, ``AccumulationType``: the pieces.

With a batch of size B and microbatch size m there are n = B / m microbatches; microbatch
i holds the examples i, i + n, i + 2n, … (a column-major reshape of the batch axis into
(n, m), as optax's, so that a sharded batch axis stays sharded along m).
"""

from __future__ import annotations

import dataclasses
import enum
import numbers
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = [
    "AccumulationType",
    "Accumulator",
    "micro_grad",
    "micro_vmap",
    "microbatch",
    "reshape_batch_axis",
]

Function = Callable[..., Any]

class Aux(NamedTuple):
    """What ``micro_grad``'s function returns second (optax's ``IndividualOutputs``): per
    example, the value of ``fun``, the metrics of its gradient and its aux."""

    values: Any
    metrics: Any
    aux: Any


IndividualOutputs = Aux


@dataclasses.dataclass(frozen=True)
class Accumulator:
    """How the results of the microbatches are combined, as the loop

        carry = init(shape of one microbatch's result)      # jax.ShapeDtypeStruct leaves
        for i in range(n):  carry = update(carry, result_i, i)
        result = finalize(carry)

    and, for results already stacked along a leading axis (``micro_vmap`` within one
    microbatch), ``aggregate(stacked)``, the same combination at once.
    """

    init: Callable[[Any], Any]
    update: Callable[[Any, Any, Any], Any]
    finalize: Callable[[Any], Any]
    aggregate: Callable[[Any], Any]


class AccumulationType(enum.Enum):
    """The built-in combinations (an ``Accumulator`` each, made once n is known)."""

    MEAN = enum.auto()
    """The mean over the n microbatches: Σ_i r_i / n."""
    SUM = enum.auto()
    """The sum over the microbatches: Σ_i r_i."""
    RUNNING_MEAN = enum.auto()
    """The mean over the microbatches that ran (``num_real_microbatches`` of them):
    c ← c · i/(i + 1) + r_i / (i + 1)."""
    CONCAT = enum.auto()
    """The results concatenated along axis 0 in the order of the batch (each r_i has a
    leading axis of size m)."""


def _check_size(owner: str, microbatch_size: Any) -> None:
    if microbatch_size is None:
        return
    if isinstance(microbatch_size, bool) or not isinstance(microbatch_size, numbers.Integral):
        raise TypeError(f"{owner}: microbatch_size must be a positive int or None, got "
                        f"{type(microbatch_size).__name__} {microbatch_size!r}")
    if microbatch_size <= 0:
        raise ValueError(f"{owner}: microbatch_size must be a positive int or None, got "
                         f"{microbatch_size!r}")


def _check_real_count(owner: str, num_real_microbatches: Any) -> None:
    if num_real_microbatches is None or hasattr(num_real_microbatches, "dtype") and \
            not isinstance(num_real_microbatches, numbers.Number):
        return  # an array: its value may be traced
    if isinstance(num_real_microbatches, bool) or \
            not isinstance(num_real_microbatches, numbers.Integral):
        raise TypeError(f"{owner}: num_real_microbatches must be an int, an int array or None, "
                        f"got {type(num_real_microbatches).__name__} {num_real_microbatches!r}")
    if num_real_microbatches < 0:
        raise ValueError(f"{owner}: num_real_microbatches must be at least 0, got "
                         f"{num_real_microbatches!r}")


def reshape_batch_axis(tree: Any, microbatch_size: int, axis: int = 0) -> Any:
    """Each leaf's axis ``axis`` (of size B = n · m, m = ``microbatch_size``) split into
    two, (n, m), in column-major order: entry [i, j] is the batch's entry i + n · j, so
    microbatch i (``x[..., i, :, ...]``) holds the examples i, i + n, i + 2n, …; a sharding
    of the batch axis becomes one of the m axis."""
    owner = "reshape_batch_axis"
    _check_size(owner, microbatch_size)
    if microbatch_size is None:
        raise TypeError(f"{owner}: microbatch_size must be a positive int, got None")

    def split(x: Any) -> jax.Array:
        x = jnp.asarray(x)
        ax = axis + x.ndim if axis < 0 else axis
        if not 0 <= ax < x.ndim:
            raise ValueError(f"{owner}: axis {axis} is out of range for an array of shape "
                             f"{x.shape}")
        size = x.shape[ax]
        if size % microbatch_size:
            raise ValueError(f"{owner}: the batch axis {axis} has size {size}, which "
                             f"microbatch_size={microbatch_size} does not divide")
        rows = size // microbatch_size
        # row-major (m, n), then swapped: [i, j] = x[j · n + i]
        y = x.reshape(x.shape[:ax] + (microbatch_size, rows) + x.shape[ax + 1:])
        return jnp.swapaxes(y, ax, ax + 1)

    return jax.tree.map(split, tree)


def _per_leaf(acc: Accumulator) -> Accumulator:
    """``acc`` (written for one array) applied to every leaf of a tree."""
    return Accumulator(
        init=lambda value: jax.tree.map(acc.init, value),
        update=lambda carry, value, i: jax.tree.map(lambda c, v: acc.update(c, v, i),
                                                    carry, value),
        finalize=lambda carry: jax.tree.map(acc.finalize, carry),
        aggregate=lambda values: jax.tree.map(acc.aggregate, values),
    )


def _zeros_inexact(value: Any) -> jax.Array:
    if not jnp.issubdtype(value.dtype, jnp.inexact):
        raise ValueError(f"microbatch: AccumulationType.MEAN and RUNNING_MEAN need floating "
                         f"(or complex) results, got {value.dtype}")
    return jnp.zeros(value.shape, value.dtype)


def _sum() -> Accumulator:
    return _per_leaf(Accumulator(
        init=lambda value: jnp.zeros(value.shape, value.dtype),
        update=lambda carry, value, i: carry + value,
        finalize=lambda carry: carry,
        aggregate=lambda values: jnp.sum(values, axis=0)))


def _check_count(kind: str, n: int) -> None:
    if n <= 0:
        raise ValueError(f"microbatch: AccumulationType.{kind} needs at least one microbatch, "
                         f"got {n} (an empty batch)")


def _mean(n: int) -> Accumulator:
    _check_count("MEAN", n)
    return _per_leaf(Accumulator(
        init=_zeros_inexact,
        update=lambda carry, value, i: carry + value,
        finalize=lambda carry: carry / n,
        aggregate=lambda values: jnp.mean(values, axis=0)))


def _running_mean() -> Accumulator:
    def update(carry: jax.Array, value: jax.Array, i: Any) -> jax.Array:
        kept = i / (i + 1)
        return carry * kept + value * (1 - kept)

    return _per_leaf(Accumulator(
        init=_zeros_inexact, update=update, finalize=lambda carry: carry,
        aggregate=lambda values: jnp.mean(values, axis=0)))


def _concat(n: int) -> Accumulator:
    _check_count("CONCAT", n)

    def finalize(carry: jax.Array) -> jax.Array:
        # carry[i, j] is the batch's entry i + n · j (see reshape_batch_axis)
        if carry.ndim < 2:
            return carry
        return jnp.swapaxes(carry, 0, 1).reshape((-1,) + carry.shape[2:])

    def init(value: Any) -> jax.Array:
        # zeros like one result (its sharding kept), stacked n times along a new axis 0
        return jnp.broadcast_to(jnp.zeros_like(value), (n,) + tuple(value.shape))

    return _per_leaf(Accumulator(
        init=init,
        update=lambda carry, value, i: carry.at[i].set(value),
        finalize=finalize,
        aggregate=lambda values: values))


def _builtin(acc: Any) -> AccumulationType | None:
    """``acc`` as an ``AccumulationType``: ours, or optax's member of the same name."""
    if isinstance(acc, AccumulationType):
        return acc
    if isinstance(acc, enum.Enum) and type(acc).__name__ == "AccumulationType" and \
            acc.name in AccumulationType.__members__:
        return AccumulationType[acc.name]
    return None


def _is_accumulator(acc: Any) -> bool:
    return isinstance(acc, Accumulator) or all(
        callable(getattr(acc, name, None)) for name in ("init", "update", "finalize",
                                                        "aggregate"))


def _canonicalize(tree: Any, n: int) -> Accumulator:
    """One ``Accumulator`` for a tree (a prefix of the results' tree) of ``Accumulator``s
    and ``AccumulationType``s."""

    def one(acc: Any) -> Any:
        if _is_accumulator(acc):
            return acc
        kind = _builtin(acc)
        if kind is AccumulationType.SUM:
            return _sum()
        if kind is AccumulationType.MEAN:
            return _mean(n)
        if kind is AccumulationType.RUNNING_MEAN:
            return _running_mean()
        if kind is AccumulationType.CONCAT:
            return _concat(n)
        raise ValueError(f"microbatch: accumulator must be an AccumulationType, an "
                         f"Accumulator or a tree of them, got {acc!r}")

    accs = jax.tree.map(one, tree,
                        is_leaf=lambda x: _is_accumulator(x) or _builtin(x) is not None)
    is_acc = _is_accumulator

    return Accumulator(
        init=lambda values: jax.tree.map(lambda a, v: a.init(v), accs, values, is_leaf=is_acc),
        update=lambda carry, values, i: jax.tree.map(
            lambda a, c, v: a.update(c, v, i), accs, carry, values, is_leaf=is_acc),
        finalize=lambda carry: jax.tree.map(lambda a, c: a.finalize(c), accs, carry,
                                            is_leaf=is_acc),
        aggregate=lambda values: jax.tree.map(lambda a, v: a.aggregate(v), accs, values,
                                              is_leaf=is_acc),
    )


def _as_tuple(value: Any, kind: type) -> tuple[Any, ...]:
    return (value,) if isinstance(value, kind) else tuple(value)


def microbatch(
    fun: Function,
    argnums: int | Sequence[int],
    microbatch_size: int | None,
    accumulator: Accumulator | AccumulationType | Any = AccumulationType.SUM,
    *,
    argnames: str | Sequence[str] = (),
    in_axes: int | Sequence[int] = 0,
    num_real_microbatches: int | jax.Array | None = None,
) -> Function:
    """optax.microbatch: ``fun`` evaluated on the batch one microbatch at a time.

    The arguments ``argnums`` (positions) and ``argnames`` (keywords) carry a batch axis
    (``in_axes``, one int for all or one per argument, in the order argnums + argnames) of
    one size B, which m = ``microbatch_size`` must divide; the others are passed whole.
    With r_i = fun(microbatch i), i = 0 … n − 1 (n = B / m, in a ``lax.fori_loop``), the
    result is, per part of the output (``accumulator`` is a tree prefix of it):

        SUM: Σ_i r_i     MEAN: Σ_i r_i / n     RUNNING_MEAN: the mean of the r_i that ran
        CONCAT: the r_i concatenated along axis 0, in the batch's order

    or what an ``Accumulator`` makes. ``num_real_microbatches`` (an int or a traced int)
    stops the loop after that many microbatches (MEAN still divides by n).
    ``microbatch_size=None`` returns ``fun`` itself.
    """
    owner = "microbatch"
    if not callable(fun):
        raise TypeError(f"{owner}: fun must be callable, got {type(fun).__name__} {fun!r}")
    _check_size(owner, microbatch_size)
    _check_real_count(owner, num_real_microbatches)
    if microbatch_size is None:
        return fun
    positions = _as_tuple(argnums, int)
    names = _as_tuple(argnames, str)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in positions):
        raise TypeError(f"{owner}: argnums must be an int or a sequence of ints, got "
                        f"{argnums!r}")
    if not positions and not names:
        raise ValueError(f"{owner}: argnums and argnames name no argument with a batch axis")
    axes = (in_axes,) * (len(positions) + len(names)) if isinstance(in_axes, int) \
        else tuple(in_axes)
    if len(axes) != len(positions) + len(names):
        raise ValueError(f"{owner}: in_axes must be one int or one per batched argument "
                         f"({len(positions) + len(names)}: argnums then argnames), got "
                         f"{in_axes!r}")
    pos_axes, name_axes = axes[:len(positions)], axes[len(positions):]

    def microbatched(*args: Any, **kwargs: Any) -> Any:
        batched = [(args[i], ax) for i, ax in zip(positions, pos_axes, strict=True)] + \
            [(kwargs[k], ax) for k, ax in zip(names, name_axes, strict=True)]
        sizes = [jnp.shape(leaf)[ax] for tree, ax in batched for leaf in jax.tree.leaves(tree)]
        if not sizes:
            raise ValueError(f"{owner}: the batched arguments hold no arrays")
        if len(set(sizes)) > 1:
            raise ValueError(f"{owner}: the batched arguments must have batch axes of one "
                             f"size, got sizes {sizes}")
        size = sizes[0]
        if size % microbatch_size:
            raise ValueError(f"{owner}: the batch size {size} is not divisible by "
                             f"microbatch_size={microbatch_size}")
        n = size // microbatch_size
        acc = _canonicalize(accumulator, n)
        split_args = list(args)
        split_kwargs = dict(kwargs)
        for i, ax in zip(positions, pos_axes, strict=True):
            split_args[i] = reshape_batch_axis(args[i], microbatch_size, ax)
        for k, ax in zip(names, name_axes, strict=True):
            split_kwargs[k] = reshape_batch_axis(kwargs[k], microbatch_size, ax)

        def take(tree: Any, index: Any, ax: int) -> Any:
            # the microbatch axis (n) of a split leaf, which has one axis more than before
            return jax.tree.map(
                lambda x: lax.dynamic_index_in_dim(x, index, ax + x.ndim - 1 if ax < 0 else ax,
                                                   keepdims=False), tree)

        def on_microbatch(index: Any) -> Any:
            a, k = list(split_args), dict(split_kwargs)
            for i, ax in zip(positions, pos_axes, strict=True):
                a[i] = take(split_args[i], index, ax)
            for name, ax in zip(names, name_axes, strict=True):
                k[name] = take(split_kwargs[name], index, ax)
            return fun(*a, **k)

        carry = acc.init(jax.eval_shape(on_microbatch, 0))
        stop = n if num_real_microbatches is None else num_real_microbatches
        carry = lax.fori_loop(0, stop, lambda i, c: acc.update(c, on_microbatch(i), i), carry)
        return acc.finalize(carry)

    return microbatched


def micro_vmap(
    fun: Function,
    in_axes: int | Sequence[int | None] = 0,
    out_axes: Any = 0,
    *,
    microbatch_size: int | None = None,
    vmap_fn: Callable[..., Function] = jax.vmap,
    accumulator: Accumulator | AccumulationType | Any = AccumulationType.CONCAT,
    num_real_microbatches: int | jax.Array | None = None,
) -> Function:
    """optax.microbatching.micro_vmap: ``vmap_fn(fun, in_axes)`` over the batch, one
    microbatch at a time. The per-example results are combined by ``accumulator`` (default
    CONCAT: what ``jax.vmap`` returns; SUM or MEAN reduce over the batch without holding it
    whole), within a microbatch by its ``aggregate`` and across microbatches by its loop.
    ``in_axes``: an int (the first argument mapped) or one int or ``None`` per positional
    argument; keyword arguments are mapped along axis 0. ``out_axes`` must be 0."""
    owner = "micro_vmap"
    if out_axes != 0:
        raise NotImplementedError(f"{owner}: out_axes must be 0, got {out_axes!r}")
    _check_size(owner, microbatch_size)
    axes = (in_axes,) if isinstance(in_axes, int) else tuple(in_axes)

    def mapped_and_combined(*args: Any, kwargs: dict[str, Any]) -> Any:
        out = vmap_fn(fun, axes, out_axes)(*args, **kwargs)
        leaves = jax.tree.leaves(out)
        per_call = leaves[0].shape[0] if leaves else 0
        return _canonicalize(accumulator, per_call).aggregate(out)

    inner = microbatch(
        mapped_and_combined,
        argnums=tuple(i for i, ax in enumerate(axes) if ax is not None),
        microbatch_size=microbatch_size,
        accumulator=accumulator,
        argnames="kwargs",
        in_axes=tuple(ax for ax in axes if ax is not None) + (0,),
        num_real_microbatches=num_real_microbatches,
    )

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return inner(*args, kwargs=kwargs)

    return wrapped


def micro_grad(
    fun: Function,
    has_aux: bool = False,
    argnums: int | Sequence[int] = 0,
    *,
    batch_argnums: int | Sequence[int] = 1,
    keep_batch_dim: bool = True,
    microbatch_size: int | None = None,
    accumulator: Accumulator | AccumulationType | Any = AccumulationType.SUM,
    transform_fn: Callable[[Any], Any] = lambda x: x,
    metrics_fn: Callable[[Any], Any] = lambda x: None,
    num_real_microbatches: int | jax.Array | None = None,
) -> Callable[..., tuple[Any, Any]]:
    """optax.microbatching.micro_grad: per-example gradients, microbatch by microbatch.

    For each example b of the batch arguments ``batch_argnums`` (with a batch axis of
    size 1 kept when ``keep_batch_dim``), g_b = ∇ fun(…, example b, …) with respect to
    ``argnums``; the function returns

        (combine_b transform_fn(g_b),  Aux(values=[f_b], metrics=[metrics_fn(g_b)], aux=[aux_b]))

    where combine is ``accumulator`` (default SUM; MEAN for the mean gradient) and the
    second part is per example (concatenated). ``has_aux``: ``fun`` returns (value, aux).
    """
    owner = "micro_grad"
    _check_size(owner, microbatch_size)
    batch = _as_tuple(batch_argnums, int)
    if not batch:
        raise ValueError(f"{owner}: batch_argnums must name at least one argument")
    with_aux = fun if has_aux else (lambda *a, **k: (fun(*a, **k), None))
    value_and_grad = jax.value_and_grad(with_aux, argnums, has_aux=True)

    def per_example(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        (value, aux), grad = value_and_grad(*args, **kwargs)
        return transform_fn(grad), IndividualOutputs(values=value, metrics=metrics_fn(grad),
                                                     aux=aux)

    axes: list[int | None] = [None] * (max(batch) + 1)
    for i in batch:
        axes[i] = 0
    mapped = micro_vmap(per_example, in_axes=tuple(axes),
                        accumulator=(accumulator, AccumulationType.CONCAT),
                        microbatch_size=microbatch_size,
                        num_real_microbatches=num_real_microbatches)
    if not keep_batch_dim:
        return mapped

    def with_example_axis(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        expanded = list(args)
        for i in batch:
            expanded[i] = jax.tree.map(lambda x: jnp.expand_dims(x, 1), args[i])
        return mapped(*expanded, **kwargs)

    return with_example_axis
