"""NumPy float64 transcriptions of Adam's descendants, written from the papers and optax's docs.

Same conventions as :mod:`reference_numpy` (whose problem the tests use): a flat
θ, ``grad(θ) -> g``, ``lr`` a number or a schedule of t (updates already
applied), k = t + 1 the update number, |g|² via :func:`reference_numpy.sq` so
that complex θ works, and the trajectory θ_0 … θ_steps as the return value.
Nothing here imports gradtx or jax.

Where the sources disagree, a keyword selects the variant; each docstring says
which is whose.
"""

from __future__ import annotations

import numpy as np
from reference_numpy import STEPS, Grad, Rate, _rate, sq


def _decay_mask(theta: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """1 where weight decay applies, 0 elsewhere (``None``: everywhere)."""
    return np.ones(theta.shape) if mask is None else np.asarray(mask, dtype=float)


def radam(grad: Grad, theta0: np.ndarray, lr: Rate, b1: float, b2: float, eps: float,
          eps_root: float = 0.0, threshold: float = 5.0, strict: bool = False,
          nesterov: bool = False, weight_decay: float = 0.0, eps_on_raw: bool = False,
          decoupled: bool = False, steps: int = STEPS) -> np.ndarray:
    """RAdam (Liu et al. 2019, Algorithm 2), with the ε of optax or of torch.

        g ← g + λθ (L2);  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
        m̂ = m/(1−β1^k);  ρ_∞ = 2/(1−β2) − 1;  ρ_k = ρ_∞ − 2k β2^k/(1−β2^k)
        if ρ_k ≥ threshold (``strict``: >):
            r_k = √((ρ_k−4)(ρ_k−2)ρ_∞ / ((ρ_∞−4)(ρ_∞−2)ρ_k))
            l_k = 1/(√(v/(1−β2^k) + ε_root) + ε)           (optax)
            l_k = √(1−β2^k)/(√(v + ε_root) + ε)             (torch, ``eps_on_raw``)
            θ ← θ − α_t r_k l_k m̂
        else:
            θ ← θ − α_t m̂
        (``decoupled``: torch's decoupled_weight_decay, θ ← θ − α_t λθ first, no L2)

    The paper: threshold 4, strict, no ε. optax: 5, not strict. torch: 5, strict.
    ``nesterov`` (optax) replaces m̂ by β1 m/(1−β1^{k+1}) + (1−β1) g/(1−β1^k).
    """
    theta = theta0.copy()
    m = np.zeros_like(theta)
    v = np.zeros(theta.shape)
    rho_inf = 2 / (1 - b2) - 1
    out = [theta.copy()]
    for t in range(steps):
        k = t + 1
        alpha = _rate(lr, t)
        g = grad(theta)
        if decoupled:
            theta = theta - alpha * weight_decay * theta
        else:
            g = g + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * sq(g)
        if nesterov:
            m_hat = b1 * m / (1 - b1 ** (k + 1)) + (1 - b1) * g / (1 - b1**k)
        else:
            m_hat = m / (1 - b1**k)
        rho_k = rho_inf - 2 * k * b2**k / (1 - b2**k)
        if rho_k > threshold if strict else rho_k >= threshold:
            r_k = np.sqrt((rho_k - 4) * (rho_k - 2) * rho_inf
                          / ((rho_inf - 4) * (rho_inf - 2) * rho_k))
            if eps_on_raw:
                l_k = np.sqrt(1 - b2**k) / (np.sqrt(v + eps_root) + eps)
            else:
                l_k = 1 / (np.sqrt(v / (1 - b2**k) + eps_root) + eps)
            theta = theta - alpha * r_k * l_k * m_hat
        else:
            theta = theta - alpha * m_hat
        out.append(theta.copy())
    return np.array(out)


def adabelief(grad: Grad, theta0: np.ndarray, lr: Rate, b1: float, b2: float, eps: float,
              eps_root: float, nesterov: bool = False, steps: int = STEPS) -> np.ndarray:
    """AdaBelief (Zhuang et al. 2020, Algorithm 2; optax's ``eps``/``eps_root``).

        m ← β1 m + (1−β1) g;  s ← β2 s + (1−β2)(g − m)² + ε_root
        θ ← θ − α_t (m/(1−β1^k)) / (√(s/(1−β2^k)) + ε)
    """
    theta = theta0.copy()
    m = np.zeros_like(theta)
    s = np.zeros(theta.shape)
    out = [theta.copy()]
    for t in range(steps):
        k = t + 1
        g = grad(theta)
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * sq(g - m) + eps_root
        if nesterov:
            m_hat = b1 * m / (1 - b1 ** (k + 1)) + (1 - b1) * g / (1 - b1**k)
        else:
            m_hat = m / (1 - b1**k)
        theta = theta - _rate(lr, t) * m_hat / (np.sqrt(s / (1 - b2**k)) + eps)
        out.append(theta.copy())
    return np.array(out)


def yogi(grad: Grad, theta0: np.ndarray, lr: Rate, b1: float, b2: float, eps: float,
         eps_root: float = 0.0, v0: float = 1e-6, m0: float = 0.0,
         steps: int = STEPS) -> np.ndarray:
    """Yogi (Zaheer et al. 2018), with optax's bias corrections.

        m ← β1 m + (1−β1) g;  v ← v − (1−β2) sign(v − g²) g²
        θ ← θ − α_t (m/(1−β1^k)) / (√(v/(1−β2^k) + ε_root) + ε)

    v starts at v0 (1e-6), m at m0: 0 in the paper, v0 in optax.
    """
    theta = theta0.copy()
    m = np.full_like(theta, m0)
    v = np.full(theta.shape, v0)
    out = [theta.copy()]
    for t in range(steps):
        k = t + 1
        g = grad(theta)
        m = b1 * m + (1 - b1) * g
        v = v - (1 - b2) * np.sign(v - sq(g)) * sq(g)
        theta = theta - _rate(lr, t) * (m / (1 - b1**k)) / (
            np.sqrt(v / (1 - b2**k) + eps_root) + eps)
        out.append(theta.copy())
    return np.array(out)


def nadamw(grad: Grad, theta0: np.ndarray, lr: Rate, b1: float, b2: float, eps: float,
           eps_root: float = 0.0, weight_decay: float = 0.0, mask: np.ndarray | None = None,
           steps: int = STEPS) -> np.ndarray:
    """NAdamW as optax documents it (constant μ = β1, decoupled decay on ``mask``).

        m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
        m̂ = β1 m/(1−β1^{k+1}) + (1−β1) g/(1−β1^k);  v̂ = v/(1−β2^k)
        θ ← θ − α_t (m̂/(√(v̂ + ε_root) + ε) + λ·mask·θ)
    """
    on = _decay_mask(theta0, mask)
    theta = theta0.copy()
    m = np.zeros_like(theta)
    v = np.zeros(theta.shape)
    out = [theta.copy()]
    for t in range(steps):
        k = t + 1
        g = grad(theta)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * sq(g)
        m_hat = b1 * m / (1 - b1 ** (k + 1)) + (1 - b1) * g / (1 - b1**k)
        v_hat = v / (1 - b2**k)
        step = m_hat / (np.sqrt(v_hat + eps_root) + eps) + weight_decay * on * theta
        theta = theta - _rate(lr, t) * step
        out.append(theta.copy())
    return np.array(out)


def adamaxw(grad: Grad, theta0: np.ndarray, lr: Rate, b1: float, b2: float, eps: float,
            weight_decay: float = 0.0, mask: np.ndarray | None = None,
            steps: int = STEPS) -> np.ndarray:
    """AdaMax (Kingma & Ba 2015, Algorithm 2) with ε in the max (optax) and decoupled decay.

        m ← β1 m + (1−β1) g;  u ← max(β2 u, |g| + ε)
        θ ← θ − α_t (m/(1−β1^k)/u + λ·mask·θ)
    """
    on = _decay_mask(theta0, mask)
    theta = theta0.copy()
    m = np.zeros_like(theta)
    u = np.zeros(theta.shape)
    out = [theta.copy()]
    for t in range(steps):
        k = t + 1
        g = grad(theta)
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        theta = theta - _rate(lr, t) * (m / (1 - b1**k) / u + weight_decay * on * theta)
        out.append(theta.copy())
    return np.array(out)


def adan(grad: Grad, theta0: np.ndarray, lr: Rate, beta1: float, beta2: float, beta3: float,
         eps: float, eps_root: float = 0.0, weight_decay: float = 0.0,
         mask: np.ndarray | None = None, optax_coefficient: bool = False,
         steps: int = STEPS) -> np.ndarray:
    """Adan (Xie et al. 2022, Algorithm 1) in the paper's β (β_paper = 1 − b_optax).

        Δ = g − g_prev (0 at k = 1)
        m ← (1−β1) m + β1 g;  v ← (1−β2) v + β2 Δ
        n ← (1−β3) n + β3 (g + c Δ)²,                   c = 1 − β2
        m̂, v̂, n̂ = m, v, n debiased by 1 − (1−β_i)^k     (the authors' code)
        θ ← θ − α_t ((m̂ + c v̂)/(√(n̂ + ε_root) + ε) + λ·mask·θ)

    The decay is optax's decoupled one (the authors' ``no_prox=True``).
    ``optax_coefficient`` uses c = β2 instead, as optax 0.2.8's ``scale_by_adan``.
    """
    c = beta2 if optax_coefficient else 1 - beta2
    on = _decay_mask(theta0, mask)
    theta = theta0.copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    n = np.zeros(theta.shape)
    g_prev = None
    out = [theta.copy()]
    for t in range(steps):
        k = t + 1
        g = grad(theta)
        diff = np.zeros_like(g) if g_prev is None else g - g_prev
        m = (1 - beta1) * m + beta1 * g
        v = (1 - beta2) * v + beta2 * diff
        n = (1 - beta3) * n + beta3 * sq(g + c * diff)
        m_hat = m / (1 - (1 - beta1) ** k)
        v_hat = v / (1 - (1 - beta2) ** k)
        n_hat = n / (1 - (1 - beta3) ** k)
        step = (m_hat + c * v_hat) / (np.sqrt(n_hat + eps_root) + eps)
        theta = theta - _rate(lr, t) * (step + weight_decay * on * theta)
        g_prev = g
        out.append(theta.copy())
    return np.array(out)


def novograd(grad: Grad, theta0: np.ndarray, lr: Rate, b1: float, b2: float, eps: float,
             layers: list[slice], eps_root: float = 0.0, weight_decay: float = 0.0,
             steps: int = STEPS) -> np.ndarray:
    """NovoGrad (Ginsburg et al. 2019, Algorithm 1; optax's ε and ε_root), per layer l.

        v^l ← ‖g^l‖² (k = 1),  v^l ← β2 v^l + (1−β2) ‖g^l‖² (k > 1)
        m^l ← β1 m^l + g^l/(√(v^l + ε_root) + ε) + λ θ^l      (m_0 = 0)
        θ ← θ − α_t m
    """
    theta = theta0.copy()
    m = np.zeros_like(theta)
    v = np.zeros(len(layers))
    out = [theta.copy()]
    for t in range(steps):
        g = grad(theta)
        for i, layer in enumerate(layers):
            norm_sq = np.sum(sq(g[layer]))
            v[i] = norm_sq if t == 0 else b2 * v[i] + (1 - b2) * norm_sq
            m[layer] = b1 * m[layer] + g[layer] / (np.sqrt(v[i] + eps_root) + eps) \
                + weight_decay * theta[layer]
        theta = theta - _rate(lr, t) * m
        out.append(theta.copy())
    return np.array(out)


def optimistic_adam(grad: Grad, theta0: np.ndarray, lr: float, optimism: float, b1: float,
                    b2: float, eps: float, eps_root: float = 0.0, nesterov: bool = True,
                    steps: int = STEPS) -> np.ndarray:
    """Optimistic Adam (Daskalakis et al. 2018) as optax documents it.

        m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
        r_k = m̂/(√(v̂ + ε_root) + ε)       (m̂ NAdam's look-ahead when ``nesterov``)
        θ ← θ − α r_k − o (r_k − r_{k−1}),   r_0 := r_1
    """
    theta = theta0.copy()
    m = np.zeros_like(theta)
    v = np.zeros(theta.shape)
    r_prev = None
    out = [theta.copy()]
    for t in range(steps):
        k = t + 1
        g = grad(theta)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * sq(g)
        if nesterov:
            m_hat = b1 * m / (1 - b1 ** (k + 1)) + (1 - b1) * g / (1 - b1**k)
        else:
            m_hat = m / (1 - b1**k)
        r = m_hat / (np.sqrt(v / (1 - b2**k) + eps_root) + eps)
        if r_prev is None:
            r_prev = r
        theta = theta - lr * r - optimism * (r - r_prev)
        r_prev = r
        out.append(theta.copy())
    return np.array(out)
