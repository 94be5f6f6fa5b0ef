"""Kairos models: encoders, the hierarchical video encoder, the moment head, losses and training."""
