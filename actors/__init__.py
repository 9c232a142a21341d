"""dynaprice actors."""
