"""Scoring service: consumes interactions, keeps relationship state, serves scores."""
