"""Ingest service: validates interaction events and publishes them to Kafka."""
