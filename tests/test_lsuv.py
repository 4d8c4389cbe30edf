"""LSUV and per-unit data-dependent init on Flax linen and nnx models, and training
a model built with gradtx initializers."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from gradtx import initializers

KEY = jax.random.key(0)
X = jnp.asarray(np.random.default_rng(1).standard_normal((256, 16)), jnp.float32)


class DeepMLP(nn.Module):
    """12 ReLU layers (names Dense_0 … Dense_11 sort out of call order), a conv, a head."""

    @nn.compact
    def __call__(self, x):
        for _ in range(12):
            dense = nn.Dense(
                16, kernel_init=initializers.normal(0.01), bias_init=initializers.relu_bias()
            )
            x = nn.relu(dense(x))
        x = nn.relu(nn.Conv(4, (3,), kernel_init=initializers.he_normal())(x[..., None]))
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


def _linen_outputs(model, params, x):
    """Every Dense/Conv output, from Flax's own capture_intermediates."""
    _, state = model.apply(
        {"params": params},
        x,
        capture_intermediates=lambda m, name: isinstance(m, nn.Dense | nn.Conv),
        mutable=["intermediates"],
    )
    return {name: v["__call__"][0] for name, v in state["intermediates"].items()}


@pytest.fixture(scope="module")
def deep_params():
    return jax.jit(DeepMLP().init)(KEY, X)["params"]


@pytest.fixture(scope="module")
def linen_run(deep_params):
    model = DeepMLP()
    kernels_before = {name: layer["kernel"] for name, layer in deep_params.items()}
    new_params, report = initializers.lsuv(model.apply, deep_params, X, key=jax.random.key(2))
    return model, kernels_before, new_params, report


def test_lsuv_brings_every_layer_output_variance_within_tolerance(linen_run):
    model, _, new_params, _ = linen_run
    outputs = _linen_outputs(model, new_params, X)
    assert len(outputs) == 14
    for name, z in outputs.items():
        assert abs(float(jnp.var(z)) - 1) < 0.1, name


def test_lsuv_report_lists_layers_in_call_order(linen_run):
    *_, report = linen_run
    expected = [f"Dense_{i}" for i in range(12)] + ["Conv_0", "Dense_12"]
    assert [r.layer for r in report] == expected


def test_lsuv_report_gives_final_variance_of_each_layer(linen_run):
    model, _, new_params, report = linen_run
    outputs = _linen_outputs(model, new_params, X)
    for r in report:
        assert r.variance == pytest.approx(float(jnp.var(outputs[r.layer])), rel=1e-5)


def test_lsuv_kernels_are_scaled_orthogonal_matrices(linen_run):
    _, _, new_params, _ = linen_run
    w = np.asarray(new_params["Dense_5"]["kernel"], dtype=np.float64)
    gram = w.T @ w
    np.testing.assert_allclose(gram / gram[0, 0], np.eye(16), atol=1e-5)


def test_lsuv_leaves_input_params_and_biases_unchanged(deep_params, linen_run):
    _, kernels_before, new_params, _ = linen_run
    assert all(deep_params[name]["kernel"] is k for name, k in kernels_before.items())
    np.testing.assert_array_equal(new_params["Dense_3"]["bias"], deep_params["Dense_3"]["bias"])


@pytest.fixture(scope="module")
def linen_run_without_key(deep_params):
    new_params, report = initializers.lsuv(DeepMLP().apply, deep_params, X, key=None)
    return deep_params, new_params, report


def test_lsuv_without_key_only_rescales_existing_kernels(linen_run_without_key):
    params, new_params, _ = linen_run_without_key
    ratio = np.asarray(new_params["Dense_4"]["kernel"]) / np.asarray(params["Dense_4"]["kernel"])
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-5)


def test_lsuv_rescales_each_collapsed_layer_once(linen_run_without_key):
    *_, report = linen_run_without_key
    # normal(0.01) kernels on 16 inputs shrink the variance ~600-fold per layer; one
    # rescaling by 1/√Var is exact for a layer linear in its kernel.
    dense = [r for r in report if r.layer.startswith("Dense_") and r.layer != "Dense_12"]
    assert len(dense) == 12
    assert all(r.iterations == 1 and abs(r.variance - 1) < 1e-4 for r in dense)


class Squared(nn.Module):
    """Output quadratic in the kernel: rescaling by 1/√Var maps Var to 1/Var, forever."""

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", initializers.ones(), (x.shape[-1], 4))
        return x @ (kernel * kernel)


def test_lsuv_stops_after_max_iters_and_warns():
    model = Squared()
    params = model.init(KEY, X)["params"]
    with pytest.warns(
        RuntimeWarning, match="lsuv: layer '' has output variance .* after 3 rescalings"
    ):
        _, report = initializers.lsuv(model.apply, params, X, key=None, max_iters=3)
    assert report[0].iterations == 3 and abs(report[0].variance - 1) > 0.1


def test_lsuv_rejects_layer_with_constant_output(deep_params):
    with pytest.raises(ValueError, match="lsuv: layer 'Dense_0' has an output spread of 0.0"):
        initializers.lsuv(DeepMLP().apply, deep_params, jnp.zeros_like(X), key=None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tol": 0.0}, "lsuv: tol must be > 0, got 0.0"),
        ({"max_iters": 0}, "lsuv: max_iters must be an integer >= 1, got 0"),
    ],
)
def test_lsuv_rejects_bad_settings(deep_params, kwargs, message):
    with pytest.raises(ValueError, match=message):
        initializers.lsuv(DeepMLP().apply, deep_params, X, key=KEY, **kwargs)


