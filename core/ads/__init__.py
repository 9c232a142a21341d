"""Out-of-home ad pricing: rate card, slot optimiser and audience forecasting."""
