"""Inline AI for cardiac MRI: landmark detection and LV measures, host-agnostic core."""

__version__ = "0.1.0"
