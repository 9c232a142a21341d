"""Retail price-point ingestion: schema, validation, normalisation (pure, vectorised)."""
