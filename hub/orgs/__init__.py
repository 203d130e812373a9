"""Member organisations, their credentials, enrolment tokens and agents."""
