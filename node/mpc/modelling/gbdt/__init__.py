"""Vertical gradient-boosted trees (SecureBoost-class): protocol, reference, secure histograms."""
