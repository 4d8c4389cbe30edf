"""Per-layer activation statistics: the lecture's "look at the activation outputs"
experiment (10 tanh layers of 500 units on unit-Gaussian input), for any stack of
layers, initializer and activation.

For each layer's activations ``a`` (all entries pooled): the mean, the standard
deviation (ddof 0, as ``numpy.std``) and

* tanh: the saturated fraction, ``|a| > 0.99`` (where ``tanh' = 1 − a² < 0.02``);
* logistic / sigmoid: the saturated fraction, ``a < 0.01`` or ``a > 0.99``;
* relu: the dead fraction, ``a == 0`` (the unit passes no gradient);
* linear: neither.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx._optional import optional_import

SATURATION = 0.99

"""tanh saturates where ``|a| > SATURATION``; logistic where ``a > SATURATION`` or
``a < 1 − SATURATION``."""


def _tanh_saturated(a: np.ndarray) -> float:
    return float(np.mean(np.abs(a) > SATURATION))


def _logistic_saturated(a: np.ndarray) -> float:
    return float(np.mean((a > SATURATION) | (a < 1.0 - SATURATION)))


def _dead(a: np.ndarray) -> float:
    return float(np.mean(a == 0))


class _Activation(NamedTuple):
    fn: Callable[[jax.Array], jax.Array]
    saturated: Callable[[np.ndarray], float] | None = None
    dead: Callable[[np.ndarray], float] | None = None


_ACTIVATIONS = {
    "linear": _Activation(lambda z: z),
    "tanh": _Activation(jnp.tanh, saturated=_tanh_saturated),
    "logistic": _Activation(jax.nn.sigmoid, saturated=_logistic_saturated),
    "sigmoid": _Activation(jax.nn.sigmoid, saturated=_logistic_saturated),
    "relu": _Activation(jax.nn.relu, dead=_dead),
}


class LayerStats(NamedTuple):
    """Statistics of one layer's activations.

    ``saturated_fraction`` is set for tanh/logistic, ``dead_fraction`` for relu, the
    other is None. ``values`` keeps the activations for
    [`plot_histograms`][gradtx.diagnostics.plot_histograms].
    """

    layer: str
    mean: float
    std: float
    saturated_fraction: float | None
    dead_fraction: float | None
    values: jax.Array


Layer = jax.Array | Callable[[jax.Array], jax.Array]


def activation_stats(
    layers: Sequence[Layer] | Callable[[jax.Array], Sequence[jax.Array] | Mapping[str, jax.Array]],
    x: jax.Array,
    activation: str = "tanh",
) -> list[LayerStats]:
    """Run ``x`` through a stack of layers and summarise each layer's activations.

    ``layers`` is either

    * a sequence of weight matrices ``W_l`` or callables ``f_l``: the stack
      ``h_0 = x``, ``h_l = act(h_{l-1} @ W_l)`` or ``act(f_l(h_{l-1}))`` (``f_l`` maps the
      previous activations to pre-activations, e.g. a Flax ``Linear``); layers are
      named ``"1"``, ``"2"``, …; or
    * a model: a callable returning its per-layer activations (already passed through
      ``activation``) as a sequence or a ``{name: activations}`` mapping.

    ``activation`` (``"linear"``, ``"tanh"``, ``"logistic"``, ``"sigmoid"``, ``"relu"``)
    picks the non-linearity for a stack, and the saturated/dead statistic.
    """
    if activation not in _ACTIVATIONS:
        accepted = ", ".join(repr(a) for a in _ACTIVATIONS)
        raise ValueError(
            f"activation_stats: activation must be one of {accepted}, got {activation!r}"
        )
    act = _ACTIVATIONS[activation].fn
    if callable(layers):
        outputs = layers(x)
        if isinstance(outputs, jax.Array | np.ndarray):
            raise TypeError(
                "activation_stats: a model must return its per-layer activations as a "
                f"sequence or a mapping, got a single array of shape {outputs.shape}"
            )
        if isinstance(outputs, Mapping):
            named = list(outputs.items())
        else:
            named = [(str(i), a) for i, a in enumerate(outputs, start=1)]
    else:
        named = []
        h = x
        for i, layer in enumerate(layers, start=1):
            h = act(layer(h) if callable(layer) else h @ layer)
            named.append((str(i), h))
    return [_summarise(name, a, activation) for name, a in named]


def _summarise(name: str, a: jax.Array, activation: str) -> LayerStats:
    spec = _ACTIVATIONS[activation]
    values = np.asarray(a, dtype=np.float64)
    return LayerStats(
        layer=name,
        mean=float(values.mean()),
        std=float(values.std()),
        saturated_fraction=None if spec.saturated is None else spec.saturated(values),
        dead_fraction=None if spec.dead is None else spec.dead(values),
        values=a,
    )


def mlp_activation_stats(
    key: jax.Array,
    init: Callable[..., jax.Array],
    activation: str = "tanh",
    *,
    n_layers: int = 10,
    width: int = 500,
    batch: int = 1000,
    dtype: Any = jnp.float32,
) -> list[LayerStats]:
    """The lecture's experiment: ``x ~ N(0, 1)`` of shape ``(batch, width)`` through
    ``n_layers`` layers ``h_l = act(h_{l-1} @ W_l)`` with ``W_l = init(key_l, (width, width))``
    and zero bias.

    >>> from gradtx import initializers
    >>> from gradtx.diagnostics import format_table, mlp_activation_stats
    >>> stats = mlp_activation_stats(jax.random.key(0), initializers.normal(0.01))
    >>> print(format_table(stats))  # doctest: +SKIP
    """
    x_key, *w_keys = jax.random.split(key, n_layers + 1)
    x = jax.random.normal(x_key, (batch, width), dtype)
    weights = [init(k, (width, width), dtype) for k in w_keys]
    return activation_stats(weights, x, activation)


def format_table(stats: Sequence[LayerStats]) -> str:
    """A fixed-width text table, one row per layer: mean, std and the
    saturated/dead fraction where the activation defines one."""
    columns = [("mean", lambda s: s.mean), ("std", lambda s: s.std)]
    if any(s.saturated_fraction is not None for s in stats):
        columns.append(("saturated", lambda s: s.saturated_fraction))
    if any(s.dead_fraction is not None for s in stats):
        columns.append(("dead", lambda s: s.dead_fraction))
    width = max([len("layer"), *(len(s.layer) for s in stats)])
    lines = [f"{'layer':<{width}}" + "".join(f"{title:>13}" for title, _ in columns)]
    for s in stats:
        lines.append(f"{s.layer:<{width}}" + "".join(f"{get(s):>13.6g}" for _, get in columns))
    return "\n".join(lines)


def plot_histograms(
    stats: Sequence[LayerStats], axes: Sequence[Any] | None = None, bins: int = 50
) -> Any:
    """One histogram of activations per layer, titled with its mean and std.

    ``axes``: one matplotlib ``Axes`` per layer; by default a new figure with a row of
    subplots. Returns the figure. Needs matplotlib (``pip install 'gradtx[plot]'``).
    """
    with optional_import("matplotlib", "plot_histograms"):
        import matplotlib.pyplot as plt

    if axes is None:
        figure, grid = plt.subplots(1, len(stats), figsize=(2.2 * len(stats), 2.4), squeeze=False)
        axes = list(grid[0])
    elif len(axes) != len(stats):
        raise ValueError(
            f"plot_histograms: need one axes per layer ({len(stats)}), got {len(axes)}"
        )
    for ax, s in zip(axes, stats, strict=True):
        ax.hist(np.asarray(s.values, dtype=np.float64).ravel(), bins=bins)
        ax.set_title(f"layer {s.layer}\nμ={s.mean:.3g} σ={s.std:.3g}", fontsize=8)
        ax.tick_params(labelsize=6)
    return axes[0].figure
