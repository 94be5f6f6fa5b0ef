"""Thin HTTP routers: each translates a request into one call of the pipeline or a service, and back."""
