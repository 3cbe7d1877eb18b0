"""Landmark names per view family, as ``../shared/data/README.md`` defines them."""

from __future__ import annotations

SAX_LANDMARKS: tuple[str, ...] = ("anterior_rv_insertion", "inferior_rv_insertion", "lv_centre")
LAX_LANDMARKS: tuple[str, ...] = ("mv_anterior", "mv_inferior", "apex")
LAX_VIEWS: tuple[str, ...] = ("ch2", "ch3", "ch4")
VIEWS: tuple[str, ...] = ("sax", *LAX_VIEWS)
SEQUENCES: tuple[str, ...] = ("cine", "lge", "t1")


def view_family(view: str) -> str:
    """``sax`` for short-axis, ``lax`` for ch2/ch3/ch4."""
    if view == "sax":
        return "sax"
    if view in LAX_VIEWS:
        return "lax"
    raise ValueError(f"unknown view {view!r}; expected one of {VIEWS}")


def landmark_names(view: str) -> tuple[str, ...]:
    """Landmark names, in channel order, for a view (``sax``, ``ch2``, ``ch3``, ``ch4``) or family."""
    family = view if view in ("sax", "lax") else view_family(view)
    return SAX_LANDMARKS if family == "sax" else LAX_LANDMARKS
