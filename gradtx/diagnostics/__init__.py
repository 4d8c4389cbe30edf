"""Diagnostics: per-layer activation statistics, the lecture's experiment."""

from gradtx.diagnostics._activations import (
    SATURATION,
    LayerStats,
    activation_stats,
    format_table,
    mlp_activation_stats,
    plot_histograms,
)

__all__ = [
    "SATURATION",
    "LayerStats",
    "activation_stats",
    "mlp_activation_stats",
    "format_table",
    "plot_histograms",
]
