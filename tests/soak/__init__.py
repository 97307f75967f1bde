"""make soak: a long run against a model, with faults."""
