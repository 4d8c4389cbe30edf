"""Loss-landscape slices along filter-normalized random directions (Li et al. 2018).

A slice plots f(α) = L(θ + α d) (1-D) or f(α, β) = L(θ + α d₁ + β d₂) (2-D) for
random directions d. Raw Gaussian directions make plots of different networks
incomparable, because the loss is invariant to the scale of a filter in front of
a ReLU or a normalization. Li et al. normalize each *filter* of the direction to
the norm of the matching filter of the weights,

    d_{i,j} ← d_{i,j} / ‖d_{i,j}‖ · ‖θ_{i,j}‖      (layer i, filter j),

and set the direction to zero on biases and normalization parameters (every
parameter with fewer than two axes). A filter is one slice along the output axis:
the last axis in the Flax/JAX kernel layout ``(..., in, out)`` (``filter_axis=-1``);
use ``filter_axis=0`` for PyTorch's ``(out, in, ...)``. A dense layer's filters are
its output units.

The grid is evaluated in one jitted ``jax.lax.map`` that vectorizes ``chunk_size``
points at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.experiments import _plot
from gradtx.experiments._training import LossFn

__all__ = ["Landscape", "filter_normalized_direction", "loss_landscape"]

PyTree = Any


def filter_normalized_direction(key: jax.Array, params: PyTree, *, filter_axis: int = -1) -> PyTree:
    """A Gaussian random direction with the structure of ``params``, filter-normalized.

    For every floating parameter with two or more axes, d ~ N(0, 1) rescaled so that each
    filter (slice at a fixed index of ``filter_axis``) has the norm of the same filter of
    the parameter; parameters with fewer axes (biases, normalization scales and offsets)
    and non-floating parameters get a zero direction.
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, max(len(leaves), 1))
    directions = []
    for leaf_key, theta in zip(keys, leaves, strict=False):
        theta = jnp.asarray(theta)
        if theta.ndim < 2 or not jnp.issubdtype(theta.dtype, jnp.floating):
            directions.append(jnp.zeros_like(theta))
            continue
        axis = filter_axis % theta.ndim
        others = tuple(a for a in range(theta.ndim) if a != axis)
        d = jax.random.normal(leaf_key, theta.shape, jnp.float32)
        theta32 = theta.astype(jnp.float32)
        d_norm = jnp.sqrt(jnp.sum(d * d, axis=others, keepdims=True))
        theta_norm = jnp.sqrt(jnp.sum(theta32 * theta32, axis=others, keepdims=True))
        directions.append((d * theta_norm / d_norm).astype(theta.dtype))
    return jax.tree_util.tree_unflatten(treedef, directions)


