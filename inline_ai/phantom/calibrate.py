"""Compare phantom SAX cine statistics with real ACDC stacks (the calibration table of docs/phantom.md).

``python -m inline_ai.phantom.calibrate [--subjects 24] [--rv-junction] [--lean-epicardium]`` prints, for ACDC
(from the shared data folder) and the phantom: mid-ventricular LV cavity diameter, wall thickness, RV area,
slices with an LV cavity, RV contact arc, ES/ED ratios, RV insertion distances over all complete images,
landmark presence, region intensities and the brightness of the band just outside the LV.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict

import numpy as np
from scipy import ndimage

from inline_ai.dataset import LandmarkCase, list_cases, load_case
from inline_ai.paths import shared_data_dir
from inline_ai.phantom.generate import generate_case


def mid_slice_measures(case: LandmarkCase, images: range) -> dict[str, float]:
    """Measures on the middle image (of ``images``) that has an LV cavity."""
    area = float(case.pixel_spacing[0] * case.pixel_spacing[1])
    with_lv = [n for n in images if (case.mask[n] == 3).any()]
    n = with_lv[len(with_lv) // 2]
    mask, points = case.mask[n], case.landmarks[n]
    cavity = (mask == 3).sum() * area
    wall = (mask == 2).sum() * area
    r_endo, r_epi = np.sqrt(cavity / np.pi), np.sqrt((cavity + wall) / np.pi)
    arc = np.nan
    if np.isfinite(points).all():
        angle = [np.arctan2(*(p - points[2])) for p in (points[0], points[1], np.argwhere(mask == 1).mean(axis=0))]
        span = (angle[1] - angle[0]) % (2 * np.pi)
        arc = np.degrees(span if (angle[2] - angle[0]) % (2 * np.pi) < span else 2 * np.pi - span)
    return {"cavity_diameter_mm": 2 * r_endo, "wall_mm": r_epi - r_endo, "rv_area_mm2": (mask == 1).sum() * area,
            "slices_with_lv": len(with_lv), "rv_arc_deg": arc}


def presence(cases: list[LandmarkCase]) -> tuple[float, float]:
    """Fraction of images with an LV centre, and of those with both RV insertion points."""
    present = np.concatenate([np.isfinite(c.landmarks).all(axis=-1) for c in cases])
    return float(present[:, 2].mean()), float((present[:, 0] & present[:, 1])[present[:, 2]].mean())


def region_intensity(cases: list[LandmarkCase], label: int) -> np.ndarray:
    """Median intensity of a label region / the image's 99.5th percentile, per image."""
    values = [np.median(image[mask == label]) / np.percentile(image, 99.5)
              for case in cases for image, mask in zip(case.image, case.mask, strict=True)
              if (mask == label).sum() > 20]
    return np.asarray(values, dtype=float)


def lv_band(mask: np.ndarray, spacing: np.ndarray, inner_mm: float = 0.75, outer_mm: float = 4.0,
            rv_clearance_mm: float = 6.0) -> np.ndarray:
    """Pixels ``inner_mm``-``outer_mm`` outside the LV (myocardium and cavity) and farther than
    ``rv_clearance_mm`` from the RV cavity: what hugs the LV wall (epicardial fat, pericardium, lung)."""
    outside = ndimage.distance_transform_edt((mask != 2) & (mask != 3), sampling=spacing)
    off_rv = ndimage.distance_transform_edt(mask != 1, sampling=spacing) > rv_clearance_mm
    return (outside > inner_mm) & (outside <= outer_mm) & off_rv


def epicardial_band(cases: list[LandmarkCase]) -> np.ndarray:
    """Median intensity of each image's :func:`lv_band` / its LV cavity's median: how bright what hugs
    the LV wall is."""
    values = []
    for case in cases:
        spacing = np.asarray(case.pixel_spacing, dtype=float)
        for image, mask in zip(case.image, case.mask, strict=True):
            if (mask == 3).sum() < 20:
                continue
            band = lv_band(mask, spacing)
            if band.sum() > 5:
                values.append(np.median(image[band]) / np.median(image[mask == 3]))
    return np.asarray(values, dtype=float)


def rv_direction_deg(cases: list[LandmarkCase]) -> tuple[float, float, float]:
    """Display direction from the LV centre to the RV centroid (0 = right, 90 = up): circular mean
    and the 10th / 90th percentiles of the deviation from it."""
    angles = [np.arctan2(-(v := np.argwhere(mask == 1).mean(axis=0) - points[2])[0], v[1])
              for case in cases for mask, points in zip(case.mask, case.landmarks, strict=True)
              if np.isfinite(points[2]).all() and (mask == 1).sum() > 30]
    angles = np.asarray(angles)
    mean = np.angle(np.mean(np.exp(1j * angles)))
    deviation = np.degrees(np.angle(np.exp(1j * (angles - mean))))
    return float(np.degrees(mean)), float(np.percentile(deviation, 10)), float(np.percentile(deviation, 90))


