"""Model cards and inference sessions (ONNX Runtime, or TorchScript when torch is installed).

A model is ``NAME.onnx`` (or ``NAME.pt``) with a JSON card ``NAME.json`` beside it; the card keys
are listed in ``docs/architecture.md``. Models are loaded once per process: :func:`load_model`
caches them by resolved card path, device and thread count.
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inline_ai.context import input_channels
from inline_ai.crop import CROP_KINDS
from inline_ai.display import DISPLAYS
from inline_ai.landmarks import landmark_names
from inline_ai.mask_landmarks import MASK_CLASSES, MASK_RULE_CROPS, MASK_RULE_VIEWS, MASK_RULES
from inline_ai.paths import models_dir
from inline_ai.points import DEFAULT_SIGMA_PX

REQUIRED_CARD_KEYS: tuple[str, ...] = (
    "name", "format", "file", "sha256", "view_family", "views", "sequence", "input_size",
    "pixel_size_mm", "channels", "output", "normalisation", "threshold", "trained_on",
    "validated_on", "training_command", "metrics", "created",
)
FORMATS = ("onnx", "torchscript")
OUTPUTS = ("logits", "probabilities")
NORMALISATIONS = ("percentile_99.5",)
COMBINE_MODES = ("replace", "average")
MAX_REFINEMENTS = 3  # second looks one card may chain through refine_with
CHUNK_IMAGES = 16  # images per inference call: larger batches ran slower on 2 cores (cache) and cost memory
DEFAULT_THREADS = 2


class ModelError(RuntimeError):
    """A model or its card cannot be used (missing, corrupt, inconsistent)."""


@dataclass(frozen=True)
class ModelCard:
    """The validated contents of a model card (see ``docs/architecture.md``)."""

    name: str
    format: str
    file: str
    sha256: str
    view_family: str
    views: tuple[str, ...]
    sequence: str
    input_size: tuple[int, int]
    pixel_size_mm: float
    channels: tuple[str, ...]
    output: str
    normalisation: str
    threshold: float
    trained_on: str
    validated_on: str
    training_command: str
    metrics: dict[str, Any]
    created: str
    thresholds: dict[str, float] = field(default_factory=dict)
    context_slices: int = 0  # neighbouring slices on each side given as extra input channels (inline_ai.context)
    crop: str = ""  # "" = the whole image; "lv_axis" / "sax_axis" = a refinement model's axis crop (inline_ai.crop)
    refine_with: str = ""  # card of a refinement model (relative to this card's folder) that looks again
    mask_rule: str = ""  # "sax" / "lax": the channels are label-mask classes; points come from a rule (MASK_RULES)
    combine: str = "replace"  # a refinement's points replace the incoming ones, or "average" with them
    heatmap_sigma_mm: float | None = None  # the training targets' Gaussian sigma (sizes the point-reading window)
    display: str = "any"  # "standard": trained on the standard SAX display only; mirrored images are flipped for it
    mirror_average: bool = False  # an axis-crop heat-map refinement also reads the crop mirrored across its axis
    float_file: str = ""  # a quantised card's float model (card block ``quantized``), run on a GPU instead
    float_sha256: str = ""
    path: Path | None = None  # the card file, when read from disk

    @property
    def input_channels(self) -> int:
        """Input channels: the image, plus its neighbours on both sides for a context model."""
        return input_channels(self.context_slices)

    @property
    def landmark_names(self) -> tuple[str, ...]:
        """The landmarks the model finds: its output channels other than ``background``, in channel order,
        or for a mask model the landmarks its rule reads off the mask."""
        if self.mask_rule:
            return landmark_names(self.view_family)
        return tuple(c for c in self.channels if c != "background")

    def _beside(self, name: str) -> Path:
        """A file named in the card, resolved relative to the card's folder."""
        base = self.path.parent if self.path is not None else Path.cwd()
        return (base / name).resolve()

    @property
    def model_path(self) -> Path:
        """The model file, resolved relative to the card's folder."""
        return self._beside(self.file)

    @property
    def refiner_path(self) -> Path | None:
        """The refinement model's card (``refine_with``), resolved relative to this card's folder."""
        return self._beside(self.refine_with) if self.refine_with else None

    def verified_model_path(self, float_model: bool = False) -> Path:
        """The model file, after checking it exists and matches the card's sha256 (else ``ModelError``); with
        ``float_model``, a quantised card's float file (its ``quantized`` block) instead, where it names one."""
        name, expected = (self.float_file, self.float_sha256) if float_model and self.float_file else (
            self.file, self.sha256)
        path = self._beside(name)
        if not path.is_file():
            raise ModelError(f"model file not found: {path.name} named by the card is missing ({path})")
        actual = file_sha256(path)
        if actual != expected:
            raise ModelError(f"{path}: sha256 {actual} does not match the card's {expected}; "
                             "the model file was changed or the card is stale")
        return path

    @property
    def heatmap_sigma_px(self) -> float:
        """The heat maps' sigma in model pixels (:data:`inline_ai.points.DEFAULT_SIGMA_PX` when the card omits it)."""
        if self.heatmap_sigma_mm is None:
            return DEFAULT_SIGMA_PX
        return self.heatmap_sigma_mm / self.pixel_size_mm

    def threshold_for(self, landmark: str) -> float:
        """Presence threshold of one landmark (``thresholds`` overrides ``threshold``)."""
        return float(self.thresholds.get(landmark, self.threshold))

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> ModelCard:
        """Validate a card dict; raise :class:`ModelError` naming every problem."""
        where = str(path) if path else "model card"
        if not isinstance(data, dict):
            raise ModelError(f"{where}: a model card must be a JSON object")
        missing = [key for key in REQUIRED_CARD_KEYS if key not in data]
        if missing:
            raise ModelError(f"{where}: missing required keys {missing}")
        problems = []
        if data["format"] not in FORMATS:
            problems.append(f"format must be one of {FORMATS}, got {data['format']!r}")
        if data["output"] not in OUTPUTS:
            problems.append(f"output must be one of {OUTPUTS}, got {data['output']!r}")
        if data["normalisation"] not in NORMALISATIONS:
            problems.append(f"normalisation must be one of {NORMALISATIONS}, got {data['normalisation']!r}")
        if data["view_family"] not in ("sax", "lax"):
            problems.append(f"view_family must be 'sax' or 'lax', got {data['view_family']!r}")
        size = data["input_size"]
        if (not isinstance(size, (list, tuple)) or len(size) != 2
                or not all(isinstance(v, int) and v > 0 for v in size)):
            problems.append(f"input_size must be two positive integers [H, W], got {size!r}")
        channels = data["channels"]
        if (not isinstance(channels, (list, tuple)) or "background" not in channels
                or len(channels) < 2 or len(set(channels)) != len(channels)):
            problems.append(f"channels must list unique names including 'background', got {channels!r}")
        try:
            if float(data["pixel_size_mm"]) <= 0:
                problems.append("pixel_size_mm must be positive")
            float(data["threshold"])
            thresholds = {str(k): float(v) for k, v in (data.get("thresholds") or {}).items()}
        except (TypeError, ValueError) as error:
            problems.append(f"pixel_size_mm / threshold / thresholds must be numbers ({error})")
            thresholds = {}
        context = data.get("context_slices", 0)
        if context not in (0, 1) or isinstance(context, bool):
            problems.append(f"context_slices must be 0 or 1, got {context!r}")
        crop, refine_with = data.get("crop", ""), data.get("refine_with", "")
        if crop not in CROP_KINDS:
            problems.append(f"crop must be one of {CROP_KINDS}, got {crop!r}")
        if not isinstance(refine_with, str):
            problems.append(f"refine_with must be a card file name, got {refine_with!r}")
        combine = data.get("combine", "replace")
        if combine not in COMBINE_MODES:
            problems.append(f"combine must be one of {COMBINE_MODES}, got {combine!r}")
        mask_rule = data.get("mask_rule", "")
        if mask_rule not in MASK_RULES:
            problems.append(f"mask_rule must be one of {MASK_RULES}, got {mask_rule!r}")
        elif mask_rule and (tuple(channels if isinstance(channels, (list, tuple)) else ()) != MASK_CLASSES
                            or data["view_family"] != MASK_RULE_VIEWS[mask_rule]
                            or crop not in MASK_RULE_CROPS[mask_rule]):
            crops = " or ".join(repr(c) if c else "the whole image" for c in MASK_RULE_CROPS[mask_rule])
            problems.append(f"a mask model (mask_rule {mask_rule!r}) is a {MASK_RULE_VIEWS[mask_rule]} refinement "
                            f"model (crop {crops}) with channels {list(MASK_CLASSES)}")
        unknown = set(thresholds) - set(channels if isinstance(channels, (list, tuple)) else [])
        if unknown:
            problems.append(f"thresholds name unknown channels {sorted(unknown)}")
        sigma = data.get("heatmap_sigma_mm")
        if sigma is not None and (isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0):
            problems.append(f"heatmap_sigma_mm must be a positive number, got {sigma!r}")
        display = data.get("display", "any")
        if display not in DISPLAYS:
            problems.append(f"display must be one of {DISPLAYS}, got {display!r}")
        elif display == "standard" and (data["view_family"] != "sax" or crop or mask_rule):
            problems.append("display 'standard' is for a whole-image short-axis heat-map model (the chain's first)")
        mirror_average = data.get("mirror_average", False)
        if not isinstance(mirror_average, bool):
            problems.append(f"mirror_average must be true or false, got {mirror_average!r}")
        elif mirror_average and (not crop or mask_rule):
            problems.append("mirror_average is for a heat-map refinement model on an axis crop (no mask_rule)")
        quantized = data.get("quantized") or {}
        if not isinstance(quantized, dict) or (quantized and not (
                isinstance(quantized.get("float_file"), str) and quantized["float_file"]
                and isinstance(quantized.get("float_sha256"), str) and len(quantized["float_sha256"]) == 64)):
            problems.append("quantized must name its float_file and that file's float_sha256 (64 hex digits)")
            quantized = {}
        if problems:
            raise ModelError(f"{where}: invalid card: " + "; ".join(problems))
        return cls(
            name=str(data["name"]), format=str(data["format"]), file=str(data["file"]),
            sha256=str(data["sha256"]).lower(), view_family=str(data["view_family"]),
            views=tuple(str(v) for v in data["views"]), sequence=str(data["sequence"]),
            input_size=(int(size[0]), int(size[1])), pixel_size_mm=float(data["pixel_size_mm"]),
            channels=tuple(str(c) for c in channels), output=str(data["output"]),
            normalisation=str(data["normalisation"]), threshold=float(data["threshold"]),
            trained_on=str(data["trained_on"]), validated_on=str(data["validated_on"]),
            training_command=str(data["training_command"]), metrics=dict(data["metrics"] or {}),
            created=str(data["created"]), thresholds=thresholds, context_slices=int(context),
            crop=str(crop), refine_with=str(refine_with), mask_rule=str(mask_rule), combine=str(combine),
            heatmap_sigma_mm=None if sigma is None else float(sigma), display=str(display),
            mirror_average=mirror_average, float_file=str(quantized.get("float_file", "")),
            float_sha256=str(quantized.get("float_sha256", "")).lower(), path=path,
        )

    @classmethod
    def from_json(cls, path: str | Path) -> ModelCard:
        """Read and validate a card file."""
        path = Path(path).resolve()
        if not path.is_file():
            raise ModelError(f"model card not found: {path}")
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ModelError(f"{path}: cannot read model card ({error})") from error
        return cls.from_dict(data, path)


