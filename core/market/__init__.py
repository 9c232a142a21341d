"""A simulated retail market with known true demand, and the price-point feed drawn from it."""
