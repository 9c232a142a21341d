"""Retail demand: price features, the demand model's training set, metrics and model registry."""
