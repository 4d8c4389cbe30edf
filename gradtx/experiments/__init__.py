"""Experiments the lecture shows, as library functions.

The model is a function ``loss_fn(params, batch) -> scalar`` of a parameter pytree;
any framework fits (for Flax NNX: ``graphdef, state = nnx.split(model, nnx.Param)`` and
``nnx.merge(graphdef, params)`` inside the loss). Plots import matplotlib on first use.

* `compare_optimizers` — several optimizers from the same initialization on the
  same batches; per-step losses, per-epoch means and metrics, plots by iteration and
  by epoch (`train` is one such run, e.g. for comparing batch sizes);
* `lr_range_test` — an exponentially increasing learning rate, the loss curve
  and a suggested rate (`suggest_learning_rate` reads one off any such curve);
* `loss_landscape` — 1-D and 2-D slices along filter-normalized random
  directions (Li et al. 2018), contour and surface plots;
* `gradtx.experiments.data` — offline datasets: scikit-learn's digits and the
  IDX files of MNIST and Fashion-MNIST.

>>> from gradtx import experiments
>>> result = experiments.compare_optimizers(loss_fn, params, optimizers, (x, y), epochs=5)
>>> result.plot().savefig("comparison.png")
"""

from gradtx.experiments import data
from gradtx.experiments._landscape import Landscape, filter_normalized_direction, loss_landscape
from gradtx.experiments._lr_range import LRRangeResult, lr_range_test, suggest_learning_rate
from gradtx.experiments._training import (
    Comparison,
    TrainingRun,
    batch_indices,
    compare_optimizers,
    train,
)
from gradtx.experiments.data import (
    Dataset,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist_idx,
    read_idx,
)

__all__ = [
    # training on shared batches
    "compare_optimizers",
    "train",
    "batch_indices",
    "Comparison",
    "TrainingRun",
    # learning-rate range test
    "lr_range_test",
    "suggest_learning_rate",
    "LRRangeResult",
    # loss landscape
    "loss_landscape",
    "filter_normalized_direction",
    "Landscape",
    # data
    "data",
    "Dataset",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist_idx",
    "read_idx",
]
