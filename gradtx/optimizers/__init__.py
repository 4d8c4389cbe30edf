"""Optimizers, each a short chain of the α/G/M building blocks."""
