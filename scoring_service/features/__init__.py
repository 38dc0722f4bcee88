"""Relationship state and its features: one implementation for serving and training."""
