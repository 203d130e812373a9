"""Liveness and Prometheus metrics."""