def refinement_chain(card: ModelCard, start: Path | None = None) -> list[Path]:
    """The refinement cards a model's points go through, in order: ``start`` (default the card's own
    ``refine_with``), then each refinement card's ``refine_with``. Raises :class:`ModelError` on a loop,
    a missing card, or more than :data:`MAX_REFINEMENTS` stages."""
    chain: list[Path] = []
    path = start if start is not None else card.refiner_path
    while path is not None:
        if path in chain or (card.path is not None and path == card.path):
            raise ModelError(f"{card.name}: the refine_with chain loops back to {path.name}")
        if len(chain) == MAX_REFINEMENTS:
            raise ModelError(f"{card.name}: more than {MAX_REFINEMENTS} refinement models chained by refine_with")
        chain.append(path)
        path = ModelCard.from_json(path).refiner_path
    return chain


def resolve_model(name_or_path: str | Path) -> Path:
    """The card path of a model given as a card/model file path or as a name in ``models_dir()``.

    ``lax_cine`` -> ``models_dir()/lax_cine.json``; ``some/dir/x.onnx`` -> ``some/dir/x.json``.
    """
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    if candidate.suffix in (".json", ".onnx", ".pt") or candidate.parent != Path("."):
        card = candidate.with_suffix(".json")
        if not card.is_file():
            raise ModelError(f"model card not found: {card} (from {text!r})")
        return card.resolve()
    card = models_dir() / f"{text}.json"
    if not card.is_file():
        available = sorted(p.stem for p in models_dir().glob("*.json")) if models_dir().is_dir() else []
        raise ModelError(f"no model named {text!r} in {models_dir()} (available: {available or 'none'})")
    return card.resolve()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """Numerically stable softmax (float32)."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


class LandmarkModel:
    """A loaded model: ``predict`` maps ``[N, I, H, W]`` float32 to probabilities ``[N, C, H, W]``."""

    def __init__(self, card: ModelCard, device: str = "cpu", threads: int = DEFAULT_THREADS):
        self.card = card
        self.device = device
        self.threads = int(threads)
        # int8 is a CPU speed-up (ONNX Runtime's int8 kernels); a GPU runs a quantised card's float model
        path = card.verified_model_path(float_model=device == "cuda")
        self.file = path.name
        self._run = self._load_onnx(path) if card.format == "onnx" else self._load_torchscript(path)

    @property
    def landmark_names(self) -> tuple[str, ...]:
        return self.card.landmark_names

    def _load_onnx(self, path: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if self.device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as error:  # onnxruntime raises several private exception types
            raise ModelError(f"{path}: ONNX Runtime cannot load the model ({error})") from error
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelError(f"{path}: expected one input and one output, got {len(inputs)} / {len(outputs)}")
        self._check_static_shape(path, "input", inputs[0].shape, (self.card.input_channels, *self.card.input_size))
        self._check_static_shape(path, "output", outputs[0].shape,
                                 (len(self.card.channels), *self.card.input_size))
        input_name, output_name = inputs[0].name, outputs[0].name
        self.providers = session.get_providers()

        def run(batch: np.ndarray) -> np.ndarray:
            return session.run([output_name], {input_name: batch})[0]

        return run

    def _load_torchscript(self, path: Path):
        try:
            import torch
        except ImportError as error:
            raise ModelError(f"{path}: TorchScript model needs torch, which is not installed") from error
        device = "cuda" if self.device == "cuda" and torch.cuda.is_available() else "cpu"
        torch.set_num_threads(self.threads)
        try:
            with warnings.catch_warnings():  # torch >= 2.9 marks TorchScript deprecated; it still works
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location=device).eval()
        except Exception as error:
            raise ModelError(f"{path}: cannot load TorchScript model ({error})") from error
        self.providers = [f"torch:{device}"]

        def run(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return module(torch.from_numpy(batch).to(device)).float().cpu().numpy()

        return run

    def _check_static_shape(self, path: Path, what: str, shape: list, expected: tuple[int, ...]) -> None:
        dims = list(shape)[1:]
        if len(dims) != len(expected):
            raise ModelError(f"{path}: {what} has rank {len(shape)}, expected 4 ([N, C, H, W])")
        for got, want in zip(dims, expected, strict=True):
            if isinstance(got, int) and got != want:
                raise ModelError(f"{path}: {what} shape {shape} does not match the card "
                                 f"(expected [N, {', '.join(map(str, expected))}])")

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``[N, C, H, W]`` for a batch ``[N, I, H, W]`` (``I = card.input_channels``;
        softmax applied to logits)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        expected = (self.card.input_channels, *self.card.input_size)
        if batch.ndim != 4 or batch.shape[1:] != expected:
            raise ModelError(f"model {self.card.name}: batch must be [N, {', '.join(map(str, expected))}], "
                             f"got {list(batch.shape)}")
        output = np.concatenate([np.asarray(self._run(batch[start:start + CHUNK_IMAGES]), dtype=np.float32)
                                 for start in range(0, max(len(batch), 1), CHUNK_IMAGES)])
        if output.shape != (batch.shape[0], len(self.card.channels), *self.card.input_size):
            raise ModelError(f"model {self.card.name}: output shape {list(output.shape)} does not match "
                             f"the card's {len(self.card.channels)} channels and input size")
        return softmax(output) if self.card.output == "logits" else output


_CACHE: dict[tuple[str, str, int], LandmarkModel] = {}
_CACHE_LOCK = threading.Lock()


def load_model(name_or_path: str | Path, device: str = "cpu", threads: int = DEFAULT_THREADS) -> LandmarkModel:
    """Load a model once per process (cached by resolved card path, device and threads)."""
    if device not in ("cpu", "cuda"):
        raise ModelError(f"device must be 'cpu' or 'cuda', got {device!r}")
    card_path = resolve_model(name_or_path)
    key = (str(card_path), device, int(threads))
    with _CACHE_LOCK:
        model = _CACHE.get(key)
        if model is None:
            model = LandmarkModel(ModelCard.from_json(card_path), device=device, threads=threads)
            _CACHE[key] = model
        return model


def clear_model_cache() -> None:
    """Forget loaded models (tests, or after replacing model files)."""
    with _CACHE_LOCK:
        _CACHE.clear()
