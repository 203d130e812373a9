"""Sharing agreements, consent and objection, and the decision point that enforces them at disclosure."""
