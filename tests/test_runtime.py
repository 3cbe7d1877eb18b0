"""Model cards, model resolution, the per-process cache and inference."""

import hashlib
import json

import numpy as np
import pytest
from model_factory import make_test_model

from inline_ai.points import DEFAULT_SIGMA_PX
from inline_ai.runtime import (
    CHUNK_IMAGES,
    REQUIRED_CARD_KEYS,
    ModelCard,
    ModelError,
    clear_model_cache,
    load_model,
    resolve_model,
)


@pytest.fixture
def model_dir(tmp_path):
    make_test_model(tmp_path, name="test_lax", view_family="lax", input_size=(64, 48))
    clear_model_cache()
    yield tmp_path
    clear_model_cache()


def edit_card(directory, name, **changes):
    path = directory / f"{name}.json"
    card = json.loads(path.read_text())
    card.update(changes)
    for key, value in changes.items():
        if value is None:
            del card[key]
    path.write_text(json.dumps(card))
    return path


def test_card_is_read_and_validated(model_dir):
    card = ModelCard.from_json(model_dir / "test_lax.json")
    assert card.input_size == (64, 48)
    assert card.landmark_names == ("mv_anterior", "mv_inferior", "apex")
    assert card.model_path == (model_dir / "test_lax.onnx").resolve()
    assert card.threshold_for("apex") == pytest.approx(card.threshold)


def test_per_landmark_threshold_overrides_the_global_one(model_dir):
    edit_card(model_dir, "test_lax", thresholds={"apex": 0.7})
    card = ModelCard.from_json(model_dir / "test_lax.json")
    assert card.threshold_for("apex") == pytest.approx(0.7)
    assert card.threshold_for("mv_anterior") == pytest.approx(card.threshold)


def test_the_heat_map_sigma_sizes_the_point_reading_window(model_dir):
    card = ModelCard.from_json(model_dir / "test_lax.json")  # pixel size 2 mm, no sigma in the card
    assert card.heatmap_sigma_mm is None and card.heatmap_sigma_px == pytest.approx(DEFAULT_SIGMA_PX)
    card = ModelCard.from_json(edit_card(model_dir, "test_lax", heatmap_sigma_mm=6.0))
    assert card.heatmap_sigma_px == pytest.approx(3.0)
    for bad in (0.0, -4.0, "4", True):
        with pytest.raises(ModelError, match="heatmap_sigma_mm must be a positive number"):
            ModelCard.from_json(edit_card(model_dir, "test_lax", heatmap_sigma_mm=bad))


@pytest.mark.parametrize("key", ["sha256", "channels", "input_size", "pixel_size_mm"])
def test_missing_card_key_is_named(model_dir, key):
    assert key in REQUIRED_CARD_KEYS
    path = edit_card(model_dir, "test_lax", **{key: None})
    with pytest.raises(ModelError, match=key):
        ModelCard.from_json(path)


def test_invalid_card_values_are_named(model_dir):
    path = edit_card(model_dir, "test_lax", output="scores", channels=["apex"], input_size=[64])
    with pytest.raises(ModelError) as error:
        ModelCard.from_json(path)
    assert "output" in str(error.value) and "channels" in str(error.value) and "input_size" in str(error.value)
    path = edit_card(model_dir, "test_lax", context_slices=2)
    with pytest.raises(ModelError, match="context_slices must be 0 or 1"):
        ModelCard.from_json(path)


def test_missing_card_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        ModelCard.from_json(tmp_path / "nothing.json")


def test_resolve_by_name_and_by_path(model_dir, monkeypatch):
    monkeypatch.setenv("INLINE_AI_MODELS", str(model_dir))
    card = (model_dir / "test_lax.json").resolve()
    assert resolve_model("test_lax") == card
    assert resolve_model(model_dir / "test_lax.onnx") == card
    assert resolve_model(str(card)) == card
    with pytest.raises(ModelError, match="available: .*test_lax"):
        resolve_model("no_such_model")


def test_sha256_mismatch_is_refused(model_dir):
    edit_card(model_dir, "test_lax", sha256="0" * 64)
    with pytest.raises(ModelError, match="sha256"):
        load_model(model_dir / "test_lax.json")


def test_card_shape_that_does_not_match_the_model_is_refused(model_dir):
    edit_card(model_dir, "test_lax", input_size=[32, 32])
    with pytest.raises(ModelError, match="shape"):
        load_model(model_dir / "test_lax.json")
    clear_model_cache()
    edit_card(model_dir, "test_lax", input_size=[128, 128], context_slices=1)  # a 1-channel model, card says 3
    with pytest.raises(ModelError, match="shape"):
        load_model(model_dir / "test_lax.json")


