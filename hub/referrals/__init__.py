"""Referrals as tracked journeys: addressed referrals, their status updates, overdue, partnership figures."""
