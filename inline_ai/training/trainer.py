"""The training loop: data on the device, batched augmentation, KL + Dice, Adam, LR halving on plateau,
best-validation checkpoint, resume, and DDP when started by ``torchrun``."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from inline_ai.apex_rule import farthest_lv_point
from inline_ai.context import input_channels
from inline_ai.mask_landmarks import (
    CONTACT_REACH,
    MASK_CLASSES,
    MIN_CAVITY_PIXELS,
    MIN_RV_PIXELS,
    largest_regions,
    mask_landmarks,
)
from inline_ai.training.augment import AugmentSettings, augment_batch, augment_with_masks
from inline_ai.training.config import TrainingConfig
from inline_ai.training.data import (
    PREPARED_SCALE,
    PreparedSet,
    evenly_spaced,
    mirrored_images,
    prepare_directory,
    split_patients,
    with_standard_handedness,
    write_split,
)
from inline_ai.training.losses import HeatmapLoss
from inline_ai.training.phantom_source import prepare_phantom
from inline_ai.training.sampling import GroupSampler
from inline_ai.training.targets import mask_targets, render_heatmaps, sigma_pixels
from inline_ai.training.unet import UNet, count_parameters

log = logging.getLogger("inline_ai.training")


def uses_bf16(precision: str, device_type: str) -> bool:
    """Whether training runs under bf16 autocast: ``auto`` on CUDA only, ``bf16`` everywhere, ``fp32`` never."""
    return precision == "bf16" or (precision == "auto" and device_type == "cuda")


def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels on this CPU (AVX512-BF16 or AMX)."""
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(probe()) if probe is not None else False


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainingConfig) -> Any:
    """The learning-rate schedule of ``config.lr_schedule``: halving on a plateau of the validation loss, or a
    cosine decay from ``lr`` to ``min_lr`` over the configured epochs (stepped once per epoch)."""
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs), eta_min=config.min_lr)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience, min_lr=config.min_lr)