def test_lsuv_rejects_params_without_kernels():
    with pytest.raises(ValueError, match="lsuv: params contain no leaf named 'kernel'"):
        initializers.lsuv(lambda v, x: x, {"scale": jnp.ones(3)}, X, key=KEY)


def test_data_dependent_init_gives_every_unit_zero_mean_unit_variance(deep_params):
    model = DeepMLP()
    new_params, report = initializers.data_dependent_init(model.apply, deep_params, X)
    assert len(report) == 14
    for name, z in _linen_outputs(model, new_params, X).items():
        axes = tuple(range(z.ndim - 1))
        np.testing.assert_allclose(jnp.mean(z, axis=axes), 0.0, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(jnp.std(z, axis=axes), 1.0, rtol=1e-3, err_msg=name)


class NnxMLP(nnx.Module):
    def __init__(self, sizes, *, rngs):
        self.layers = nnx.List(
            [
                nnx.Linear(a, b, kernel_init=initializers.normal(0.01), rngs=rngs)
                for a, b in zip(sizes[:-1], sizes[1:], strict=True)
            ]
        )

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nnx.relu(layer(x))
        return self.layers[-1](x)


def test_lsuv_nnx_updates_model_in_place_to_unit_variance():
    model = NnxMLP([16] * 12 + [3], rngs=nnx.Rngs(0))
    report = initializers.lsuv_nnx(model, X, key=KEY)
    assert [r.layer for r in report] == [f"layers/{i}" for i in range(12)]
    h = X
    for i, layer in enumerate(model.layers):
        z = layer(h)
        assert abs(float(jnp.var(z)) - 1) < 0.1, i
        h = nnx.relu(z)


def test_lsuv_nnx_restores_module_classes():
    call = nnx.Linear.__call__
    initializers.lsuv_nnx(NnxMLP([16, 16, 3], rngs=nnx.Rngs(0)), X, key=None)
    assert nnx.Linear.__call__ is call


class InheritedCall(nnx.Linear):
    """A layer class without its own ``__call__``."""


def test_lsuv_nnx_leaves_no_call_on_classes_that_inherit_it():
    model = InheritedCall(16, 4, rngs=nnx.Rngs(0))
    report = initializers.lsuv_nnx(model, X, key=None)
    assert [r.layer for r in report] == [""]
    assert "__call__" not in InheritedCall.__dict__


def test_data_dependent_init_nnx_normalises_every_unit():
    model = NnxMLP([16, 16, 16, 3], rngs=nnx.Rngs(0))
    initializers.data_dependent_init_nnx(model, X)
    z = model.layers[1](nnx.relu(model.layers[0](X)))
    np.testing.assert_allclose(jnp.mean(z, axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(jnp.std(z, axis=0), 1.0, rtol=1e-3)


def test_lsuv_nnx_rejects_model_without_kernels():
    with pytest.raises(ValueError, match="lsuv_nnx: model has no submodule with an nnx.Param"):
        initializers.lsuv_nnx(nnx.Dropout(0.5), X, key=KEY)


def _blobs(seed=7, n=1024, features=32, classes=10):
    """Gaussian blobs: class k is centred at a random point, unit noise around it."""
    rng = np.random.default_rng(seed)
    centres = 1.5 * rng.standard_normal((classes, features))
    y = rng.integers(0, classes, n)
    x = centres[y] + rng.standard_normal((n, features))
    return jnp.asarray(x, jnp.float32), jnp.asarray(y)


class ClassifierMLP(nn.Module):
    prior: tuple[float, ...]

    @nn.compact
    def __call__(self, x):
        x = jnp.tanh(nn.Dense(64, kernel_init=initializers.xavier_uniform("tanh"))(x))
        x = nn.relu(
            nn.Dense(64, kernel_init=initializers.he_normal(), bias_init=initializers.relu_bias())(
                x
            )
        )
        return nn.Dense(
            10,
            kernel_init=initializers.lecun_normal(),
            bias_init=initializers.class_prior_bias(self.prior),
        )(x)


def test_flax_model_with_gradtx_initializers_and_lsuv_trains():
    x, y = _blobs()
    prior = tuple(np.bincount(np.asarray(y), minlength=10) / len(y))
    model = ClassifierMLP(prior)
    params = jax.jit(model.init)(KEY, x[:1])["params"]
    # The hidden kernels are already orthogonal: LSUV's pre-initialisation is skipped.
    params, report = initializers.lsuv(model.apply, params, x[:256], key=None)
    assert [r.layer for r in report] == ["Dense_0", "Dense_1", "Dense_2"]
    optimizer = optax.sgd(0.05)

    @jax.jit
    def step(params, state):
        def loss_fn(params):
            logits = model.apply({"params": params}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = optimizer.update(grads, state)
        return optax.apply_updates(params, updates), state, loss

    state = optimizer.init(params)
    losses = []
    for _ in range(101):
        params, state, loss = step(params, state)
        losses.append(float(loss))
    assert losses[-1] < 0.2 * losses[0]
