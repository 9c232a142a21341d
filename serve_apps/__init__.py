"""dynaprice serve_apps."""
