"""Storage stage: writing and reading layer features, deliveries and their versions."""