def step_scheduler(scheduler: Any, loss: float) -> None:
    """One epoch's step: a plateau schedule reads the loss, a fixed one does not."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(loss)
    else:
        scheduler.step()


@dataclass
class Distributed:
    """Rank information; ``world_size == 1`` without ``torchrun``."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str) -> Distributed:
    """Initialise a process group when ``torchrun`` set ``WORLD_SIZE`` > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.startswith("cuda") else "gloo"
    torch.distributed.init_process_group(backend=backend)
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
    return Distributed(rank, local, world)


def pick_device(requested: str) -> str:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is an error."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA device")
    return requested


def _load_prepared(path: Path, config: TrainingConfig, stored: bool = False) -> PreparedSet:
    prepared = PreparedSet.load(path, stored=stored)
    if prepared.pixel_size_mm != config.pixel_size_mm or prepared.images.shape[1:] != config.work_size:
        raise ValueError(f"{path}: prepared at {prepared.pixel_size_mm} mm {prepared.images.shape[1:]}, config "
                         f"needs {config.pixel_size_mm} mm {config.work_size}; delete it to prepare again")
    if prepared.landmark_names != config.landmark_names:
        raise ValueError(f"{path}: landmarks {prepared.landmark_names} != {config.landmark_names}")
    if (prepared.masks is None) == bool(config.mask_rule):
        raise ValueError(f"{path}: prepared {'without' if prepared.masks is None else 'with'} label masks, the config "
                         f"{'needs' if config.mask_rule else 'does not use'} them; delete it to prepare again")
    if prepared.crop != config.crop:
        raise ValueError(f"{path}: prepared with crop {prepared.crop!r}, config needs {config.crop!r}; "
                         "delete it to prepare again")
    return prepared


def load_sources(config: TrainingConfig, workers: int | None = None, stored: bool = False) -> list[PreparedSet]:
    """Prepare every data source (generating phantom cases first where the source says so); with ``stored``
    the sets hold their images in uint8 storage units (:meth:`PreparedSet.stored`), as training does."""
    sets = []
    for source in config.sources:
        cache = source.path if source.path.suffix == ".npz" else source.prepared
        if cache is not None and cache.is_file():
            prepared = _load_prepared(cache, config, stored)
            prepared.kind = source.kind
        elif source.path.suffix == ".npz":
            raise FileNotFoundError(f"prepared set not found: {source.path}")
        else:
            if source.phantom is not None:
                prepared = prepare_phantom(source.path, source.phantom, config.landmark_names, config.pixel_size_mm,
                                           config.work_size, workers, config.crop, bool(config.mask_rule),
                                           config.crop_incomplete)
                prepared.kind = source.kind
            elif not source.path.is_dir():
                raise FileNotFoundError(f"data source not found: {source.path}")
            else:
                prepared = prepare_directory(source.path, config.landmark_names, config.pixel_size_mm,
                                             config.work_size, source.kind, source.views, config.crop,
                                             with_masks=bool(config.mask_rule), crop_incomplete=config.crop_incomplete)
            if cache is not None:
                prepared.save(cache)
            if stored:
                prepared = prepared.stored()
        if source.standard_handedness:
            prepared = with_standard_handedness(prepared, mirrored_images(source.path, prepared.case_ids))
        if source.views is not None:
            prepared = prepared.subset(np.isin(prepared.views, source.views))
        sets.append(prepared)
        log.info("source %s: %d images (%s)", source.path, len(prepared), source.kind)
    return sets


class Trainer:
    """Train one model from a config into ``run_dir`` (checkpoints, log, split)."""

    def __init__(self, config: TrainingConfig, run_dir: str | Path, device: str = "auto",
                 max_minutes: float | None = None, workers: int | None = None, progress: bool = True) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.device = pick_device(device)
        self.dist = setup_distributed(self.device)
        if self.dist.world_size > 1 and self.device == "cuda":
            self.device = f"cuda:{self.dist.local_rank}"
        self.max_minutes = max_minutes
        self.workers = workers
        self.progress = progress and self.dist.is_main
        torch.manual_seed(config.seed + self.dist.rank)
        if self.device.startswith("cuda"):
            torch.backends.cudnn.benchmark = True  # fixed input sizes
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed * 1000 + self.dist.rank)
        self.loss = HeatmapLoss(config.kl_weight, config.dice_weight)
        self.sigma_px = sigma_pixels(config.sigma_mm, config.pixel_size_mm)

    # ----- data -----
    def _build_data(self) -> None:
        config = self.config
        sets = load_sources(config, self.workers, stored=True)  # uint8 in memory; batches become float
        candidates = [s.patient_ids for s, src in zip(sets, config.sources, strict=True) if src.use_for_validation]
        split = split_patients(
            np.concatenate(candidates) if candidates else [], config.val_patients, config.val_pattern,
            config.val_fraction, config.split_seed,
        )
        val_ids = set(split["val"])
        left_out: list[str] = []  # a learning curve: fewer training patients, the same validation ones
        if config.train_fraction < 1.0:
            kept = evenly_spaced(split["train"], config.train_fraction)
            left_out = sorted(set(split["train"]) - set(kept))
            split = {**split, "train": kept, "left_out": left_out}
        train_parts, val_parts, groups, weights, offset = [], [], [], [], 0
        for prepared, source in zip(sets, config.sources, strict=True):
            in_val = np.isin(prepared.patient_ids, list(val_ids))
            train = prepared.subset(~in_val & ~np.isin(prepared.patient_ids, left_out))
            if source.use_for_validation and in_val.any():
                val_parts.append(prepared.subset(in_val))
            train_parts.append(train)
            views = sorted(set(train.views.tolist())) if config.stratify_views else [None]
            for view in views:
                members = np.arange(len(train)) if view is None else np.flatnonzero(train.views == view)
                groups.append(members + offset)
                weights.append(source.weight / len(views))
            offset += len(train)
        self.split = split
        self.train_set = PreparedSet.concatenate(train_parts)
        self.val_set = PreparedSet.concatenate(val_parts) if val_parts else None
        if self.val_set is not None and len(self.val_set) > config.val_max_images:
            rng = np.random.default_rng(config.split_seed)
            keep = rng.choice(len(self.val_set), config.val_max_images, replace=False)
            self.val_set = self.val_set.subset(np.sort(keep))
        self.sampler = GroupSampler(groups, weights, seed=config.seed * 7919 + self.dist.rank)
        self.train_images = with_blank(torch.from_numpy(self.train_set.images).to(self.device))
        self.train_neighbours = blank_indices(self.train_set.neighbours(), len(self.train_set)).to(self.device)
        self.train_points = torch.from_numpy(self.train_set.points).to(self.device)
        self.train_masks = (None if self.train_set.masks is None
                            else torch.from_numpy(self.train_set.masks).to(self.device))
        if self.dist.is_main:
            write_split(self.run_dir / "split.json", split)
            log.info("train %d images (%d patients), val %d images (%d patients)", len(self.train_set),
                     len(split["train"]), 0 if self.val_set is None else len(self.val_set), len(split["val"]))

    def _val_tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Validation inputs, points and targets (centred crops, no augmentation)."""
        assert self.val_set is not None
        images = intensities(with_blank(torch.from_numpy(self.val_set.images).to(self.device)))
        neighbours = blank_indices(self.val_set.neighbours(), len(self.val_set)).to(self.device)
        indices = torch.arange(len(self.val_set), device=self.device)
        images = context_batch(images, neighbours, indices, self.config.context_slices)
        points = torch.from_numpy(self.val_set.points).to(self.device)
        masks = None if self.val_set.masks is None else torch.from_numpy(self.val_set.masks).to(self.device)
        return self._inputs_and_targets(images, points, masks, AugmentSettings(enabled=False))

    def _inputs_and_targets(self, images: torch.Tensor, points: torch.Tensor, masks: torch.Tensor | None,
                            settings: AugmentSettings) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Augment (or centre-crop) a batch; targets are heat maps, or the moved masks for a mask model."""
        size = self.config.input_size
        if self.config.mask_rule:
            assert masks is not None
            one_hot = F.one_hot(masks.long(), len(MASK_CLASSES)).permute(0, 3, 1, 2)
            images, points, moved = augment_with_masks(images, points, one_hot, size, settings, self.generator)
            return images, points, mask_targets(moved)
        images, points = augment_batch(images, points, size, settings, self.generator)
        return images, points, render_heatmaps(points, *size, self.sigma_px)

    # ----- model -----
    def build_model(self) -> UNet:
        config = self.config
        model = UNet(len(config.channels), config.depth, config.base_channels,
                     in_channels=input_channels(config.context_slices), background_prior=config.background_prior)
        if config.init_from is not None:
            state = torch.load(config.init_from, map_location="cpu", weights_only=False)
            model.load_state_dict(state["model"] if "model" in state else state)
            log.info("initialised from %s", config.init_from)
        return model.to(self.device)

    def metadata(self) -> dict[str, Any]:
        """What export needs to rebuild the network and write its card."""
        c = self.config
        return {
            "name": c.name, "view_family": c.view_family, "views": list(c.views), "sequence": c.sequence,
            "input_size": list(c.input_size), "pixel_size_mm": c.pixel_size_mm, "channels": c.channels,
            "depth": c.depth, "base_channels": c.base_channels, "sigma_mm": c.sigma_mm, "threshold": c.threshold,
            "context_slices": c.context_slices, "crop": c.crop, "mask_rule": c.mask_rule,
            "trained_on": c.trained_on, "validated_on": c.validated_on, "training_command": c.training_command,
            "augment": asdict(c.augment), "seed": c.seed, "ema_decay": c.ema_decay, "lr_schedule": c.lr_schedule,
            "precision": c.precision, "display": c.display,
        }

    # ----- loop -----
    def train(self, resume: bool = False) -> dict[str, Any]:
        """Run the whole training; returns the best validation metrics."""
        config = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._build_data()
        model = self.build_model()
        if self.dist.world_size > 1:
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.dist.local_rank] if self.device.startswith("cuda") else None)
        net = model.module if hasattr(model, "module") else model
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas, eps=config.eps)
        scheduler = make_scheduler(optimizer, config)
        # the weights that are validated and kept: the raw network, or a moving average of its weights
        ema = (AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
               if config.ema_decay else None)
        kept = ema.module if ema is not None else net
        start_epoch, best, history = 0, math.inf, []
        last_path, best_path = self.run_dir / "checkpoint_last.pt", self.run_dir / "checkpoint_best.pt"
        if resume and last_path.is_file():
            state = torch.load(last_path, map_location=self.device, weights_only=False)
            net.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if ema is not None and "ema" in state:
                ema.load_state_dict(state["ema"])
            start_epoch, best, history = state["epoch"] + 1, state["best_score"], state["history"]
            log.info("resumed from %s at epoch %d", last_path, start_epoch)
        per_step = config.batch_size * self.dist.world_size
        steps = config.steps_per_epoch or max(1, math.ceil(len(self.train_set) / per_step))
        val = self._val_tensors() if self.val_set is not None else None
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        use_amp = uses_bf16(config.precision, device_type)
        channels_last = use_amp and device_type == "cpu"  # oneDNN's bf16 kernels want NHWC
        if channels_last:
            model.to(memory_format=torch.channels_last)
            if not cpu_has_fast_bf16():
                log.warning("precision bf16 on a CPU without bf16 instructions (AVX512-BF16 / AMX): emulated, "
                            "likely slower than fp32")
        if self.dist.is_main:
            log.info("device %s (%s), %d parameters, %d steps/epoch x %d epochs, batch %d", self.device,
                     "bf16 autocast" if use_amp else "fp32", count_parameters(net), steps, config.epochs,
                     config.batch_size)
        started = time.monotonic()
        best_metrics: dict[str, Any] = {}
        for epoch in range(start_epoch, config.epochs):
            model.train()
            epoch_start, totals = time.monotonic(), {"loss": 0.0, "kl": 0.0, "dice": 0.0}
            bar = tqdm(range(steps), desc=f"{config.name} epoch {epoch + 1}/{config.epochs}", leave=False,
                       disable=not self.progress)
            for _ in bar:
                indices = torch.from_numpy(self.sampler.batch(config.batch_size)).to(self.device)
                inputs = intensities(context_batch(self.train_images, self.train_neighbours, indices,
                                                   config.context_slices, config.context_dropout, self.generator))
                masks = None if self.train_masks is None else self.train_masks[indices]
                images, points, targets = self._inputs_and_targets(inputs, self.train_points[indices], masks,
                                                                   config.augment)
                if channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device_type, dtype=torch.bfloat16, enabled=use_amp):
                    logits = model(images)
                loss, parts = self.loss(logits, targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if ema is not None:
                    ema.update_parameters(net)
                totals["loss"] += float(loss.detach())
                totals["kl"] += parts["kl"]
                totals["dice"] += parts["dice"]
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
            seconds = time.monotonic() - epoch_start
            record = {k: v / steps for k, v in totals.items()}
            record.update(epoch=epoch + 1, lr=optimizer.param_groups[0]["lr"], seconds=round(seconds, 2),
                          images_per_s=round(steps * config.batch_size * self.dist.world_size / seconds, 1))
            if val is not None:
                record.update(validate(kept, *val, self.loss, config.threshold, config.pixel_size_mm, config.mask_rule))
                score = record["val_score"]
                step_scheduler(scheduler, record["val_loss"])
            else:
                score = record["loss"]
                step_scheduler(scheduler, record["loss"])
            history.append(record)
            if self.dist.is_main:
                improved = score < best
                if improved:
                    best, best_metrics = score, dict(record)
                    torch.save({"model": kept.state_dict(), "metadata": self.metadata(), "metrics": best_metrics},
                               best_path)
                torch.save({"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "epoch": epoch, "best_score": best,
                            "history": history, "metadata": self.metadata(),
                            **({"ema": ema.state_dict()} if ema is not None else {})}, last_path)
                with open(self.run_dir / "log.jsonl", "a") as handle:
                    handle.write(json.dumps(record) + "\n")
                log.info("epoch %d %s%s", epoch + 1, " ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items() if k != "epoch"),
                    " *" if improved else "")
            if self.max_minutes is not None and (time.monotonic() - started) / 60 > self.max_minutes:
                log.warning("stopping after epoch %d: time limit of %.1f min reached", epoch + 1, self.max_minutes)
                break
        if self.dist.world_size > 1:
            torch.distributed.barrier()
        if not best_metrics and best_path.is_file():
            best_metrics = torch.load(best_path, map_location="cpu", weights_only=False).get("metrics", {})
        return best_metrics


def intensities(images: torch.Tensor) -> torch.Tensor:
    """Images in uint8 storage units (:data:`PREPARED_SCALE` per unit intensity) as float32 intensities; float
    images pass unchanged."""
    return images.float() / PREPARED_SCALE if images.dtype == torch.uint8 else images


def with_blank(images: torch.Tensor) -> torch.Tensor:
    """``[M, S, T]`` images as ``[M + 1, 1, S, T]``: the last one is blank (a missing neighbour)."""
    return torch.cat([images, images.new_zeros((1, *images.shape[1:]))]).unsqueeze(1)


def blank_indices(neighbours: np.ndarray, count: int) -> torch.Tensor:
    """A neighbour table with ``-1`` (none) replaced by ``count``, the blank image of :func:`with_blank`."""
    return torch.from_numpy(np.where(neighbours < 0, count, neighbours).astype(np.int64))


def context_batch(images: torch.Tensor, neighbours: torch.Tensor, indices: torch.Tensor, context_slices: int,
                  dropout: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """The network input ``[B, 1 + 2 * context_slices, S, T]`` of images ``indices``.

    ``images`` is ``[M + 1, 1, S, T]`` with a blank last image, ``neighbours [M, 2]`` indexes it.
    With a ``generator`` (training) the two neighbours swap places at random (stacks run either way)
    and each is blanked with probability ``dropout`` (lone images and stack ends look like this).
    """
    own = images[indices]
    if context_slices == 0:
        return own
    pairs = neighbours[indices]
    if generator is not None:
        swap = torch.rand(indices.shape[0], generator=generator, device=indices.device) < 0.5
        pairs = torch.where(swap.unsqueeze(1), pairs.flip(1), pairs)
        drop = torch.rand(pairs.shape, generator=generator, device=indices.device) < dropout
        pairs = torch.where(drop, images.shape[0] - 1, pairs)
    return torch.cat([own, images[pairs[:, 0]], images[pairs[:, 1]]], dim=1)


def soft_argmax_points(
    probabilities: torch.Tensor, threshold: float, radius: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``[N, K, 2]`` (NaN below threshold) and peak values ``[N, K]`` from probabilities ``[N, K+1, H, W]``:
    the arg-max refined by the probability-weighted centroid of its ``(2r+1)^2`` neighbourhood."""
    maps = probabilities[:, 1:]
    n, k, h, w = maps.shape
    flat = maps.reshape(n, k, -1)
    peak, index = flat.max(dim=-1)
    rows, cols = index // w, index % w
    window, padded_w = 2 * radius + 1, w + 2 * radius
    padded = F.pad(maps, (radius, radius, radius, radius)).reshape(n, k, -1)
    steps = torch.arange(window, device=maps.device)
    flat = (rows[..., None, None] + steps.view(-1, 1)) * padded_w + cols[..., None, None] + steps.view(1, -1)
    patch = padded.gather(2, flat.reshape(n, k, -1)).reshape(n, k, window, window)
    rows, cols = rows.to(maps.dtype), cols.to(maps.dtype)
    offsets = torch.arange(-radius, radius + 1, device=maps.device, dtype=maps.dtype)
    mass = patch.sum(dim=(2, 3)).clamp_min(1e-12)
    d_row = (patch.sum(dim=3) * offsets).sum(-1) / mass
    d_col = (patch.sum(dim=2) * offsets).sum(-1) / mass
    points = torch.stack([rows + d_row, cols + d_col], dim=-1)
    points = torch.where((peak >= threshold).unsqueeze(-1), points, torch.full_like(points, float("nan")))
    return points, peak


