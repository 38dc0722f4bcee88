"""Vinculo: shared code for both services (API, events, settings, CLI)."""