def test_model_is_loaded_once_per_process(model_dir):
    first = load_model(model_dir / "test_lax.onnx")
    assert load_model(model_dir / "test_lax.json") is first
    assert load_model(model_dir / "test_lax.json", threads=1) is not first


def test_predict_returns_probabilities_peaking_at_a_bright_spot(model_dir):
    model = load_model(model_dir / "test_lax.json")
    batch = np.full((2, 1, 64, 48), 0.95, dtype=np.float32)
    batch[0, 0, 10, 30] = 2.0  # top half: the apex region of the test model
    probabilities = model.predict(batch)
    assert probabilities.shape == (2, 4, 64, 48)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    apex = model.card.channels.index("apex")
    assert np.unravel_index(probabilities[0, apex].argmax(), (64, 48)) == (10, 30)
    assert probabilities[1, apex].max() < 0.05


def test_a_large_batch_runs_in_chunks_with_the_same_result(model_dir):
    model = load_model(model_dir / "test_lax.json")
    count = 2 * CHUNK_IMAGES + 3
    batch = np.full((count, 1, 64, 48), 0.95, dtype=np.float32)
    for n in range(count):
        batch[n, 0, 5 + n % 20, 10 + n] = 2.0  # each image its own spot
    calls = []
    run = model._run
    model._run = lambda chunk: calls.append(len(chunk)) or run(chunk)
    try:
        together = model.predict(batch)
    finally:
        model._run = run
    assert calls == [CHUNK_IMAGES, CHUNK_IMAGES, 3]
    one_by_one = np.concatenate([model.predict(batch[n:n + 1]) for n in range(count)])
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)
    assert model.predict(batch[:0]).shape == (0, 4, 64, 48)


def test_wrong_batch_shape_is_a_clear_error(model_dir):
    model = load_model(model_dir / "test_lax.json")
    with pytest.raises(ModelError, match="batch must be"):
        model.predict(np.zeros((1, 1, 32, 32), np.float32))


def test_unknown_device_is_refused(model_dir):
    with pytest.raises(ModelError, match="device"):
        load_model(model_dir / "test_lax.json", device="tpu")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script is deprecated, still works
def test_torchscript_model_runs_when_torch_is_installed(model_dir):
    torch = pytest.importorskip("torch", reason="TorchScript models need torch, which is not installed")

    class Spot(torch.nn.Module):
        def forward(self, image):
            landmark = 20.0 * image
            background = torch.full_like(image, 25.0)
            return torch.cat([background, landmark, landmark, landmark], dim=1)

    path = model_dir / "test_ts.pt"
    torch.jit.script(Spot()).save(str(path))
    card = json.loads((model_dir / "test_lax.json").read_text())
    card.update(name="test_ts", format="torchscript", file=path.name,
                sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    (model_dir / "test_ts.json").write_text(json.dumps(card))
    model = load_model(model_dir / "test_ts.json")
    batch = np.full((1, 1, 64, 48), 0.95, dtype=np.float32)
    batch[0, 0, 40, 7] = 2.0
    probabilities = model.predict(batch)
    assert probabilities.shape == (1, 4, 64, 48) and model.providers == ["torch:cpu"]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.unravel_index(probabilities[0, 1].argmax(), (64, 48)) == (40, 7)


def test_a_quantised_card_runs_its_file_on_the_cpu_and_its_float_model_on_a_gpu(model_dir):
    make_test_model(model_dir, name="float_lax", view_family="lax", input_size=(64, 48))
    float_sha = hashlib.sha256((model_dir / "float_lax.onnx").read_bytes()).hexdigest()
    path = edit_card(model_dir, "test_lax", quantized={"float_file": "float_lax.onnx", "float_sha256": float_sha})
    card = ModelCard.from_json(path)
    assert (card.float_file, card.float_sha256) == ("float_lax.onnx", float_sha)
    assert load_model(path).file == "test_lax.onnx"
    clear_model_cache()
    assert load_model(path, device="cuda").file == "float_lax.onnx"  # on this CPU machine it falls back to the CPU
    clear_model_cache()
    with (model_dir / "float_lax.onnx").open("ab") as handle:
        handle.write(b"changed")
    assert load_model(path).file == "test_lax.onnx"  # the CPU never reads the float file
    clear_model_cache()
    with pytest.raises(ModelError, match="does not match"):
        load_model(path, device="cuda")
    for bad in ({"float_file": "float_lax.onnx"}, {"float_file": "", "float_sha256": float_sha}, "float_lax.onnx"):
        edit_card(model_dir, "test_lax", quantized=bad)
        with pytest.raises(ModelError, match="quantized must name its float_file"):
            ModelCard.from_json(path)
