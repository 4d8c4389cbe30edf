"""NumPy float64 transcriptions of the sign-based, step-size and quasi-Newton methods.

Written from the papers (and, where a paper leaves a choice open, from the
documentation of optax 0.2.8 / torch 2.13 named in the docstring), line by line on
a flat parameter vector θ, like ``reference_numpy.py``, whose conventions and test
problem they share: ``grad(θ) -> g``, ``lr`` a number, the trajectory θ_0 … θ_steps
returned as a ``(steps + 1, n)`` array. None of them imports gradtx or jax.

Per-layer rules (Fromage, SM3, DoG) need the layers: ``LAYERS`` lists the slices and
shapes of the params tree of ``reference_numpy.to_params``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
from reference_numpy import STEPS, Grad, Problem

Loss = Callable[[np.ndarray], float]

LAYERS = ((slice(0, 3), (3,)), (slice(3, 7), (2, 2)))
"""(slice of θ, shape) of each array of the params tree: bias (3,), kernel (2, 2)."""


def newton_minimum(problem: Problem, iterations: int = 50) -> np.ndarray:
    """θ* = argmin f, by Newton's method from θ_0 (f is strictly convex: ∇²f = A + 3γ diag θ²)."""
    theta = problem.theta0.copy()
    for _ in range(iterations):
        hessian = problem.A + 3 * problem.gamma * np.diag(theta**2)
        theta = theta - np.linalg.solve(hessian, problem.grad(theta))
    return theta


# --- signSGD, Signum (Bernstein et al. 2018) ----------------------------------------------


def sign_sgd(grad: Grad, theta0: np.ndarray, lr: float, steps: int = STEPS) -> np.ndarray:
    """signSGD (Alg. 1): θ ← θ − α sign(g)."""
    theta = theta0.copy()
    out = [theta.copy()]
    for _ in range(steps):
        theta = theta - lr * np.sign(grad(theta))
        out.append(theta.copy())
    return np.array(out)


def signum(grad: Grad, theta0: np.ndarray, lr: float, beta: float,
           steps: int = STEPS) -> np.ndarray:
    """Signum (Alg. 3): m ← β m + (1 − β) g;  θ ← θ − α sign(m)."""
    theta = theta0.copy()
    m = np.zeros_like(theta)
    out = [theta.copy()]
    for _ in range(steps):
        m = beta * m + (1 - beta) * grad(theta)
        theta = theta - lr * np.sign(m)
        out.append(theta.copy())
    return np.array(out)


# --- Rprop (Riedmiller & Braun 1993; iRprop⁻ of Igel & Hüsken 2000, torch's Rprop) --------


def rprop(grad: Grad, theta0: np.ndarray, lr: float, eta_minus: float = 0.5,
          eta_plus: float = 1.2, min_step: float = 1e-6, max_step: float = 50.0,
          steps: int = STEPS) -> np.ndarray:
    """Rprop without weight backtracking, per coordinate i (torch's documented algorithm):

        if g_{t−1} g_t > 0:  Δ ← min(η⁺ Δ, Δ_max)
        elif g_{t−1} g_t < 0:  Δ ← max(η⁻ Δ, Δ_min);  g_t ← 0
        θ ← θ − sign(g_t) Δ

    with Δ_0 = lr and g_0 = 0; g_t (zeroed or not) is the next step's g_{t−1}.
    """
    theta = theta0.copy()
    delta = np.full_like(theta, lr)
    g_prev = np.zeros_like(theta)
    out = [theta.copy()]
    for _ in range(steps):
        g = grad(theta)
        for i in range(len(theta)):
            if g_prev[i] * g[i] > 0:
                delta[i] = min(delta[i] * eta_plus, max_step)
            elif g_prev[i] * g[i] < 0:
                delta[i] = max(delta[i] * eta_minus, min_step)
                g[i] = 0.0
        theta = theta - np.sign(g) * delta
        g_prev = g
        out.append(theta.copy())
    return np.array(out)


# --- Polyak step (Loizou et al. 2021) ------------------------------------------------------


def polyak_sgd(grad: Grad, loss: Loss, theta0: np.ndarray, max_lr: float = 1.0,
               scaling: float = 1.0, f_min: float = 0.0, eps: float = 0.0,
               plus: bool = False, steps: int = STEPS) -> np.ndarray:
    """SPS_max (eq. 7) scaled by s: γ = min((f(θ) − f*) / (‖g‖² + ε), γ_max);  θ ← θ − s γ g.

    ``plus``: SPS⁺ (Garrigos et al. 2023), the gap (f − f*)₊.
    """
    theta = theta0.copy()
    out = [theta.copy()]
    for _ in range(steps):
        g = grad(theta)
        gap = loss(theta) - f_min
        if plus:
            gap = max(gap, 0.0)
        gamma = min(gap / (g @ g + eps), max_lr)
        theta = theta - scaling * gamma * g
        out.append(theta.copy())
    return np.array(out)