LABEL_GRID_MM = 1.5  # the nominal pixel size of the grid the SAX labels were made on (ACDC)


def mask_points(probabilities: torch.Tensor, reference: torch.Tensor, pixel_size_mm: float,
                mask_rule: str = "sax") -> torch.Tensor:
    """Points ``[N, 3, 2]`` of a mask rule applied on the model grid to mask probabilities ``[N, 4, H, W]``
    (NaN where the rule finds none).

    ``"sax"``: the arg-max's RV ends ordered like ``reference``, the rule's pixel limits scaled from the
    labels' ~1.5 mm grid to the model's pixels (a quick validation metric; the runtime applies the exact
    rule on each image's own grid). ``"lax"``: the apex rule measured from ``reference``'s valve midpoint,
    with ``reference``'s valve points kept (so only the apex can be off).
    """
    reference = reference.cpu().numpy()
    if mask_rule == "lax":
        probabilities_np = probabilities.float().cpu().numpy()
        out = reference.astype(np.float32, copy=True)
        for n, p in enumerate(probabilities_np):
            apex = farthest_lv_point(p, reference[n, :2].mean(axis=0)) if np.isfinite(reference[n, :2]).all() else None
            out[n, 2] = np.nan if apex is None else apex
        return torch.from_numpy(out).to(probabilities.device)
    scale = LABEL_GRID_MM / pixel_size_mm
    labels = probabilities.argmax(dim=1).cpu().numpy()
    out = np.full((labels.shape[0], 3, 2), np.nan, dtype=np.float32)
    for n, label in enumerate(labels):
        found = mask_landmarks(largest_regions(label), MIN_CAVITY_PIXELS * scale**2, MIN_RV_PIXELS * scale**2,
                               reach=round(CONTACT_REACH * scale))
        out[n] = found.points(reference[n])
    return torch.from_numpy(out).to(probabilities.device)


