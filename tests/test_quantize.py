"""int8 quantisation of a card's ONNX model (``inline_ai.training.quantize``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx", reason="quantisation needs onnx (pip install 'inline-ai[dev]')")

from model_factory import make_test_model  # noqa: E402

from inline_ai.dataset import LandmarkCase, save_case  # noqa: E402
from inline_ai.runtime import file_sha256, load_model  # noqa: E402
from inline_ai.training.quantize import main  # noqa: E402


def _cases(directory: Path, patients: int = 3) -> None:
    """Spots on noise, one two-image case per patient ``spot_pNN``."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:64, 0:64]
    for p in range(patients):
        images = [100 + rng.normal(0, 5, (64, 64)) + 600 * np.exp(-((rows - 30) ** 2 + (cols - 34) ** 2) / 20.0)
                  for _ in range(2)]
        case = LandmarkCase(np.stack(images).astype(np.float32), np.array([2.0, 2.0], np.float32),
                            np.full((2, 3, 2), 30.0, np.float32),
                            ("anterior_rv_insertion", "inferior_rv_insertion", "lv_centre"), "sax", "cine")
        save_case(directory / f"spot_p{p:02d}_c.npz", case)


def test_quantised_card_runs_the_int8_file_close_to_the_float_model_and_requantises_from_it(tmp_path):
    models, data = tmp_path / "models", tmp_path / "data"
    float_path = make_test_model(models, "test_sax", view_family="sax", input_size=(64, 64), pixel_size_mm=2.0)
    _cases(data)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["spot_p00", "spot_p01"], "val": ["spot_p02"]}))
    float_model = load_model(models / "test_sax.json")
    argv = [str(models / "test_sax.json"), "--cases", str(data), "--split-file", str(split), "--images-per-case", "2"]
    assert main(argv) == 0
    card = json.loads((models / "test_sax.json").read_text())
    assert card["file"] == "test_sax.int8.onnx" and card["sha256"] == file_sha256(models / "test_sax.int8.onnx")
    block = card["quantized"]
    assert block["float_file"] == float_path.name and block["float_sha256"] == file_sha256(float_path)
    assert block["calibration"]["images"] == 4 and block["calibration"]["split"] == "train"  # the val patient is out
    quantised = load_model(models / "test_sax.json")
    import onnx

    ops = {node.op_type for node in onnx.load(str(models / "test_sax.int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    rows, cols = np.mgrid[0:64, 0:64]
    batch = (0.2 + np.exp(-((rows - 30) ** 2 + (cols - 34) ** 2) / 20.0))[None, None].astype(np.float32)
    difference = np.abs(quantised.predict(batch) - float_model.predict(batch)).max()
    assert difference < 0.2 and 0 < block["max_abs_probability_diff"] < 0.2
    first = (models / "test_sax.int8.onnx").read_bytes()
    block_notes = {**block, "note": "kept"}
    card["quantized"] = block_notes
    (models / "test_sax.json").write_text(json.dumps(card))
    assert main(argv) == 0  # again from the float file: the same int8 model, notes kept
    again = json.loads((models / "test_sax.json").read_text())
    assert (models / "test_sax.int8.onnx").read_bytes() == first and again["quantized"]["note"] == "kept"
    assert again["quantized"]["float_file"] == float_path.name


def test_quantisation_refuses_a_split_without_cases_and_a_changed_float_file(tmp_path):
    models, data = tmp_path / "models", tmp_path / "data"
    float_path = make_test_model(models, "test_sax", view_family="sax", input_size=(64, 64), pixel_size_mm=2.0)
    _cases(data)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["someone_else"]}))
    with pytest.raises(ValueError, match="no case of split 'train'"):
        main([str(models / "test_sax.json"), "--cases", str(data), "--split-file", str(split)])
    assert main([str(models / "test_sax.json"), "--cases", str(data)]) == 0
    with float_path.open("ab") as handle:
        handle.write(b"changed")
    with pytest.raises(ValueError, match="does not match the float model"):
        main([str(models / "test_sax.json"), "--cases", str(data)])


def test_a_context_model_is_calibrated_on_its_images_with_their_neighbouring_slices(tmp_path):
    from inline_ai.runtime import ModelCard
    from inline_ai.training.quantize import calibration_batch

    models, data = tmp_path / "models", tmp_path / "data"
    make_test_model(models, "test_ctx", view_family="sax", input_size=(64, 64), pixel_size_mm=2.0, context_slices=1)
    _cases(data, patients=1)
    card = ModelCard.from_json(models / "test_ctx.json")
    batch = calibration_batch(card, sorted(data.glob("*.npz")), cases=1, images_per_case=2, seed=0)
    assert batch.shape == (2, 3, 64, 64)
    # in a two-image case each image has one neighbour (the other image) and one missing (zeros)
    assert all(np.abs(b[1:]).sum(axis=(1, 2)).astype(bool).sum() == 1 for b in batch)
    assert main([str(models / "test_ctx.json"), "--cases", str(data)]) == 0
    assert load_model(models / "test_ctx.json").predict(batch).shape == (2, 4, 64, 64)
