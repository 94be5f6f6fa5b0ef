"""Kairos service: the search pipeline, the HTTP API, the cache and the indexing jobs it queues."""
