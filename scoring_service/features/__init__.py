"""Relationship state and the features computed from it (one implementation for serving and training)."""