# --- Fromage (Bernstein et al. 2020) -------------------------------------------------------


def fromage(grad: Grad, theta0: np.ndarray, lr: float, min_norm: float = 1e-6,
            steps: int = STEPS) -> np.ndarray:
    """Fromage (Alg. 1), per layer W with gradient g:

        W ← (W − η ‖W‖/‖g‖ · g) / √(1 + η²)

    with both norms floored at ``min_norm`` (optax's ``fromage``; the paper has no floor).
    """
    theta = theta0.copy()
    out = [theta.copy()]
    for _ in range(steps):
        g = grad(theta)
        new = theta.copy()
        for layer, _ in LAYERS:
            w, gl = theta[layer], g[layer]
            ratio = max(np.linalg.norm(w), min_norm) / max(np.linalg.norm(gl), min_norm)
            new[layer] = (w - lr * ratio * gl) / np.sqrt(1 + lr**2)
        theta = new
        out.append(theta.copy())
    return np.array(out)


# --- Optimistic gradient descent (Mokhtari et al. 2019) ------------------------------------


def optimistic_gradient_descent(grad: Grad, theta0: np.ndarray, lr: float, alpha: float = 1.0,
                                beta: float = 1.0, steps: int = STEPS) -> np.ndarray:
    """Generalized OGD (eq. 9 with α, β; optax's form): θ ← θ − η ((α + β) g_t − β g_{t−1}),
    with g_0 = g_1 (optax: no previous gradient on the first step)."""
    theta = theta0.copy()
    g_prev = None
    out = [theta.copy()]
    for _ in range(steps):
        g = grad(theta)
        if g_prev is None:
            g_prev = g
        theta = theta - lr * ((alpha + beta) * g - beta * g_prev)
        g_prev = g
        out.append(theta.copy())
    return np.array(out)


# --- SM3 (Anil et al. 2019) ----------------------------------------------------------------


def sm3(grad: Grad, theta0: np.ndarray, lr: float, momentum: float = 0.9, eps: float = 1e-8,
        steps: int = STEPS) -> np.ndarray:
    """SM3-II (Alg. 3) with the cover of rows and columns, and momentum (optax's ``sm3``).

    Per layer: a vector has one accumulator per entry (the cover of singletons, i.e.
    AdaGrad); an n×m matrix has one per row (μ_r) and one per column (μ_c):

        ν(i, j) = min(μ_r(i), μ_c(j)) + g(i, j)²
        μ_r(i) ← max_j ν(i, j);  μ_c(j) ← max_i ν(i, j)
        m ← β m + (1 − β) g / √(ν + ε)   (0/0 = 0);   θ ← θ − α m
    """
    theta = theta0.copy()
    accumulators = [
        [np.zeros(shape[0])] if len(shape) == 1 else [np.zeros(shape[0]), np.zeros(shape[1])]
        for _, shape in LAYERS
    ]
    m = np.zeros_like(theta)
    out = [theta.copy()]
    for _ in range(steps):
        g = grad(theta)
        step = np.zeros_like(theta)
        for (layer, shape), mu in zip(LAYERS, accumulators, strict=True):
            gl = g[layer].reshape(shape)
            if len(shape) == 1:
                nu = mu[0] + gl**2
                mu[0] = nu
            else:
                nu = np.minimum(mu[0][:, None], mu[1][None, :]) + gl**2
                mu[0], mu[1] = nu.max(axis=1), nu.max(axis=0)
            preconditioned = np.where(nu > 0, gl / np.sqrt(nu + eps), 0.0)
            step[layer] = preconditioned.ravel()
        m = momentum * m + (1 - momentum) * step
        theta = theta - lr * m
        out.append(theta.copy())
    return np.array(out)


# --- DoG (Ivgi et al. 2023) ----------------------------------------------------------------


