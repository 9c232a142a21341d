"""dynaprice tuning."""
