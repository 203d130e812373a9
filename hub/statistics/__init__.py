"""Statistics computed at the hub and the disclosure control that guards them."""
