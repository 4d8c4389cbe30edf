"""Lion, LAMB, LARS, Adafactor and Muon against NumPy transcriptions of their papers'
updates and against optax (float64) where it implements the same algorithm; the state
dtype policy (moment storage dtypes chosen independently, float32 arithmetic)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from paths import in_path

import gradtx
from gradtx.blocks.modern import newton_schulz, scale_by_lion, scale_by_muon, scale_by_trust_ratio
from gradtx.optimizers.modern import adafactor, lamb, lars, lion, muon

RNG = np.random.default_rng(0)
PARAMS = {"w": RNG.normal(size=(6, 4)), "v": RNG.normal(size=(3, 5)), "b": RNG.normal(size=4)}
GRADS = [{k: RNG.normal(size=p.shape) for k, p in PARAMS.items()} for _ in range(5)]


def run(tx, params=PARAMS, grads_seq=GRADS, path="tree"):
    """The params after applying ``tx`` (gradtx or optax; run in ``path``) to each gradient."""
    tx = in_path(tx, path)
    params = jax.tree.map(jnp.asarray, params)
    state = tx.init(params)

    @jax.jit
    def step(g, state, params):
        updates, state = tx.update(g, state, params)
        return jax.tree.map(lambda p, u: p + u, params, updates), state

    for g in grads_seq:
        params, state = step(g, state, params)
    return params


def assert_params_close(got, expected, rtol=1e-10, atol=1e-12):
    assert set(got) == set(expected)
    for k in expected:
        np.testing.assert_allclose(np.asarray(got[k]), expected[k], rtol=rtol, atol=atol,
                                   err_msg=k)


def norm(x):
    return np.sqrt(np.sum(x * x))


# --- Lion -----------------------------------------------------------------------------------


def lion_paper(lr, b1, b2, wd):
    """Chen et al. 2023, Program 1 / Algorithm 2."""
    theta = {k: p.copy() for k, p in PARAMS.items()}
    m = {k: np.zeros_like(p) for k, p in PARAMS.items()}
    for g in GRADS:
        for k in theta:
            c = b1 * m[k] + (1 - b1) * g[k]
            theta[k] = theta[k] - lr * (np.sign(c) + wd * theta[k])
            m[k] = b2 * m[k] + (1 - b2) * g[k]
    return theta


def test_lion_follows_the_paper(path):
    assert_params_close(run(lion(1e-2, 0.9, 0.99, weight_decay=0.1), path=path),
                        lion_paper(1e-2, 0.9, 0.99, 0.1))


def test_lion_equals_optax_lion(path):
    expected = run(optax.lion(1e-2, b1=0.8, b2=0.95, weight_decay=0.05))
    assert_params_close(run(lion(1e-2, 0.8, 0.95, weight_decay=0.05), path=path),
                        jax.tree.map(np.asarray, expected))


# --- LAMB -----------------------------------------------------------------------------------


def lamb_paper(lr, b1, b2, eps, wd):
    """You et al. 2020, Algorithm 2 (LAMB), φ the identity, per array (layer)."""
    theta = {k: p.copy() for k, p in PARAMS.items()}
    m = {k: np.zeros_like(p) for k, p in PARAMS.items()}
    v = {k: np.zeros_like(p) for k, p in PARAMS.items()}
    for t, g in enumerate(GRADS, start=1):
        for k in theta:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            r = (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps)
            u = r + wd * theta[k]
            theta[k] = theta[k] - lr * norm(theta[k]) / norm(u) * u
    return theta


def test_lamb_follows_the_paper(path):
    assert_params_close(run(lamb(1e-2, weight_decay=0.01), path=path),
                        lamb_paper(1e-2, 0.9, 0.999, 1e-6, 0.01))


def test_lamb_equals_optax_lamb(path):
    expected = run(optax.lamb(1e-2, b1=0.8, b2=0.99, eps=1e-5, weight_decay=0.02))
    assert_params_close(run(lamb(1e-2, 0.8, 0.99, 1e-5, weight_decay=0.02), path=path),
                        jax.tree.map(np.asarray, expected))


def test_trust_ratio_is_one_for_zero_params():
    tx = scale_by_trust_ratio(trust_coefficient=0.5)
    g = {"b": jnp.array([3.0, 4.0])}
    updates, _ = tx.update(g, tx.init(g), {"b": jnp.zeros(2)})
    np.testing.assert_array_equal(updates["b"], g["b"])


def test_trust_ratio_needs_the_params():
    tx = scale_by_trust_ratio()
    with pytest.raises(ValueError, match="scale_by_trust_ratio: needs the params"):
        tx.update(GRADS[0], tx.init(PARAMS))


# --- LARS -----------------------------------------------------------------------------------


def lars_paper(lr, eta, beta, momentum, decayed=("w", "v", "b")):
    """You et al. 2017, Algorithm 1, per array; leaves not in ``decayed`` get plain momentum SGD."""
    w = {k: p.copy() for k, p in PARAMS.items()}
    vel = {k: np.zeros_like(p) for k, p in PARAMS.items()}
    for g in GRADS:
        for k in w:
            if k in decayed:
                local = eta * norm(w[k]) / (norm(g[k]) + beta * norm(w[k]))
                vel[k] = momentum * vel[k] + lr * local * (g[k] + beta * w[k])
            else:
                vel[k] = momentum * vel[k] + lr * g[k]
            w[k] = w[k] - vel[k]
    return w


def test_lars_follows_the_paper(path):
    assert_params_close(run(lars(0.5, weight_decay=1e-2, trust_coefficient=1e-2), path=path),
                        lars_paper(0.5, 1e-2, 1e-2, 0.9))


def test_lars_mask_exempts_leaves_from_decay_and_trust_ratio(path):
    mask = {"w": True, "v": True, "b": False}
    assert_params_close(run(lars(0.5, weight_decay=1e-2, trust_coefficient=1e-2, mask=mask),
                            path=path),
                        lars_paper(0.5, 1e-2, 1e-2, 0.9, decayed=("w", "v")))


def test_lars_without_weight_decay_equals_optax_lars(path):
    expected = run(optax.lars(0.5, trust_coefficient=1e-2, momentum=0.8, nesterov=True))
    assert_params_close(run(lars(0.5, trust_coefficient=1e-2, momentum=0.8, nesterov=True),
                            path=path),
                        jax.tree.map(np.asarray, expected))


# --- Adafactor ------------------------------------------------------------------------------


def adafactor_paper(eps1=1e-30, eps2=1e-3, d=1.0, c=0.8):
    """Shazeer & Stern 2018, Algorithms 4 (matrices) and 5 (vectors), with update clipping
    and the relative step size α_t = max(ε2, RMS(X_{t−1})) ρ_t, ρ_t = min(10⁻², 1/√t)."""
    x = {k: p.copy() for k, p in PARAMS.items()}
    r = {k: np.zeros(p.shape[0]) for k, p in PARAMS.items() if p.ndim == 2}
    col = {k: np.zeros(p.shape[1]) for k, p in PARAMS.items() if p.ndim == 2}
    v = {k: np.zeros_like(p) for k, p in PARAMS.items() if p.ndim == 1}
    rms = lambda a: np.sqrt(np.mean(a * a))  # noqa: E731
    for t, g in enumerate(GRADS, start=1):
        rho = min(1e-2, 1 / np.sqrt(t))
        beta2 = 1 - t ** (-c)
        for k in x:
            alpha = max(eps2, rms(x[k])) * rho
            g2 = g[k] ** 2 + eps1
            if x[k].ndim == 2:
                r[k] = beta2 * r[k] + (1 - beta2) * g2 @ np.ones(g2.shape[1])
                col[k] = beta2 * col[k] + (1 - beta2) * np.ones(g2.shape[0]) @ g2
                v_hat = np.outer(r[k], col[k]) / r[k].sum()
            else:
                v[k] = beta2 * v[k] + (1 - beta2) * g2
                v_hat = v[k]
            u = g[k] / np.sqrt(v_hat)
            u_hat = u / max(1.0, rms(u) / d)
            x[k] = x[k] - alpha * u_hat
    return x


def test_adafactor_follows_the_paper(path):
    assert_params_close(run(adafactor(min_dim_size_to_factor=2), path=path), adafactor_paper())


def test_adafactor_factors_only_large_enough_matrices():
    state = adafactor(min_dim_size_to_factor=4).init(jax.tree.map(jnp.asarray, PARAMS))
    frms = state["factored_rms"]
    assert frms.v_row["w"].shape == (4,) and frms.v_col["w"].shape == (6,)
    assert frms.v["v"].shape == (3, 5) and frms.v_row["v"].shape == (1,)
    assert frms.v["b"].shape == (4,)


def test_adafactor_equals_optax_adafactor(path):
    params = {**PARAMS, "k": RNG.normal(size=(2, 5, 3))}
    grads = [{**g, "k": RNG.normal(size=(2, 5, 3))} for g in GRADS[:3]]
    expected = run(optax.adafactor(0.05, min_dim_size_to_factor=3, momentum=0.9), params,
                   grads)
    got = run(adafactor(0.05, min_dim_size_to_factor=3, momentum=0.9), params, grads, path)
    # optax computes its decay 1 − t^(−0.8) in float32.
    assert_params_close(got, jax.tree.map(np.asarray, expected), rtol=1e-6, atol=1e-9)


# --- Muon -----------------------------------------------------------------------------------

NS = (3.4445, -4.7750, 2.0315)


def zeropower_via_newtonschulz5(g, steps=5, eps=1e-7):
    """Jordan's reference, transcribed from torch (weights are (out, in) there)."""
    a, b, c = NS
    x = g.T if g.shape[0] > g.shape[1] else g
    x = x / (norm(x) + eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if g.shape[0] > g.shape[1] else x


def muon_paper(lr, beta, wd, b1=0.9, b2=0.999, adam_eps=1e-8):
    """Jordan et al. 2024 (github.com/KellerJordan/Muon, ``MuonWithAuxAdam``): muon_update on
    2-D weights (torch layout (out, in) = our kernel transposed), Adam on the others."""
    theta = {k: p.copy() for k, p in PARAMS.items()}
    m = {k: np.zeros_like(p.T) for k, p in PARAMS.items()}
    s = {k: np.zeros_like(p) for k, p in PARAMS.items()}
    for t, g in enumerate(GRADS, start=1):
        for k in theta:
            if theta[k].ndim == 2:
                grad = g[k].T
                m[k] = m[k] + (1 - beta) * (grad - m[k])  # momentum.lerp_(grad, 1 − β)
                update = grad + beta * (m[k] - grad)  # grad.lerp_(momentum, β)
                update = zeropower_via_newtonschulz5(update)
                update = update * max(1, grad.shape[0] / grad.shape[1]) ** 0.5
                theta[k] = theta[k] * (1 - lr * wd) - lr * update.T
            else:
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                s[k] = b2 * s[k] + (1 - b2) * g[k] ** 2
                u = (m[k] / (1 - b1**t)) / (np.sqrt(s[k] / (1 - b2**t)) + adam_eps)
                theta[k] = theta[k] - lr * u
    return theta


def test_muon_follows_jordans_reference(path):
    got = run(muon(0.05, beta=0.95, eps=1e-7, weight_decay=0.1), path=path)
    assert_params_close(got, muon_paper(0.05, 0.95, 0.1), rtol=1e-9, atol=1e-11)


def test_muon_with_bias_correction_and_nadam_fallback_equals_optax_contrib_muon(path):
    expected = run(optax.contrib.muon(0.05, beta=0.9, weight_decay=0.1, adam_weight_decay=0.05))
    got = run(muon(0.05, beta=0.9, weight_decay=0.1, adam_weight_decay=0.05, debias=True,
                   adam_nesterov=True), path=path)
    assert_params_close(got, jax.tree.map(np.asarray, expected), rtol=1e-9, atol=1e-11)


def test_muon_labels_override_which_leaves_get_adam():
    labels = {"w": "muon", "v": "adam", "b": "adam"}
    state = muon(0.05, labels=labels).init(jax.tree.map(jnp.asarray, PARAMS))
    muon_mu = state["muon"]["muon"].mu
    assert muon_mu["w"].shape == (6, 4)
    assert muon_mu["v"] == gradtx.wrappers.groups.MaskedNode()


def test_newton_schulz_keeps_singular_vectors_and_maps_singular_values_near_one():
    x = RNG.normal(size=(8, 16))
    o = np.asarray(newton_schulz(jnp.asarray(x)))
    u, _, vt = np.linalg.svd(x, full_matrices=False)
    inner = u.T @ o @ vt.T
    np.testing.assert_allclose(inner - np.diag(np.diag(inner)), 0, atol=1e-10)
    assert 0.5 < np.diag(inner).min() and np.diag(inner).max() < 1.5


def test_scale_by_muon_rejects_a_non_matrix_leaf_naming_its_path():
    with pytest.raises(ValueError, match=r"scale_by_muon: needs 2-D arrays, got shape \(4,\) "
                                         r"at \['b'\]"):
        scale_by_muon().init(PARAMS)


# --- state dtype policy ---------------------------------------------------------------------


def bf16(x):
    return np.asarray(np.asarray(x, np.float32).astype(jnp.bfloat16), np.float32)


def test_adam_second_moment_in_bf16_with_float32_arithmetic():
    f32 = np.float32
    params = {k: p.astype(f32) for k, p in PARAMS.items()}
    tx = gradtx.scale_by_adam(nu_dtype=jnp.bfloat16)
    step = jax.jit(tx.update)
    state = tx.init(jax.tree.map(jnp.asarray, params))
    b1, b2, eps = f32(0.9), f32(0.999), f32(1e-8)
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    for t, g in enumerate(GRADS, start=1):
        g = {k: x.astype(f32) for k, x in g.items()}
        updates, state = step(jax.tree.map(jnp.asarray, g), state)
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v_new = b2 * v[k] + (1 - b2) * g[k] * g[k]  # float32, from the stored bf16 value
            expected = (m[k] / (1 - b1**t)) / (np.sqrt(v_new / (1 - b2**t)) + eps)
            v[k] = bf16(v_new)
            np.testing.assert_allclose(updates[k], expected, rtol=1e-5, atol=1e-6, err_msg=k)
            assert state.nu[k].dtype == jnp.bfloat16 and state.mu[k].dtype == jnp.float32
            np.testing.assert_array_equal(np.asarray(state.nu[k], f32), v[k])


def moment_dtypes(state):
    return {str(x.dtype) for x in jax.tree.leaves(state) if x.ndim > 0}


@pytest.mark.parametrize("make, part, fields", [
    (lambda: gradtx.scale_by_adam(mu_dtype=jnp.bfloat16), None, {"mu": "bfloat16",
                                                                 "nu": "float32"}),
    (lambda: gradtx.scale_by_adam(nu_dtype=jnp.bfloat16), None, {"mu": "float32",
                                                                 "nu": "bfloat16"}),
    (lambda: lion(mu_dtype=jnp.bfloat16), "lion", {"mu": "bfloat16"}),
    (lambda: lamb(nu_dtype=jnp.bfloat16), "adam", {"mu": "float32", "nu": "bfloat16"}),
    (lambda: adafactor(nu_dtype=jnp.bfloat16, momentum=0.9, mu_dtype=jnp.bfloat16,
                       min_dim_size_to_factor=2),
     "factored_rms", {"v_row": "bfloat16", "v_col": "bfloat16", "v": "bfloat16"}),
], ids=["adam_mu", "adam_nu", "lion", "lamb", "adafactor"])
def test_moment_storage_dtypes_are_chosen_independently(make, part, fields):
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), PARAMS)
    tx = make()
    state = tx.init(params)
    updates, state = jax.jit(tx.update)(jax.tree.map(lambda p: 0.1 * p, params), state, params)
    assert all(u.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(u)))
               for u in jax.tree.leaves(updates))
    held = state if part is None else state[part]
    for field, dtype in fields.items():
        assert moment_dtypes(getattr(held, field)) == {dtype}, field


def test_muon_momentum_dtype_is_configurable():
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float32), PARAMS)
    state = muon(0.05, mu_dtype=jnp.bfloat16).init(params)
    assert moment_dtypes(state["muon"]["muon"].mu) == {"bfloat16"}
    assert moment_dtypes(state["adam"]["adam"].mu) == {"bfloat16"}
    assert moment_dtypes(state["adam"]["adam"].nu) == {"float32"}


def test_lion_b2_must_be_below_one():
    with pytest.raises(ValueError, match=r"scale_by_lion: b2 must be in \[0.0, 1.0\), got 1.0"):
        scale_by_lion(b2=1.0)
