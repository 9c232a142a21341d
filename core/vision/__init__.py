"""Vision scoring for camera audience measurement: pure functions, numbers out, never pixels."""