@torch.no_grad()
def validate(model: torch.nn.Module, images: torch.Tensor, points: torch.Tensor, targets: torch.Tensor,
             loss_fn: HeatmapLoss, threshold: float, pixel_size_mm: float, mask_rule: str = "",
             batch_size: int = 64) -> dict[str, float]:
    """Validation loss and quick point metrics (detection rate, mean distance in mm) on the model grid;
    a mask model's points come from the mask rule (:func:`mask_points`)."""
    was_training = model.training
    model.eval()
    losses, found = [], []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start:start + batch_size]
        logits = model(batch).float()
        losses.append(float(loss_fn(logits, targets[start:start + batch_size])[0]) * batch.shape[0])
        probabilities = torch.softmax(logits, dim=1)
        found.append(mask_points(probabilities, points[start:start + batch_size], pixel_size_mm, mask_rule) if mask_rule
                     else soft_argmax_points(probabilities, threshold)[0])
    model.train(was_training)
    predicted = torch.cat(found)
    truth_present = torch.isfinite(points).all(-1)
    found_present = torch.isfinite(predicted).all(-1)
    image_ok = (truth_present == found_present).all(-1)
    both = truth_present & found_present
    distance = torch.linalg.norm(predicted - points, dim=-1)[both] * pixel_size_mm
    mean_mm = float(distance.mean()) if distance.numel() else float("nan")
    detection = float(image_ok.float().mean())
    score = (mean_mm if math.isfinite(mean_mm) else 100.0) + 20.0 * (1.0 - detection)
    return {"val_loss": sum(losses) / images.shape[0], "val_detection_rate": detection, "val_mean_mm": mean_mm,
            "val_score": score}
