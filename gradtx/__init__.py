"""gradtx: composable gradient transformations for JAX."""
