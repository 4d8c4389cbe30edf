"""Building blocks named for the factors of the unified update

    Δθ_t = − α_t / √(G_t + ε) · M_t

* :mod:`~gradtx.blocks.preconditioners` — G_t, the 1/√(G_t + ε) scalings;
* :mod:`~gradtx.blocks.momentum` — M_t, momentum and moving averages;
* :mod:`~gradtx.blocks.learning_rate` — α_t and the sign flip;
* :mod:`~gradtx.blocks.constraints` — weight decay and clipping.
"""
