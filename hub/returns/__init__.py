"""Data returns: periodic datasets, who has sent which return, plausibility and reminders."""
