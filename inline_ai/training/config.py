"""Training configuration, read from YAML (``config/training/NAME.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inline_ai.crop import CROP_KINDS, CROP_LANDMARKS
from inline_ai.display import DISPLAYS
from inline_ai.landmarks import landmark_names
from inline_ai.mask_landmarks import MASK_CLASSES, MASK_RULE_CROPS, MASK_RULE_VIEWS, MASK_RULES
from inline_ai.paths import REPO_DIR
from inline_ai.training.augment import AugmentSettings

LR_SCHEDULES = ("plateau", "cosine")
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class DataSource:
    """One training source: a landmark dataset directory, a prepared ``.npz``, or phantom cases.

    ``phantom`` (see ``inline_ai.training.phantom_source.phantom_jobs``) makes the cases in ``path``
    (cases already there are reused). ``prepared`` names a
    compact ``.npz`` cache of the resampled images: used when it exists (and matches the config),
    written after the first preparation otherwise; it lets a training machine run without the raw data.
    ``standard_handedness`` flips the images of cases whose file says ``mirrored`` (the phantom's mirrored
    displays) left-right back after preparing or loading (the cache stays as prepared): every image then has
    the standard display's handedness, so anterior and inferior RV insertion differ by position alone.
    """

    path: Path
    weight: float = 1.0
    kind: str = "real"  # real | synthetic
    views: list[str] | None = None
    phantom: dict[str, Any] | None = None
    use_for_validation: bool = True
    prepared: Path | None = None
    standard_handedness: bool = False


@dataclass
class TrainingConfig:
    """Everything one training run needs; see ``config/training/*.yaml`` for annotated examples."""

    name: str
    view_family: str
    views: list[str]
    sequence: str
    sources: list[DataSource]
    input_size: tuple[int, int] = (128, 128)
    pixel_size_mm: float = 2.0
    work_margin: int = 16
    sigma_mm: float = 4.0
    depth: int = 4
    base_channels: int = 16
    background_prior: float = 0.99
    batch_size: int = 16
    epochs: int = 60
    steps_per_epoch: int | None = None
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    lr_schedule: str = "plateau"  # "plateau": halve on a validation plateau; "cosine": cosine decay to min_lr
    # over the configured epochs (a fixed, short budget)
    plateau_patience: int = 5
    plateau_factor: float = 0.5
    min_lr: float = 1e-5
    kl_weight: float = 0.01
    dice_weight: float = 1.0
    stratify_views: bool = True
    val_patients: list[str] = field(default_factory=list)
    val_pattern: str | None = None
    val_fraction: float = 0.15
    split_seed: int = 0
    val_max_images: int = 600  # validate each epoch on at most this many (seeded) validation images
    train_fraction: float = 1.0  # train on this share of the training patients, evenly spaced in id order
    # (inline_ai.training.data.evenly_spaced; a learning curve: how much would more patients help?)
    threshold: float = 0.3
    context_slices: int = 0  # 1: the neighbouring slices of the stack are input channels (inline_ai.context)
    context_dropout: float = 0.1  # training: chance that each neighbour is blanked (lone images, stack ends)
    crop: str = ""  # "lv_axis" / "sax_axis": a refinement model trained on axis crops (inline_ai.crop)
    mask_rule: str = ""  # "sax" / "lax": the model learns label masks; its points come from a rule (MASK_RULES)
    crop_incomplete: bool = False  # mask models: also crop images lacking a landmark (placed by a stack neighbour)
    display: str = "any"  # "standard": learns the standard SAX display only (inline_ai.display): no flips, and
    # every source's mirrored cases flipped back (standard_handedness); the card tells the runtime
    init_from: Path | None = None
    seed: int = 0
    precision: str = "auto"  # "auto": bf16 autocast on CUDA, fp32 on CPU; "bf16": bf16 autocast on any device
    # (on a CPU with AVX512-BF16 or AMX about twice as fast; channels-last memory there); "fp32": no autocast
    ema_decay: float | None = None  # keep an exponential moving average of the weights (per step) and
    # validate / export it instead of the raw weights (torch.optim.swa_utils); None = off
    augment: AugmentSettings = field(default_factory=AugmentSettings)
    trained_on: str = ""
    validated_on: str = ""
    config_path: Path | None = None
    overrides: list[str] = field(default_factory=list)  # command-line --set KEY=VALUE, kept for the card

    @property
    def landmark_names(self) -> tuple[str, ...]:
        return landmark_names(self.view_family)

    @property
    def channels(self) -> list[str]:
        """Output channels: background and the landmarks' heat maps, or the mask classes."""
        return list(MASK_CLASSES) if self.mask_rule else ["background", *self.landmark_names]

    @property
    def work_size(self) -> tuple[int, int]:
        return (self.input_size[0] + 2 * self.work_margin, self.input_size[1] + 2 * self.work_margin)

    @property
    def training_command(self) -> str:
        shown = self.config_path
        if shown is not None:
            try:
                shown = shown.resolve().relative_to(REPO_DIR)
            except ValueError:
                pass
        command = f"inline-ai train {shown}" if shown else "inline-ai train CONFIG"
        return " ".join([command, *(f"--set {item}" for item in self.overrides)])


def _resolve(path: str | Path, base: Path) -> Path:
    path = Path(str(path))
    return path if path.is_absolute() else (base / path)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainingConfig:
    """Read a YAML config; relative data paths are taken from the project root. Bad keys raise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config not found: {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a training config is a YAML mapping")
    raw.update(overrides or {})
    return config_from_dict(raw, config_path=path)


def config_from_dict(raw: dict[str, Any], config_path: Path | None = None) -> TrainingConfig:
    """Build a config from a mapping (as read from YAML)."""
    raw = dict(raw)
    for key in ("name", "view_family", "sources"):
        if key not in raw:
            raise ValueError(f"training config needs '{key}'")
    base = REPO_DIR
    sources = []
    for entry in raw.pop("sources"):
        entry = dict(entry)
        if "path" not in entry:
            raise ValueError(f"each source needs a 'path': {entry}")
        entry["path"] = _resolve(entry["path"], base)
        if entry.get("prepared"):
            entry["prepared"] = _resolve(entry["prepared"], base)
        unknown = set(entry) - set(DataSource.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown source keys {sorted(unknown)}")
        sources.append(DataSource(**entry))
    augment = AugmentSettings.from_dict(raw.pop("augment", None))
    known = set(TrainingConfig.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"unknown training config keys {unknown}")
    for key in ("input_size", "betas"):
        if key in raw:
            raw[key] = tuple(raw[key])
    for key, spec in TrainingConfig.__dataclass_fields__.items():  # YAML reads 1e-5 (no dot) as a string
        if spec.type in ("float", "float | None") and isinstance(raw.get(key), str):
            try:
                raw[key] = float(raw[key])
            except ValueError:
                raise ValueError(f"{key} must be a number, got {raw[key]!r}") from None
    if raw.get("init_from"):
        raw["init_from"] = _resolve(raw["init_from"], base)
    raw.setdefault("views", ["sax"] if raw["view_family"] == "sax" else ["ch2", "ch3", "ch4"])
    raw.setdefault("sequence", "cine")
    config = TrainingConfig(sources=sources, augment=augment, config_path=config_path, **raw)
    if not 0.0 < float(config.train_fraction) <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {config.train_fraction}")
    if config.ema_decay is not None and not 0.0 < float(config.ema_decay) < 1.0:
        raise ValueError(f"ema_decay must be in (0, 1) or null, got {config.ema_decay}")
    if config.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {config.precision!r}")
    if config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {config.lr_schedule!r}")
    if config.context_slices not in (0, 1):
        raise ValueError(f"context_slices must be 0 or 1, got {config.context_slices}")
    if not 0.0 <= config.context_dropout <= 1.0:
        raise ValueError(f"context_dropout must be in [0, 1], got {config.context_dropout}")
    if config.crop not in CROP_KINDS:
        raise ValueError(f"crop must be one of {CROP_KINDS}, got {config.crop!r}")
    if config.crop and not set(CROP_LANDMARKS[config.crop]) <= set(config.landmark_names):
        raise ValueError(f"a {config.crop} crop needs the landmarks {list(CROP_LANDMARKS[config.crop])}, "
                         f"a {config.view_family} model has {list(config.landmark_names)}")
    if config.mask_rule not in MASK_RULES:
        raise ValueError(f"mask_rule must be one of {MASK_RULES}, got {config.mask_rule!r}")
    if config.mask_rule and config.view_family != MASK_RULE_VIEWS[config.mask_rule]:
        raise ValueError(f"mask_rule {config.mask_rule!r} needs view_family: {MASK_RULE_VIEWS[config.mask_rule]}")
    if config.mask_rule and config.crop not in MASK_RULE_CROPS[config.mask_rule]:
        raise ValueError(f"mask_rule {config.mask_rule!r} reads crops {list(MASK_RULE_CROPS[config.mask_rule])} "
                         f"('' = the whole image), not {config.crop!r}")
    if config.display not in DISPLAYS:
        raise ValueError(f"display must be one of {DISPLAYS}, got {config.display!r}")
    if config.display == "standard" and (config.augment.flip_lr_p or config.augment.flip_ud_p or not all(
            s.standard_handedness for s in config.sources if s.kind == "synthetic")):
        raise ValueError("display 'standard' needs flip_lr_p and flip_ud_p 0 (a flip mirrors the display) and "
                         "standard_handedness on every synthetic source (the phantom writes both displays; "
                         "a real source must already be in the standard display, as ACDC is)")
    if config.crop_incomplete and not (config.mask_rule and config.crop):
        raise ValueError("crop_incomplete needs a mask model on crops (mask_rule and crop)")
    multiple = 2 ** (config.depth - 1)
    if any(size % multiple for size in config.input_size):
        raise ValueError(f"input_size {config.input_size} must be a multiple of {multiple} for depth {config.depth}")
    return config
