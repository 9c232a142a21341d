"""dynaprice core."""
