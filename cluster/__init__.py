"""dynaprice cluster."""
