"""Alerts: rules that watch the hub's health, episodes notified once when they open and once when they close."""