def dog(grad: Grad, theta0: np.ndarray, reps_rel: float = 1e-6, eps: float = 1e-8,
        scale: float = 1.0, steps: int = STEPS) -> np.ndarray:
    """Layer-wise DoG (LDoG, the paper's eq. (3) with one step size per layer L):

        r_ε = reps_rel · (1 + ‖x_0^L‖),   r̄_t^L = max(r_ε, max_{i ≤ t} ‖x_i^L − x_0^L‖)
        η_t^L = r̄_t^L / √(Σ_{i ≤ t} ‖g_i^L‖² + ε)          (ε: optax's guard, inside the root)
        x_{t+1}^L = x_t^L − scale · η_t^L g_t^L
    """
    theta = theta0.copy()
    start = theta0.copy()
    r = {i: reps_rel * (1 + np.linalg.norm(theta0[layer])) for i, (layer, _) in enumerate(LAYERS)}
    sums = dict.fromkeys(r, 0.0)
    out = [theta.copy()]
    for _ in range(steps):
        g = grad(theta)
        new = theta.copy()
        for i, (layer, _) in enumerate(LAYERS):
            r[i] = max(r[i], np.linalg.norm(theta[layer] - start[layer]))
            sums[i] += float(g[layer] @ g[layer])
            new[layer] = theta[layer] - scale * r[i] / np.sqrt(sums[i] + eps) * g[layer]
        theta = new
        out.append(theta.copy())
    return np.array(out)


# --- L-BFGS (Nocedal & Wright 1999, Alg. 7.4 and 7.5) --------------------------------------


def _lbfgs_direction(g: np.ndarray, memory: deque, gamma: float) -> np.ndarray:
    """H_k g by the two-loop recursion (Alg. 7.4), H_k⁰ = γ I; ``memory`` holds (s, y, ρ),
    oldest first."""
    q = g.copy()
    alphas = []
    for s, y, rho in reversed(memory):
        a = rho * (s @ q)
        q = q - a * y
        alphas.append(a)
    r = gamma * q
    for (s, y, rho), a in zip(memory, reversed(alphas), strict=True):
        b = rho * (y @ r)
        r = r + s * (a - b)
    return r


def lbfgs(grad: Grad, loss: Loss, theta0: np.ndarray, memory_size: int = 10,
          scale_init: bool = True, lr: float | None = None, backtracking: bool = True,
          max_backtracking_steps: int = 20, slope_rtol: float = 1e-4,
          decrease_factor: float = 0.8, increase_factor: float = 1.5, max_lr: float = 1.0,
          steps: int = STEPS) -> np.ndarray:
    """L-BFGS (Alg. 7.5): d_k = −H_k g_k, θ ← θ + η_k d_k, memory of the last m pairs
    s = θ_{k+1} − θ_k, y = g_{k+1} − g_k, ρ = 1/(yᵀs) (0 if yᵀs = 0).

    H_k⁰ = γ_k I with γ_k = sᵀy / yᵀy of the newest pair (eq. 7.20), and γ_0 =
    min(1, 1/‖g_0‖) (optax's choice for the first step); ``scale_init=False``: γ = 1.
    η_k: ``lr`` (a constant) when ``backtracking`` is False; otherwise, times ``lr`` if
    given, Armijo backtracking (Alg. 3.1) as optax documents it: η starts at
    min(ι η_{k−1}, η_max) (η_{−1} = 1) and is multiplied by β until
    f(θ + η d) ≤ f(θ) + c η gᵀd, at most ``max_backtracking_steps`` times.
    """
    theta = theta0.copy()
    memory: deque = deque(maxlen=memory_size)
    prev = None
    eta_prev = 1.0
    out = [theta.copy()]
    for k in range(steps):
        g = grad(theta)
        if prev is not None:
            s, y = theta - prev[0], g - prev[1]
            sy = y @ s
            memory.append((s, y, 0.0 if sy == 0 else 1 / sy))
        if not scale_init:
            gamma = 1.0
        elif k == 0:
            gamma = min(1.0, 1 / np.linalg.norm(g))
        else:
            s, y, _ = memory[-1]
            gamma = (y @ s) / (y @ y) if y @ y > 0 else 1.0
        d = -_lbfgs_direction(g, memory, gamma)
        if lr is not None:
            d = lr * d
        eta = 1.0
        if backtracking:
            f, slope = loss(theta), g @ d
            eta = min(increase_factor * eta_prev, max_lr)
            for i in range(max_backtracking_steps + 1):
                if i > 0:
                    eta = decrease_factor * eta
                if loss(theta + eta * d) - f - eta * slope_rtol * slope <= 0:
                    break
            eta_prev = eta
        prev = (theta, g)
        theta = theta + eta * d
        out.append(theta.copy())
    return np.array(out)
