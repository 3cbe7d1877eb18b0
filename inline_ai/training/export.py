"""Export a trained checkpoint to ONNX (dynamic batch) and TorchScript, check parity, write the model card."""

from __future__ import annotations

import datetime
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inline_ai.context import input_channels as channels_for
from inline_ai.training.unet import UNet

PARITY_TOLERANCE = 1e-4  # largest allowed difference of softmax probabilities


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_from_checkpoint(checkpoint: str | Path | dict[str, Any]) -> tuple[UNet, dict[str, Any]]:
    """Rebuild the U-Net of a checkpoint (eval mode, CPU) and return it with its metadata."""
    if isinstance(checkpoint, dict):
        state = checkpoint
    else:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if "metadata" not in state or "model" not in state:
        where = "the checkpoint given" if isinstance(checkpoint, dict) else checkpoint
        raise ValueError(f"{where}: not a training checkpoint (needs 'model' and 'metadata')")
    meta = state["metadata"]
    model = UNet(len(meta["channels"]), meta["depth"], meta["base_channels"], in_channels=input_channels(meta))
    model.load_state_dict(state["model"])
    return model.eval(), meta


def input_channels(meta: dict[str, Any]) -> int:
    """Input channels of a checkpoint's network: the image plus any neighbouring slices."""
    return channels_for(meta.get("context_slices", 0))


def json_safe(value: Any) -> Any:
    """Replace NaN / inf by None (strict JSON) in nested dicts and lists; numpy scalars become Python."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _probabilities(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def export_onnx(model: torch.nn.Module, path: Path, input_size: tuple[int, int], channels: int = 1) -> None:
    """Write ONNX with input ``image [N, I, H, W]`` and output ``logits [N, C, H, W]``, batch dynamic."""
    example = torch.zeros(1, channels, *input_size)
    with warnings.catch_warnings():  # the TorchScript-based exporter is deprecated but exact and dependency-free
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model, (example,), str(path), input_names=["image"], output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False,
        )


def parity_check(model: torch.nn.Module, onnx_path: Path, script_path: Path, input_size: tuple[int, int],
                 seed: int = 0, channels: int = 1) -> dict[str, float]:
    """Largest probability difference of ONNX Runtime and TorchScript against eager PyTorch (batch of 3)."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    batch = rng.uniform(0, 1.5, size=(3, channels, *input_size)).astype(np.float32)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        reference = torch.softmax(model(torch.from_numpy(batch)), dim=1).numpy()
        scripted = torch.jit.load(str(script_path))
        script_probs = torch.softmax(scripted(torch.from_numpy(batch)), dim=1).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_probs = _probabilities(session.run(None, {"image": batch})[0])
    result = {"onnx_max_abs_diff": float(np.abs(onnx_probs - reference).max()),
              "torchscript_max_abs_diff": float(np.abs(script_probs - reference).max())}
    worst = max(result.values())
    if worst > PARITY_TOLERANCE:
        raise RuntimeError(f"export parity failed: probabilities differ by {worst:.2e} > {PARITY_TOLERANCE}")
    return result


def export_model(checkpoint: str | Path | dict[str, Any], out_dir: str | Path, name: str | None = None,
                 metrics: dict[str, Any] | None = None, thresholds: dict[str, float] | None = None,
                 extra_card: dict[str, Any] | None = None) -> Path:
    """Export ``NAME.onnx`` + ``NAME.pt`` (TorchScript) + card ``NAME.json`` into ``out_dir``; returns the card path."""
    model, meta = model_from_checkpoint(checkpoint)
    return export_network(model, meta, out_dir, name, metrics, thresholds, extra_card)


def export_network(model: torch.nn.Module, meta: dict[str, Any], out_dir: str | Path, name: str | None = None,
                   metrics: dict[str, Any] | None = None, thresholds: dict[str, float] | None = None,
                   extra_card: dict[str, Any] | None = None) -> Path:
    """Export a network (eval mode, CPU) with a checkpoint's ``meta`` as :func:`export_model` does."""
    name = name or meta["name"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    input_size = tuple(meta["input_size"])
    onnx_path, script_path = out_dir / f"{name}.onnx", out_dir / f"{name}.pt"
    channels = input_channels(meta)
    export_onnx(model, onnx_path, input_size, channels)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.trace(model, torch.zeros(1, channels, *input_size)).save(str(script_path))
    parity = parity_check(model, onnx_path, script_path, input_size, channels=channels)
    card: dict[str, Any] = {
        "name": name,
        "format": "onnx",
        "file": onnx_path.name,
        "sha256": sha256_of(onnx_path),
        "view_family": meta["view_family"],
        "views": list(meta["views"]),
        "sequence": meta["sequence"],
        "input_size": list(input_size),
        "pixel_size_mm": float(meta["pixel_size_mm"]),
        "channels": list(meta["channels"]),
        "context_slices": int(meta.get("context_slices", 0)),
        "crop": str(meta.get("crop", "")),
        **({"mask_rule": str(meta["mask_rule"])} if meta.get("mask_rule") else {}),
        **({"display": str(meta["display"])} if meta.get("display", "any") != "any" else {}),
        "output": "logits",
        "normalisation": "percentile_99.5",
        "threshold": float(meta["threshold"]),
        "thresholds": dict(thresholds or {}),
        "trained_on": meta["trained_on"],
        "validated_on": meta["validated_on"],
        "training_command": meta["training_command"],
        "metrics": dict(metrics or {}),
        "created": datetime.date.today().isoformat(),
        "torchscript": {"file": script_path.name, "sha256": sha256_of(script_path)},
        "architecture": {"type": "unet", "depth": meta["depth"], "base_channels": meta["base_channels"],
                         "parameters": sum(p.numel() for p in model.parameters())},
        "heatmap_sigma_mm": meta["sigma_mm"],
        "export_parity": parity,
    }
    card.update(extra_card or {})
    card_path = out_dir / f"{name}.json"
    card_path.write_text(json.dumps(json_safe(card), indent=2, allow_nan=False) + "\n")
    return card_path