@dataclass(frozen=True)
class Landscape:
    """A 1-D or 2-D slice of the loss.

    ``coordinates``: ``(alphas,)`` or ``(alphas, betas)``; ``losses``: shape
    ``(len(alphas),)`` or ``(len(alphas), len(betas))`` with
    ``losses[i, j] = L(θ + alphas[i] d₁ + betas[j] d₂)``; ``directions``: d₁ (, d₂).
    """

    coordinates: tuple[np.ndarray, ...]
    losses: np.ndarray
    directions: tuple[PyTree, ...]

    def to_dict(self) -> dict[str, Any]:
        """The grid and the losses as JSON-ready lists (without the directions)."""
        names = ("alphas", "betas")
        out: dict[str, Any] = {n: c.tolist() for n, c in zip(names, self.coordinates, strict=False)}
        out["losses"] = self.losses.tolist()
        return out

    def plot(self, ax: Any = None, *, kind: str | None = None, levels: Any = None) -> Any:
        """Draw the slice and return the axes. Needs matplotlib.

        ``kind``: ``"line"`` (the 1-D default), ``"contour"`` (the 2-D default) or
        ``"surface"`` (2-D, on a new 3-D axes unless ``ax`` is one). ``levels``: the
        contour levels; by default 30, log-spaced when every loss is positive.
        """
        plt = _plot.pyplot("Landscape.plot")
        dims = len(self.coordinates)
        kind = kind or ("line" if dims == 1 else "contour")
        accepted = ("line",) if dims == 1 else ("contour", "surface")
        if kind not in accepted:
            raise ValueError(
                f"Landscape.plot: a {dims}-D slice has kind in {accepted}, got {kind!r}"
            )
        if kind == "line":
            if ax is None:
                _, ax = plt.subplots(figsize=(5, 4), layout="constrained")
            ax.plot(self.coordinates[0], self.losses)
            ax.set_xlabel("α")
            ax.set_ylabel("loss")
            if _plot.use_log_scale(self.losses):
                ax.set_yscale("log")
            return ax
        alphas, betas = self.coordinates
        grid_a, grid_b = np.meshgrid(alphas, betas, indexing="ij")
        if kind == "surface":
            if ax is None:
                ax = plt.figure(figsize=(6, 5), layout="constrained").add_subplot(projection="3d")
            ax.plot_surface(grid_a, grid_b, self.losses, cmap="viridis", linewidth=0)
            # Few ticks, small labels set off from them, and a box shrunk inside the axes,
            # so that the ticks of the three axes do not run together and no label is cut.
            for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
                axis.set_major_locator(plt.MaxNLocator(4, steps=[1, 2, 2.5, 5, 10]))
            ax.tick_params(labelsize="small", pad=1)
            ax.set_xlabel("α", labelpad=2)
            ax.set_ylabel("β", labelpad=2)
            ax.set_zlabel("loss", labelpad=4)
            ax.set_box_aspect(None, zoom=0.85)
            return ax
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4.5), layout="constrained")
        if levels is None:
            levels = self._default_levels()
        contours = ax.contour(grid_a, grid_b, self.losses, levels=levels, cmap="viridis")
        ax.clabel(contours, contours.levels[::3], fontsize=6, fmt="%.3g")
        ax.plot([0.0], [0.0], "k+")
        ax.set_aspect("equal")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(plt.MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
        ax.set_xlabel("α (direction 1)")
        ax.set_ylabel("β (direction 2)")
        return ax

    def _default_levels(self) -> np.ndarray:
        finite = self.losses[np.isfinite(self.losses)]
        low, high = float(finite.min()), float(finite.max())
        if high <= low:
            return np.array([low, low + 1.0])
        if low > 0:
            return np.geomspace(low, high, 30)
        return np.linspace(low, high, 30)


def loss_landscape(
    loss_fn: LossFn,
    params: PyTree,
    batch: PyTree,
    *,
    key: jax.Array | None = None,
    directions: Sequence[PyTree] | None = None,
    dims: int = 2,
    resolution: int = 21,
    span: float = 1.0,
    filter_axis: int = -1,
    chunk_size: int = 64,
) -> Landscape:
    """Evaluate ``loss_fn(θ + Σ c_i d_i, batch)`` on a grid of coordinates c.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``.
      params: θ, the centre of the slice.
      batch: the data the loss is evaluated on (all of it at every grid point).
      key: draws ``dims`` directions with `filter_normalized_direction`.
      directions: the directions themselves (pytrees shaped like ``params``), instead
        of ``key``; ``dims`` is then their number.
      dims: 1 or 2.
      resolution: points per axis; odd values put a point at the origin, where the
        slice equals ``loss_fn(params, batch)``.
      span: each coordinate runs over ``linspace(-span, span, resolution)``.
      filter_axis: the output axis of kernels, for the normalization.
      chunk_size: how many grid points one ``vmap`` evaluates at once.
    """
    owner = "loss_landscape"
    if directions is None:
        if key is None:
            raise ValueError(f"{owner}: pass key (to draw directions) or directions")
        if dims not in (1, 2):
            raise ValueError(f"{owner}: dims must be 1 or 2, got {dims!r}")
        keys = jax.random.split(key, dims)
        directions = tuple(
            filter_normalized_direction(k, params, filter_axis=filter_axis) for k in keys
        )
    else:
        directions = tuple(directions)
        if len(directions) not in (1, 2):
            raise ValueError(f"{owner}: need 1 or 2 directions, got {len(directions)}")
    if not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"{owner}: resolution must be an integer >= 2, got {resolution!r}")
    if not span > 0:
        raise ValueError(f"{owner}: span must be > 0, got {span!r}")
    axis = np.linspace(-span, span, resolution)
    coordinates = (axis,) * len(directions)
    mesh = np.meshgrid(*coordinates, indexing="ij")
    points = jnp.asarray(np.stack([m.ravel() for m in mesh], axis=-1))

    def at(point):
        def shifted(theta, *ds):
            return theta + sum(c.astype(theta.dtype) * d for c, d in zip(point, ds, strict=True))

        return loss_fn(jax.tree_util.tree_map(shifted, params, *directions), batch)

    evaluate = jax.jit(lambda pts: jax.lax.map(at, pts, batch_size=chunk_size))
    losses = np.asarray(evaluate(points), dtype=np.float64).reshape(mesh[0].shape)
    return Landscape(coordinates, losses, directions)
