"""Hub-managed agents: an agent's tasks kept at the hub as versioned configuration."""
