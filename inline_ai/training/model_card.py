"""Write ``models/MODEL_CARD.md``: a human-readable summary of every model card in a folder.

``python -m inline_ai.training.model_card models`` (reads ``models/*.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _members(card: dict) -> str:
    """The prefix "the mean of the probabilities of N networks ..., each a " for an ensemble card
    (``inline_ai.training.ensemble``); "" for a single network."""
    members = (card.get("ensemble") or {}).get("members") or []
    if not members:
        return ""
    seeds = [str(m["seed"]) for m in members if "seed" in m]
    which = f" (seeds {', '.join(seeds)})" if len(seeds) == len(members) else ""
    return f"the mean of the probabilities of {len(members)} networks{which}, each a "


def _number(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def card_section(card: dict[str, Any]) -> str:
    """Markdown for one card: provenance, inputs, and every evaluation in its metrics."""
    arch = card.get("architecture", {})
    classes = ", ".join(c for c in card["channels"] if c != "background")
    rule_module = {"lax": "inline_ai.apex_rule"}.get(card.get("mask_rule", ""), "inline_ai.mask_landmarks")
    read = ("the apex is read off the LV by the rule that made the apex labels; the valve points stay the incoming "
            "ones" if card.get("mask_rule") == "lax" else "the landmarks are read off the mask by the rule that made "
            "the labels")
    outputs = (f"**a mask model**: it segments {classes}, and {read} (`{rule_module}`, rule {card['mask_rule']!r})"
               if card.get("mask_rule") else f"landmarks: {classes}")
    members = _members(card)
    lines = [
        f"## {card['name']}", "",
        f"- **Learned from:** {card['trained_on']}",
        f"- **Validated on:** {card['validated_on']}",
        f"- Views: {', '.join(card['views'])} ({card['sequence']}); {outputs}",
        f"- Input: {card['input_size'][0]} x {card['input_size'][1]} px at {card['pixel_size_mm']} mm "
        f"(image / 99.5th percentile, clipped to [0, 2]); output: {card['output']} over "
        f"{len(card['channels'])} channels",
        f"- Network: {members}U-Net depth {arch.get('depth', '?')}, base {arch.get('base_channels', '?')} "
        f"channels, {arch.get('parameters', '?'):,} parameters{' in all' if members else ''}; "
        f"heat-map sigma {card.get('heatmap_sigma_mm', '?')} mm"
        if isinstance(arch.get("parameters"), int) else "- Network: see card",
        f"- Presence threshold: {card['threshold']}"
        + (f"; per landmark {card['thresholds']}" if card.get("thresholds") else ""),
        f"- Files: `{card['file']}` (sha256 `{card['sha256'][:16]}...`)"
        + (f", TorchScript `{card['torchscript']['file']}`" if card.get("torchscript") else ""),
        f"- Training command: `{card['training_command']}`; created {card['created']}",
    ]
    if card.get("crop"):
        lines.append(f"- **Refinement model** ({card['crop']} crop, `inline_ai.crop`): it re-reads the points of a "
                     "first model whose card names it in `refine_with`; it is never run on whole images")
    elif card.get("mask_rule"):
        lines.append("- **Refinement model** (whole image): it reads every image after a heat-map model whose card "
                     "names it in `refine_with`, whose best guesses tell the anterior RV insertion from the inferior")
    quantized = card.get("quantized")
    if isinstance(quantized, dict):
        calibration = quantized.get("calibration", {})
        lines.append(f"- **int8** (`inline_ai.training.quantize`): the runtime runs `{card['file']}`, quantised from "
                     f"the float `{quantized.get('float_file')}` (kept as the reference) on "
                     f"{calibration.get('images')} images of the `{calibration.get('split')}` split; largest "
                     "probability difference there "
                     f"{quantized.get('max_abs_probability_diff')}"
                     + (f"; measured on the float model: {', '.join(quantized['metrics_of_the_float_model'])}"
                        if quantized.get("metrics_of_the_float_model") else ""))
    if card.get("display") == "standard":
        lines.append("- **Standard SAX display only**: images whose directions say they are the mirror image are "
                     "flipped left-right for it and its points flipped back (`inline_ai.display`); where no directions "
                     "tell, the model reads the images both ways and its anatomy decides (one display per stack)")
    if card.get("mirror_average"):
        lines.append("- Mirror averaging: each crop and its mirror image across the crop's axis are read and the maps "
                     "averaged (`inline_ai.refine.mirror_averaged`)")
    if card.get("combine") == "average":
        lines.append("- Combine `average`: where a point arrives from the stage before, the result is the mean of that "
                     "point and this model's reading")
    if card.get("refine_with"):
        lines.append(f"- Refined by `{card['refine_with']}`: a second look at finer pixels (`inline_ai.refine`); "
                     "the evaluations below include it unless they say otherwise")
    if card.get("training_time"):
        lines.append(f"- Training time: {card['training_time']}")
    evaluations = {k: v for k, v in card.get("metrics", {}).items()
                   if isinstance(v, dict) and "detection_rate" in v and "landmarks" in v}
    if evaluations:
        lines += ["", "| evaluation | images | detection rate | mean (mm) | "
                  + " | ".join(f"{n} mean (mm)" for n in next(iter(evaluations.values()))["landmarks"]) + " |",
                  "|---|---|---|---|" + "---|" * len(next(iter(evaluations.values()))["landmarks"])]
        for key, value in evaluations.items():
            per = " | ".join(_number(v.get("mean_mm")) for v in value["landmarks"].values())
            where = f"{value.get('dataset', '')}, {value.get('split', '')}"
            if value.get("stack_fill") and card.get("view_family") == "sax":
                where += ", gaps between slices filled"
            lines.append(f"| {key} ({where}) | {value.get('images', '-')} | "
                         f"{100 * value['detection_rate']:.2f}% | {_number(value.get('mean_mm'))} | {per} |")
        for key, value in evaluations.items():
            if "lv_length" in value:
                lv = value["lv_length"]
                lines.append(f"\n{key}: LV length |difference| {_number(lv.get('mean_abs_diff_pct'))} % "
                             f"(mean), {_number(lv.get('median_abs_diff_pct'))} % (median).")
            if "arvi_angle" in value:
                lines.append(f"\n{key}: A-RVI angle |difference| "
                             f"{_number(value['arvi_angle'].get('mean_abs_diff_deg'))} degrees (mean).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path, nargs="?", default=Path("models"))
    parser.add_argument("--out", type=Path, help="default FOLDER/MODEL_CARD.md")
    args = parser.parse_args(argv)
    cards = [json.loads(p.read_text()) for p in sorted(args.folder.glob("*.json"))]
    cards = [c for c in cards if isinstance(c, dict) and "sha256" in c and "trained_on" in c]
    if not cards:
        raise SystemExit(f"no model cards in {args.folder}")
    text = ("# Model cards\n\nGenerated from the JSON cards by `python -m inline_ai.training.model_card`. "
            "Training and evaluation details: `docs/training.md`, sim-to-real: `docs/sim2real.md`.\n\n"
            + "\n".join(card_section(c) for c in cards))
    out = args.out or args.folder / "MODEL_CARD.md"
    out.write_text(text)
    print(f"{len(cards)} cards -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
