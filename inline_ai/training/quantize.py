"""Static int8 quantisation of a shipped ONNX model, calibrated on training cases (ONNX Runtime, no torch).

``python -m inline_ai.training.quantize lax_cine --cases data_cache/phantom_lax_cine
--split-file config/training/splits/phantom_lax_cine.json`` reads the card, quantises its float ONNX file
(QDQ: int8 weights per channel, uint8 activations with MinMax ranges from calibration images of *training*
subjects only, prepared exactly as the runtime prepares them), writes ``NAME.int8.onnx`` beside it and points the
card's ``file`` at it; the card's ``quantized`` block names the float file (kept, with the TorchScript export, as
the reference), the calibration, and the largest probability difference on those images. A quantised card is
quantised again from its float file, so the command is repeatable. Worth it where the convolutions have int8
instructions (AVX512-VNNI): the first stage of ``lax_cine`` ran in ~0.6 of the float time on these cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from inline_ai.context import case_contexts
from inline_ai.dataset import list_cases, load_case
from inline_ai.detector import model_input
from inline_ai.evaluate import select_cases
from inline_ai.runtime import LandmarkModel, ModelCard, ModelError, file_sha256, resolve_model

QUANTIZED_SUFFIX = ".int8.onnx"


def calibration_batch(card: ModelCard, case_paths: Sequence[Path], cases: int, images_per_case: int,
                      seed: int) -> np.ndarray:
    """Model inputs ``[M, I, H, W]`` from ``cases`` randomly chosen of ``case_paths``, made by the runtime's own
    :func:`inline_ai.detector.model_input` (a context model's neighbouring slices included)."""
    rng = np.random.default_rng(seed)
    batch = []
    for path in rng.choice(np.asarray(case_paths, dtype=object), min(cases, len(case_paths)), replace=False):
        case = load_case(path)
        contexts = case_contexts(case.image, case.phase, case.slice_index)
        for index in rng.choice(len(case.image), min(images_per_case, len(case.image)), replace=False):
            inputs, _ = model_input(case.image[index], tuple(case.pixel_spacing), card.pixel_size_mm,
                                    card.input_size, card.input_channels, contexts[index])
            batch.append(inputs)
    return np.stack(batch)


def quantize_card(card_path: Path, batch: np.ndarray, calibration: dict[str, object]) -> dict[str, object]:
    """Quantise the card's float model on ``batch``, write ``NAME.int8.onnx`` and update the card; returns the
    card's new ``quantized`` block."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    data = json.loads(card_path.read_text())
    card = ModelCard.from_dict(data, card_path)
    if card.format != "onnx":
        raise ValueError(f"{card.name}: only ONNX models are quantised here, the card says {card.format!r}")
    # an already quantised card is quantised again from its float model (the runtime's own file check)
    float_card = replace(card, file=card.float_file, sha256=card.float_sha256) if card.float_file else card
    try:
        float_model = LandmarkModel(float_card)  # checks the file against its sha256, as the runtime does
    except ModelError as error:
        raise ValueError(f"{error} (does not match the float model the card was quantised from)") from error
    float_path = float_card.model_path
    out_path = card_path.parent / f"{card.name}{QUANTIZED_SUFFIX}"

    class Reader(CalibrationDataReader):
        def __init__(self, name: str) -> None:
            self.name, self.start = name, 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.start >= len(batch):
                return None
            chunk = batch[self.start:self.start + 8]
            self.start += 8
            return {self.name: chunk}

    import onnxruntime as ort

    input_name = ort.InferenceSession(str(float_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(float_path), str(prepared))
        quantize_static(str(prepared), str(out_path), Reader(input_name), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    block = {**(data.get("quantized") or {}), "float_file": float_card.file, "float_sha256": float_card.sha256,
             "method": "onnxruntime static QDQ: int8 weights per channel, uint8 activations, MinMax",
             "calibration": calibration}
    data.update(file=out_path.name, sha256=file_sha256(out_path), quantized=block)
    quantised_model = LandmarkModel(ModelCard.from_dict(data, card_path))
    reference = float_model.predict(batch)
    block["max_abs_probability_diff"] = round(float(np.abs(quantised_model.predict(batch) - reference).max()), 4)
    card_path.write_text(json.dumps(data, indent=2) + "\n")
    return block


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model name in models/ or path to its card")
    parser.add_argument("--cases", type=Path, required=True, help="landmark dataset folder of training cases")
    parser.add_argument("--split-file", type=Path, help="split.json: calibrate on its --split patients only")
    parser.add_argument("--split", default="train")
    parser.add_argument("--max-cases", type=int, default=40)
    parser.add_argument("--images-per-case", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    card_path = resolve_model(args.model)
    card = ModelCard.from_json(card_path)
    paths = select_cases(list_cases(args.cases), args.split_file, args.split if args.split_file else None)
    batch = calibration_batch(card, paths, args.max_cases, args.images_per_case, args.seed)
    calibration = {"cases": str(args.cases), "split_file": str(args.split_file) if args.split_file else None,
                   "split": args.split if args.split_file else None, "images": int(len(batch)), "seed": args.seed}
    block = quantize_card(card_path, batch, calibration)
    print(f"{card.name}: {card_path.parent / (card.name + QUANTIZED_SUFFIX)} on {len(batch)} calibration images, "
          f"largest probability difference {block['max_abs_probability_diff']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
