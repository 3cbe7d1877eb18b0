"""Choosing a model for a series (``model = "auto"``): series-description keywords first, then the
slice orientation, then the configured default.

Keywords (case-insensitive, matched as whole words of the description split at non-letters and
digits, or as word prefixes where noted):

- view: ``sax``/``sa``/``short*`` -> sax; ``2ch`` -> ch2, ``3ch``/``lvot`` -> ch3, ``4ch`` -> ch4,
  ``lax``/``la``/``long*`` -> lax (long axis, chamber unknown);
- sequence: ``lge``/``psir``/``de``/``late*`` -> lge; ``t1``/``molli``/``shmolli`` -> t1; else cine.

Orientation (only when no view keyword matched): let ``theta`` be the angle between the slice
normal and the patient's head-feet axis. A short-axis plane is double oblique: its normal (the LV
long axis) points left, anterior and feet-wards, with every body-axis component >= 0.3 -> sax. A
normal within 35 degrees of the head-feet axis (a near-transverse plane, like a 4-chamber view)
-> lax. Anything else is undecided and the default model is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from inline_ai.paths import models_dir

DEFAULT_MODELS: dict[str, str] = {
    "sax_cine": "sax_cine",
    "sax_lge": "sax_lge",
    "sax_t1": "sax_t1",
    "lax_cine": "lax_cine",
    "lax_lge": "lax_cine",
    "lax_t1": "lax_cine",
}
SAX_MIN_COMPONENT = 0.3
LAX_MAX_ANGLE_DEG = 35.0


@dataclass(frozen=True)
class ModelChoice:
    """The model picked for a series and why."""

    model: str
    view: str  # sax, ch2, ch3, ch4, lax (long axis, chamber unknown) or "" (unknown)
    sequence: str  # cine, lge, t1
    reason: str


def parse_model_map(models: Mapping[str, str] | str | None) -> dict[str, str]:
    """A model map from a dict or from text ``"sax_cine=my_sax, lax_cine=my_lax"`` (gadget property)."""
    if models is None:
        return dict(DEFAULT_MODELS)
    if isinstance(models, Mapping):
        return {str(k): str(v) for k, v in models.items()}
    mapping = dict(DEFAULT_MODELS)
    for part in re.split(r"[,;]", str(models)):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"model map entry {part.strip()!r} is not KEY=MODEL (e.g. sax_cine=my_sax)")
        mapping[key.strip()] = value.strip()
    return mapping


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def view_from_description(description: str) -> str:
    """``sax``, ``ch2``, ``ch3``, ``ch4``, ``lax`` or ``""`` from a series description."""
    words = _words(description)
    for word in words:
        if word in ("2ch", "ch2", "2cv", "vla"):
            return "ch2"
        if word in ("3ch", "ch3", "lvot"):
            return "ch3"
        if word in ("4ch", "ch4", "hla"):
            return "ch4"
    for word in words:
        if word in ("sax", "sa") or word.startswith("short") or word.startswith("sax"):
            return "sax"
        if word in ("lax", "la") or word.startswith("long") or word.startswith("lax"):
            return "lax"
    return ""


def sequence_from_description(description: str) -> str:
    """``lge``, ``t1`` or ``cine`` from a series description."""
    words = _words(description)
    if any(w in ("lge", "psir", "de") or w.startswith("late") for w in words):
        return "lge"
    if any(w in ("t1", "molli", "shmolli", "t1map") or w.startswith("molli") for w in words):
        return "t1"
    return "cine"


def view_from_orientation(slice_normal: Sequence[float] | None) -> str:
    """``sax``, ``lax`` or ``""`` from the slice normal in patient coordinates (heuristic above)."""
    if slice_normal is None:
        return ""
    normal = np.asarray(slice_normal, dtype=np.float64)
    length = np.linalg.norm(normal)
    if normal.shape != (3,) or not np.isfinite(length) or length == 0:
        return ""
    normal = np.abs(normal / length)
    if np.degrees(np.arccos(min(1.0, normal[2]))) <= LAX_MAX_ANGLE_DEG:
        return "lax"
    if normal.min() >= SAX_MIN_COMPONENT:
        return "sax"
    return ""


def available_models() -> set[str]:
    """Names of the models with a card in ``models_dir()``."""
    directory = models_dir()
    return {path.stem for path in directory.glob("*.json")} if directory.is_dir() else set()


def choose_model(description: str, slice_normal: Sequence[float] | None, default_model: str,
                 models: Mapping[str, str] | str | None = None, available: set[str] | None = None) -> ModelChoice:
    """Pick a model name for a series.

    ``models`` maps ``FAMILY_SEQUENCE`` (``sax_cine``, ``lax_lge``, ...) to a model name
    (default :data:`DEFAULT_MODELS`; text ``"sax_cine=a,lax_cine=b"`` updates the defaults). A
    mapped model without a card in ``available`` (default: ``models_dir()``) falls back to the
    family's cine model, then to ``default_model``.
    """
    mapping = parse_model_map(models)
    present = available_models() if available is None else available
    view = view_from_description(description)
    source = "series description"
    if not view:
        view = view_from_orientation(slice_normal)
        source = "slice orientation"
    sequence = sequence_from_description(description)
    if not view:
        return ModelChoice(default_model, "", sequence, "view unknown from description and orientation: default")
    family = "sax" if view == "sax" else "lax"
    for key in (f"{family}_{sequence}", f"{family}_cine"):
        name = mapping.get(key)
        if name and name in present:
            return ModelChoice(name, view, sequence, f"{family} {sequence} from {source}")
    return ModelChoice(default_model, view, sequence,
                       f"{family} {sequence} from {source}, no such model installed: default")