def insertion_distances(cases: list[LandmarkCase]) -> dict[str, np.ndarray]:
    """Over every image with all three landmarks: LV centre -> anterior RV insertion and the
    distance between the two insertions (mm); and the fraction of images with all three."""
    to_anterior, between, complete = [], [], []
    for case in cases:
        spacing = float(case.pixel_spacing[0])
        for points in case.landmarks:
            complete.append(bool(np.isfinite(points).all()))
            if complete[-1]:
                to_anterior.append(np.linalg.norm(points[0] - points[2]) * spacing)
                between.append(np.linalg.norm(points[0] - points[1]) * spacing)
    return {"lv centre -> ant. RVI mm": np.asarray(to_anterior), "RVI -> RVI mm": np.asarray(between),
            "all three landmarks": np.asarray([np.mean(complete)])}


def _summary(name: str, values: list[float] | np.ndarray) -> str:
    v = np.asarray(values, dtype=float)
    return f"{name:<24} {np.nanmedian(v):8.2f} [{np.nanpercentile(v, 10):.2f}, {np.nanpercentile(v, 90):.2f}]"


def report(label: str, ed: list[LandmarkCase], pairs: list[tuple[LandmarkCase, range, range]]) -> None:
    """Print one data set's statistics."""
    print(f"== {label}: median [p10, p90]")
    measures = defaultdict(list)
    for case in ed:
        for key, value in mid_slice_measures(case, range(case.image.shape[0])).items():
            measures[key].append(value)
    for key, values in measures.items():
        print(_summary(key, values))
    ratios = defaultdict(list)
    for case, ed_images, es_images in pairs:
        first, second = mid_slice_measures(case[0], ed_images), mid_slice_measures(case[1], es_images)
        ratios["es/ed cavity"].append(second["cavity_diameter_mm"] / first["cavity_diameter_mm"])
        ratios["es/ed wall"].append(second["wall_mm"] / first["wall_mm"])
    for key, values in ratios.items():
        print(_summary(key, values))
    for key, values in insertion_distances(ed).items():
        print(_summary(key, values))
    mean, low, high = rv_direction_deg(ed)
    print(f"{'RV direction (deg)':<24} {mean:8.1f} [{low:+.0f}, {high:+.0f}]")
    lv, rv = presence(ed)
    print(f"{'LV centre present':<24} {lv:8.2f}\n{'RV points | LV centre':<24} {rv:8.2f}")
    for code, name in ((1, "RV cavity"), (2, "LV myocardium"), (3, "LV cavity")):
        print(_summary(f"intensity {name}", region_intensity(ed[:20], code)))
    print(_summary("LV band 0.75-4 mm / LV", epicardial_band(ed[:20])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inline_ai.phantom.calibrate", description=__doc__)
    parser.add_argument("--subjects", type=int, default=24)
    parser.add_argument("--rv-junction", action="store_true", help="phantom with generate_case(rv_junction=True)")
    parser.add_argument("--lean-epicardium", action="store_true",
                        help="phantom with generate_case(lean_epicardium=True)")
    parser.add_argument("--dark-epicardium", action="store_true",
                        help="phantom with generate_case(dark_epicardium=True)")
    args = parser.parse_args(argv)
    folder = shared_data_dir() / "acdc_sax_cine"
    if folder.is_dir():
        by_patient = defaultdict(list)
        for path in list_cases(folder):
            by_patient[re.sub(r"_frame\d+$", "", path.stem)].append(path)
        ed = [load_case(paths[0]) for paths in by_patient.values()]
        pairs = []
        for paths in list(by_patient.values())[:40]:
            first, second = load_case(paths[0]), load_case(paths[1])
            pairs.append(((first, second), range(first.image.shape[0]), range(second.image.shape[0])))
        report("ACDC (ED stacks)", ed, pairs)
    else:
        print(f"ACDC not found at {folder}: phantom only")
    # the standard display only (ACDC's); the mirrored half would flip the RV direction
    cases = [generate_case("sax", "cine", seed, "ed_es", planning={"mirror_probability": 0.0},
                           rv_junction=args.rv_junction, lean_epicardium=args.lean_epicardium,
                           dark_epicardium=args.dark_epicardium)
             for seed in range(args.subjects)]
    ed_only, pairs = [], []
    for case in cases:
        slices = case.image.shape[0] // 2
        ed_case = LandmarkCase(image=case.image[:slices], pixel_spacing=case.pixel_spacing,
                               landmarks=case.landmarks[:slices], landmark_names=case.landmark_names,
                               view=case.view, sequence=case.sequence, mask=case.mask[:slices])
        ed_only.append(ed_case)
        pairs.append(((case, case), range(slices), range(slices, 2 * slices)))
    report(f"phantom (subjects 0-{args.subjects - 1})", ed_only, pairs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
