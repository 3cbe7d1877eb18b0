"""Ensemble export: one ONNX model whose probabilities are the mean of its members'."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training toolkit needs torch (pip install 'inline-ai[train]')")

from inline_ai.training.ensemble import ProbabilityEnsemble, export_ensemble, main  # noqa: E402
from inline_ai.training.unet import UNet  # noqa: E402

CHANNELS = ["background", "anterior_rv_insertion", "inferior_rv_insertion", "lv_centre"]


def _checkpoint(path, seed: int, **changes) -> str:
    torch.manual_seed(seed)
    meta = {"name": "tiny_sax", "view_family": "sax", "views": ["sax"], "sequence": "cine", "input_size": [32, 32],
            "pixel_size_mm": 4.0, "channels": CHANNELS, "depth": 2, "base_channels": 4, "sigma_mm": 4.0,
            "threshold": 0.3, "context_slices": 0, "crop": "", "mask_rule": "", "seed": seed,
            "trained_on": "synthetic: random weights (test)", "validated_on": "none (test)",
            "training_command": f"test seed {seed}"}
    meta.update(changes)
    model = UNet(len(CHANNELS), meta["depth"], meta["base_channels"])
    torch.save({"model": model.state_dict(), "metadata": meta}, path)
    return str(path)


def test_ensemble_output_softmax_is_the_members_mean_probability():
    torch.manual_seed(0)
    members = [UNet(4, 2, 4).eval() for _ in range(3)]
    with torch.no_grad():  # random weights far enough apart that the members disagree clearly
        for member in members:
            for parameter in member.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
    image = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        expected = torch.stack([torch.softmax(m(image), dim=1) for m in members]).mean(dim=0)
        got = torch.softmax(ProbabilityEnsemble(members)(image), dim=1)
        single = torch.softmax(members[0](image), dim=1)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
    assert float((single - expected).abs().max()) > 1e-3  # the members differ, so the mean is not one of them
    with pytest.raises(ValueError, match="at least one"):
        ProbabilityEnsemble([])


def test_exported_ensemble_runs_in_the_runtime_as_the_mean_of_its_members(tmp_path):
    from inline_ai.runtime import load_model
    from inline_ai.training.export import export_model

    checkpoints = [_checkpoint(tmp_path / f"m{seed}.pt", seed) for seed in (0, 1)]
    card_path = export_ensemble(checkpoints, tmp_path / "ens", "tiny_ens", training_command="two seeds (test)")
    card = json.loads(card_path.read_text())
    assert card["output"] == "logits" and card["channels"] == CHANNELS
    assert [m["seed"] for m in card["ensemble"]["members"]] == [0, 1]
    assert card["architecture"]["type"] == "ensemble of 2 unet"
    assert card["architecture"]["parameters"] == 2 * card["ensemble"]["members"][0]["parameters"]
    assert card["training_command"] == "two seeds (test)"
    assert card["export_parity"]["onnx_max_abs_diff"] <= 1e-4
    singles = [load_model(export_model(path, tmp_path / f"single{i}", f"single{i}"))
               for i, path in enumerate(checkpoints)]
    batch = np.random.default_rng(1).uniform(0, 1.5, (2, 1, 32, 32)).astype(np.float32)
    mean = np.mean([model.predict(batch) for model in singles], axis=0)
    np.testing.assert_allclose(load_model(card_path).predict(batch), mean, atol=1e-5)


def test_members_of_different_recipes_are_refused(tmp_path):
    first = _checkpoint(tmp_path / "a.pt", 0)
    other = _checkpoint(tmp_path / "b.pt", 1, pixel_size_mm=2.0)
    with pytest.raises(ValueError, match="pixel_size_mm"):
        export_ensemble([first, other], tmp_path / "out")
    assert main([first, other, "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out" / "tiny_sax.onnx").exists()


def test_members_trained_with_other_data_texts_are_refused(tmp_path):
    first = _checkpoint(tmp_path / "a.pt", 0)
    other = _checkpoint(tmp_path / "b.pt", 1, validated_on="another split (test)")
    with pytest.raises(ValueError, match="validated_on"):
        export_ensemble([first, other], tmp_path / "out")
