"""Deterministic synthetic data: the bundled Wansheng demo dataset and a province-sized benchmark set."""
