"""The core protocol, combinators, tree helpers and the hyperparameter state."""
