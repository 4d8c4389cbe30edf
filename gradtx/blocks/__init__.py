"""Building blocks named for the factors of the unified update

    Δθ_t = − α_t / √(G_t + ε) · M_t

* ``preconditioners`` — G_t, the 1/√(G_t + ε) scalings;
* ``momentum`` — M_t, momentum and moving averages;
* ``learning_rate`` — α_t and the sign flip;
* ``constraints`` — weight decay and clipping.
"""
