"""Synthetic cardiac MR phantom with exact landmarks (see docs/phantom.md); never imported by the runtime."""

from inline_ai.phantom.generate import generate_case

__all__ = ["generate_case"]
