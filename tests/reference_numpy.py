"""NumPy float64 transcriptions of the optimizers, written from the formulas.

Each function follows the lecture's algorithm box (SPEC §2) or the paper named
in its docstring, line by line, on a flat parameter vector θ. None of them
imports gradtx or jax: they are the independent reference the tests compare
gradtx against.

Conventions shared by every function:

* ``grad(θ) -> g`` is the gradient function, ``theta0`` the initial θ.
* ``lr`` is α, a number or a schedule ``t -> α_t`` evaluated at t = the
  number of updates already applied (0 for the first update), gradtx's
  indexing.
* Bias corrections use k = t + 1, the update number (1 for the first update).
* Squares of gradients are |g|² (:func:`sq`), so the functions also run on
  complex θ.
* The return value is the trajectory θ_0, θ_1, …, θ_steps as an array of
  shape ``(steps + 1, n)``; look-ahead methods also return the velocity.

The test problem lives here too, so that every test file uses the same one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

Grad = Callable[[np.ndarray], np.ndarray]
Rate = float | Callable[[int], float]

STEPS = 50


def sq(x: np.ndarray) -> np.ndarray:
    """|x|² elementwise: x² for real x, Re(x · conj(x)) for complex x (optax's convention)."""
    return (x * np.conj(x)).real


def _rate(lr: Rate, t: int) -> float:
    """α_t for the t-th update (t = updates already applied)."""
    return lr(t) if callable(lr) else lr


class Problem(NamedTuple):
    """f(θ) = ½ θᵀAθ − bᵀθ + ¼ γ Σ θ_i⁴ with A symmetric positive definite.

    A = Q diag(λ) Qᵀ with eigenvalues λ from 0.1 to 10 (condition number 100);
    the quartic term makes the gradient non-linear. θ is split into the params
    tree ``{"bias": θ[:3], "kernel": θ[3:].reshape(2, 2)}``.
    """

    A: np.ndarray
    b: np.ndarray
    gamma: float
    theta0: np.ndarray

    def grad(self, theta: np.ndarray) -> np.ndarray:
        """∇f(θ) = Aθ − b + γ θ³."""
        return self.A @ theta - self.b + self.gamma * theta**3

    def loss(self, theta: np.ndarray) -> float:
        return float(0.5 * theta @ self.A @ theta - self.b @ theta
                     + 0.25 * self.gamma * np.sum(theta**4))


def make_problem(seed: int = 0) -> Problem:
    """The ill-conditioned quadratic-plus-quartic test problem in 7 dimensions."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(7, 7)))
    eigenvalues = np.logspace(-1, 1, 7)
    return Problem(
        A=(q * eigenvalues) @ q.T,
        b=rng.normal(size=7),
        gamma=0.5,
        theta0=rng.normal(size=7),
    )


def to_params(theta: np.ndarray) -> dict[str, np.ndarray]:
    """θ as the params tree used by the tests."""
    return {"bias": theta[:3], "kernel": theta[3:].reshape(2, 2)}


def from_params(params: dict) -> np.ndarray:
    """The params tree as the flat θ (inverse of :func:`to_params`)."""
    return np.concatenate([np.ravel(params["bias"]), np.ravel(params["kernel"])])


# --- SGD and momentum (lecture) ---------------------------------------------------------


def sgd(grad: Grad, theta0: np.ndarray, lr: Rate, weight_decay: float = 0.0,
        steps: int = STEPS) -> np.ndarray:
    """Minibatch SGD + L2: g ← g + λθ;  θ ← θ − α_t g."""
    theta = theta0.copy()
    out = [theta.copy()]
    for t in range(steps):
        g = grad(theta) + weight_decay * theta
        theta = theta - _rate(lr, t) * g
        out.append(theta.copy())
    return np.array(out)


def momentum_torch(grad: Grad, theta0: np.ndarray, lr: Rate, rho: float,
                   weight_decay: float = 0.0, steps: int = STEPS) -> np.ndarray:
    """Heavy ball, torch's form: g ← g + λθ;  v ← ρv + g;  θ ← θ − α_t v."""
    theta = theta0.copy()
    v = np.zeros_like(theta)
    out = [theta.copy()]
    for t in range(steps):
        g = grad(theta) + weight_decay * theta
        v = rho * v + g
        theta = theta - _rate(lr, t) * v
        out.append(theta.copy())
    return np.array(out)


def momentum_lecture(grad: Grad, theta0: np.ndarray, lr: Rate, rho: float,
                     steps: int = STEPS) -> np.ndarray:
    """Heavy ball, the lecture's form: v ← ρv − α_t g;  θ ← θ + v."""
    theta = theta0.copy()
    v = np.zeros_like(theta)
    out = [theta.copy()]
    for t in range(steps):
        g = grad(theta)
        v = rho * v - _rate(lr, t) * g
        theta = theta + v
        out.append(theta.copy())
    return np.array(out)


def nesterov_lecture(grad: Grad, theta0: np.ndarray, lr: Rate, rho: float,
                     steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Nesterov momentum as the lecture writes it, with the look-ahead point.

        θ̃ ← θ + ρv;  g ← ∇f(θ̃);  v ← ρv − α_t g;  θ ← θ + v

    Returns the trajectories of θ and of v.
    """
    theta = theta0.copy()
    v = np.zeros_like(theta)
    thetas, vs = [theta.copy()], [v.copy()]
    for t in range(steps):
        g = grad(theta + rho * v)
        v = rho * v - _rate(lr, t) * g
        theta = theta + v
        thetas.append(theta.copy())
        vs.append(v.copy())
    return np.array(thetas), np.array(vs)


# --- Adaptive learning rates (lecture, Duchi 2011, Tieleman & Hinton 2012, Zeiler 2012) --


def adagrad(grad: Grad, theta0: np.ndarray, lr: Rate, delta: float, r0: float = 0.0,
            weight_decay: float = 0.0, steps: int = STEPS) -> np.ndarray:
    """AdaGrad: r ← r + g⊙g;  θ ← θ − α_t/(δ + √r) ⊙ g  (r starts at r0)."""
    theta = theta0.copy()
    r = np.full_like(theta, r0)
    out = [theta.copy()]
    for t in range(steps):
        g = grad(theta) + weight_decay * theta
        r = r + sq(g)
        theta = theta - _rate(lr, t) / (delta + np.sqrt(r)) * g
        out.append(theta.copy())
    return np.array(out)


def rmsprop(grad: Grad, theta0: np.ndarray, lr: Rate, rho: float, delta: float,
            centered: bool = False, momentum: float = 0.0, weight_decay: float = 0.0,
            steps: int = STEPS) -> np.ndarray:
    """RMSProp, with Graves' centering and torch's momentum on the scaled gradient.

        g ← g + λθ;  r ← ρr + (1−ρ) g⊙g;  [m ← ρm + (1−ρ) g;  r' = r − m⊙m]
        w = g/(δ + √r');  b ← μb + w;  θ ← θ − α_t b   (μ = 0: θ ← θ − α_t w)
    """
    theta = theta0.copy()
    r = np.zeros_like(theta)
    m = np.zeros_like(theta)
    buf = np.zeros_like(theta)
    out = [theta.copy()]
    for t in range(steps):
        g = grad(theta) + weight_decay * theta
        r = rho * r + (1 - rho) * sq(g)
        if centered:
            m = rho * m + (1 - rho) * g
            w = g / (delta + np.sqrt(r - sq(m)))
        else:
            w = g / (delta + np.sqrt(r))
        buf = momentum * buf + w
        theta = theta - _rate(lr, t) * buf
        out.append(theta.copy())
    return np.array(out)


def rmsprop_nesterov_lecture(grad: Grad, theta0: np.ndarray, lr: Rate, rho: float,
                             rho_v: float, delta: float = 0.0, steps: int = STEPS
                             ) -> tuple[np.ndarray, np.ndarray]:
    """The lecture's RMSProp + Nesterov momentum ("动量作用于缩放后的梯度").

        θ̃ ← θ + ρ_v v;  g ← ∇f(θ̃);  r ← ρr + (1−ρ) g⊙g
        v ← ρ_v v − α_t/(δ + √r) ⊙ g;  θ ← θ + v

    The lecture's box has δ = 0. Returns the trajectories of θ and of v.
    """
    theta = theta0.copy()
    r = np.zeros_like(theta)
    v = np.zeros_like(theta)
    thetas, vs = [theta.copy()], [v.copy()]
    for t in range(steps):
        g = grad(theta + rho_v * v)
        r = rho * r + (1 - rho) * sq(g)
        v = rho_v * v - _rate(lr, t) / (delta + np.sqrt(r)) * g
        theta = theta + v
        thetas.append(theta.copy())
        vs.append(v.copy())
    return np.array(thetas), np.array(vs)


def adadelta(grad: Grad, theta0: np.ndarray, rho: float, eps: float, lr: Rate = 1.0,
             weight_decay: float = 0.0, steps: int = STEPS) -> np.ndarray:
    """AdaDelta (Zeiler 2012, Algorithm 1), RMS[y] = √(E[y²] + ε).

        E[g²] ← ρE[g²] + (1−ρ) g²
        Δx = −RMS[Δx]_{t−1} / RMS[g]_t · g
        E[Δx²] ← ρE[Δx²] + (1−ρ) Δx²
        x ← x + α_t Δx      (the paper: α = 1; torch scales by lr after accumulating)
    """
    theta = theta0.copy()
    e_g2 = np.zeros_like(theta)
    e_dx2 = np.zeros_like(theta)
    out = [theta.copy()]
    for t in range(steps):
        g = grad(theta) + weight_decay * theta
        e_g2 = rho * e_g2 + (1 - rho) * sq(g)
        dx = -np.sqrt(e_dx2 + eps) / np.sqrt(e_g2 + eps) * g
        e_dx2 = rho * e_dx2 + (1 - rho) * sq(dx)
        theta = theta + _rate(lr, t) * dx
        out.append(theta.copy())
    return np.array(out)


# --- Adam and its family (Kingma & Ba 2015, Loshchilov & Hutter 2019, Dozat 2016,
#     Reddi et al. 2018) -------------------------------------------------------------------


def adam(grad: Grad, theta0: np.ndarray, lr: Rate, b1: float, b2: float, delta: float,
         delta_root: float = 0.0, weight_decay: float = 0.0, decoupled: bool = False,
         steps: int = STEPS) -> np.ndarray:
    """Adam (the lecture's box), with L2 or decoupled (AdamW) weight decay.

        g ← g + λθ (L2);  s ← ρ1 s + (1−ρ1) g;  r ← ρ2 r + (1−ρ2) g⊙g
        ŝ = s/(1−ρ1^k);  r̂ = r/(1−ρ2^k)
        θ ← θ − α_t ŝ/(δ + √(r̂ + δ_root))           (L2 or none)
        θ ← θ − α_t (ŝ/(δ + √(r̂ + δ_root)) + λθ)    (decoupled, AdamW)
    """
    theta = theta0.copy()
    s = np.zeros_like(theta)
    r = np.zeros_like(theta)
    out = [theta.copy()]
    for t in range(steps):
        k = t + 1
        g = grad(theta)
        if not decoupled:
            g = g + weight_decay * theta
        s = b1 * s + (1 - b1) * g
        r = b2 * r + (1 - b2) * sq(g)
        s_hat = s / (1 - b1**k)
        r_hat = r / (1 - b2**k)
        step = s_hat / (delta + np.sqrt(r_hat + delta_root))
        if decoupled:
            step = step + weight_decay * theta
        theta = theta - _rate(lr, t) * step
        out.append(theta.copy())
    return np.array(out)


def nadam(grad: Grad, theta0: np.ndarray, lr: Rate, b1: float, b2: float, delta: float,
          psi: float | None = 4e-3, steps: int = STEPS) -> np.ndarray:
    """NAdam (Dozat 2016) with the momentum schedule μ_k = ρ1 (1 − ½·0.96^{kψ}).

        s ← ρ1 s + (1−ρ1) g;  r ← ρ2 r + (1−ρ2) g⊙g;  Π_k = μ_1⋯μ_k
        θ ← θ − α_t (μ_{k+1} s/(1 − Π_{k+1}) + (1 − μ_k) g/(1 − Π_k)) / (δ + √(r/(1−ρ2^k)))

    ``psi=None`` is the constant μ_k = ρ1 (so Π_k = ρ1^k).
    """
    def mu(k: int) -> float:
        return b1 if psi is None else b1 * (1 - 0.5 * 0.96 ** (k * psi))

    theta = theta0.copy()
    s = np.zeros_like(theta)
    r = np.zeros_like(theta)
    prod = 1.0
    out = [theta.copy()]
    for t in range(steps):
        k = t + 1
        g = grad(theta)
        s = b1 * s + (1 - b1) * g
        r = b2 * r + (1 - b2) * sq(g)
        prod = prod * mu(k)
        prod_next = prod * mu(k + 1)
        numerator = mu(k + 1) * s / (1 - prod_next) + (1 - mu(k)) * g / (1 - prod)
        theta = theta - _rate(lr, t) * numerator / (delta + np.sqrt(r / (1 - b2**k)))
        out.append(theta.copy())
    return np.array(out)


def adamax(grad: Grad, theta0: np.ndarray, lr: Rate, b1: float, b2: float,
           eps_in_max: float = 0.0, eps_outside: float = 0.0,
           steps: int = STEPS) -> np.ndarray:
    """AdaMax (Kingma & Ba 2015, Algorithm 2).

        s ← ρ1 s + (1−ρ1) g;  u ← max(ρ2 u, |g| + ε_in)
        θ ← θ − α_t/(1−ρ1^k) · s/(u + ε_out)

    The paper has ε_in = ε_out = 0; torch and optax use ε_in.
    """
    theta = theta0.copy()
    s = np.zeros_like(theta)
    u = np.zeros_like(theta)
    out = [theta.copy()]
    for t in range(steps):
        k = t + 1
        g = grad(theta)
        s = b1 * s + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps_in_max)
        theta = theta - _rate(lr, t) / (1 - b1**k) * s / (u + eps_outside)
        out.append(theta.copy())
    return np.array(out)


def amsgrad(grad: Grad, theta0: np.ndarray, lr: Rate, b1: float, b2: float, delta: float,
            delta_root: float = 0.0, max_after_bias_correction: bool = False,
            steps: int = STEPS) -> np.ndarray:
    """AMSGrad (Reddi et al. 2018) with Adam's bias corrections, as torch computes it.

        s ← ρ1 s + (1−ρ1) g;  r ← ρ2 r + (1−ρ2) g⊙g;  r_max ← max(r_max, r)
        θ ← θ − α_t s/(1−ρ1^k) / (δ + √(r_max/(1−ρ2^k) + δ_root))

    ``max_after_bias_correction=True`` is optax's variant instead:
    r̂_max ← max(r̂_max, r/(1−ρ2^k)), θ ← θ − α_t ŝ/(δ + √(r̂_max + δ_root)).
    """
    theta = theta0.copy()
    s = np.zeros_like(theta)
    r = np.zeros_like(theta)
    r_max = np.zeros_like(theta)
    out = [theta.copy()]
    for t in range(steps):
        k = t + 1
        g = grad(theta)
        s = b1 * s + (1 - b1) * g
        r = b2 * r + (1 - b2) * sq(g)
        if max_after_bias_correction:
            r_max = np.maximum(r_max, r / (1 - b2**k))
            r_hat = r_max
        else:
            r_max = np.maximum(r_max, r)
            r_hat = r_max / (1 - b2**k)
        theta = theta - _rate(lr, t) * s / (1 - b1**k) / (delta + np.sqrt(r_hat + delta_root))
        out.append(theta.copy())
    return np.array(out)
