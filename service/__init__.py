"""Kairos service: the search pipeline, the HTTP API, the cache, jobs and the command line."""
