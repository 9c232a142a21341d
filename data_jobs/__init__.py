"""dynaprice data_jobs."""
