"""Tissue contrast from physics: relaxation times per subject -> signal per sequence.

Sequences: ``cine`` (bSSFP steady state), ``lge`` (phase-sensitive inversion recovery about
10-20 min after gadolinium; the inversion time nulls normal myocardium), ``t1`` (a T1 map in ms,
native or post-contrast). Values follow /work/shared/notes/phantom-physics.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TISSUES: tuple[str, ...] = ("air", "fat", "muscle", "lung", "liver", "stomach", "marrow", "csf", "blood",
                            "myocardium", "scar", "bone")

# (T1 1.5 T, T2 1.5 T, T1 3 T, T2 3 T, relative PD), centre of the literature ranges
NATIVE: dict[str, tuple[float, float, float, float, float]] = {
    "air": (1000, 1, 1000, 1, 0.0),
    "fat": (300, 75, 375, 70, 1.0),
    "muscle": (1050, 40, 1400, 32, 0.75),
    "lung": (1200, 40, 1300, 30, 0.15),
    "liver": (600, 45, 800, 35, 0.75),
    "stomach": (1500, 120, 1700, 100, 0.8),
    "marrow": (450, 70, 550, 60, 0.8),
    "csf": (4000, 2000, 4300, 1800, 1.0),
    "blood": (1575, 240, 1900, 200, 0.95),
    "myocardium": (1000, 50, 1200, 45, 0.8),
    "scar": (1150, 60, 1350, 55, 0.8),
    "bone": (1000, 1, 1000, 1, 0.05),
}
# post-contrast T1 (ms, 1.5 T) for LGE and post-contrast T1 maps
POST_CONTRAST_T1: dict[str, float] = {
    "air": 1000, "fat": 260, "muscle": 650, "lung": 700, "liver": 450, "stomach": 800, "marrow": 350,
    "csf": 3500, "blood": 350, "myocardium": 450, "scar": 290, "bone": 1000,
}


@dataclass(frozen=True)
class SequenceParameters:
    """What a sequence needs beyond the tissues (drawn per series)."""

    sequence: str
    field_strength_t: float
    flip_angle_deg: float = 60.0
    repetition_time_ms: float = 3.2  # of the readout
    inversion_time_ms: float = 0.0  # LGE only: chosen to null the nominal post-contrast myocardium
    post_contrast: bool = False
    lge_magnitude: bool = False


def draw_sequence(sequence: str, rng: np.random.Generator, field_strength_t: float | None = None
                  ) -> SequenceParameters:
    """Random sequence parameters in clinical ranges."""
    if sequence not in ("cine", "lge", "t1"):
        raise ValueError(f"unknown sequence {sequence!r}; expected cine, lge or t1")
    field = float(field_strength_t) if field_strength_t else float(rng.choice([1.5, 3.0], p=[0.6, 0.4]))
    flip = float(rng.uniform(40, 75) if sequence == "cine" else rng.uniform(20, 45))
    post_contrast = bool(rng.uniform() < 0.3)
    magnitude = bool(rng.uniform() < 0.5)
    field_factor = 1.2 if field > 2.0 else 1.0
    # the technologist sets TI from a TI scout: near the nominal null point, never exact
    inversion = POST_CONTRAST_T1["myocardium"] * field_factor * np.log(2.0) * rng.uniform(0.93, 1.07)
    return SequenceParameters(sequence=sequence, field_strength_t=field, flip_angle_deg=flip,
                              repetition_time_ms=float(rng.uniform(2.6, 3.8) if sequence == "cine"
                                                       else rng.uniform(4.0, 8.0)),
                              inversion_time_ms=float(inversion) if sequence == "lge" else 0.0,
                              post_contrast=post_contrast, lge_magnitude=magnitude)


def relaxation(field_strength_t: float, rng: np.random.Generator) -> dict[str, tuple[float, float, float]]:
    """Per-subject (T1, T2, PD) per tissue, varied around the table values (+-5%)."""
    high = field_strength_t > 2.0
    values = {}
    for tissue, (t1a, t2a, t1b, t2b, pd) in NATIVE.items():
        t1, t2 = (t1b, t2b) if high else (t1a, t2a)
        values[tissue] = (t1 * rng.uniform(0.95, 1.05), t2 * rng.uniform(0.9, 1.1), pd * rng.uniform(0.95, 1.05))
    return values


def bssfp_signal(t1: float, t2: float, pd: float, flip_deg: float) -> float:
    """On-resonance bSSFP steady-state magnitude (TR << T2)."""
    a = np.deg2rad(flip_deg)
    ratio = t1 / t2
    return float(pd * np.sin(a) / ((ratio + 1.0) - np.cos(a) * (ratio - 1.0)))


def tissue_values(params: SequenceParameters, rng: np.random.Generator) -> dict[str, float]:
    """The value each tissue contributes to the image (signal, or T1 in ms for maps)."""
    tissues = relaxation(params.field_strength_t, rng)
    if params.sequence == "cine":
        values = {name: bssfp_signal(t1, t2, pd, params.flip_angle_deg) for name, (t1, t2, pd) in tissues.items()}
        values["lung"] *= float(rng.uniform(0.1, 0.5))  # very short T2*: lung parenchyma is nearly black
        values["air"] = values["bone"] = 0.0
        return values
    field_factor = 1.2 if params.field_strength_t > 2.0 else 1.0
    post = {name: t1 * field_factor * rng.uniform(0.93, 1.07) for name, t1 in POST_CONTRAST_T1.items()}
    if params.sequence == "t1":
        if params.post_contrast:
            return post
        return {name: t1 for name, (t1, _, _) in tissues.items()}
    # LGE: the subject's tissue T1s (drawn above) against the technologist's inversion time
    ti = params.inversion_time_ms
    values = {}
    for name, t1 in post.items():
        pd = tissues[name][2]
        signal = pd * (1.0 - 2.0 * np.exp(-ti / t1))
        values[name] = float(abs(signal) if params.lge_magnitude else signal)
    values["air"] = values["bone"] = 0.0
    values["lung"] *= 0.3
    return values


def jitter_contrast(values: dict[str, float], rng: np.random.Generator, spread: float,
                    min_blood_to_myocardium: float = 1.6) -> dict[str, float]:
    """Each tissue's value times its own log-normal factor (domain randomisation of contrast).

    The factors' log-SD is drawn per series in ``[0, spread]``, so some series keep the physical
    contrast and others move every tissue against its neighbours (fat vs blood, myocardium vs
    liver, LV vs RV blood), which makes a network rely on shape rather than on exact intensities.
    LV and RV blood stay at least ``min_blood_to_myocardium`` times the myocardium (scaled down if
    needed) so that the cavities the landmarks are defined on stay visible.
    """
    if spread < 0:
        raise ValueError(f"contrast jitter must be >= 0, got {spread}")
    sigma = float(rng.uniform(0.0, spread))
    out = {name: float(value * np.exp(rng.normal(0.0, sigma))) for name, value in values.items()}
    if "myocardium" in out:
        brightest_allowed = min(abs(out.get(name, np.inf)) for name in ("blood", "rv_blood")) / min_blood_to_myocardium
        if abs(out["myocardium"]) > brightest_allowed:
            out["myocardium"] = float(np.sign(out["myocardium"]) * brightest_allowed)
    return out
