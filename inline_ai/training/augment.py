"""Batched, on-device augmentation of images and their landmark points (torch).

Geometry (rotation, scale, shift, mirror flips) is one affine map per image, applied to the image
with ``grid_sample`` and to the points with the inverse map, so points always follow the pixels.
Mirror flips keep landmark names: labels follow the anatomy, not the frame. A mirrored SAX image
is what a scanner shows when the slice is viewed from the other side (MS-CMRSeg is stored that
way); the anterior RV insertion is still the one next to the anterior wall, so the point moves
with the pixels and keeps its name. The model must therefore tell the two RV insertions apart by
anatomy (chest wall above / liver and diaphragm below), not by clockwise order in the frame.
The same holds for the long-axis mitral points (named by the wall they sit on).

Intensity changes follow the paper: Gaussian noise (10-30 % of the image mean), Gaussian blur
(sigma 0.5, 1 or 2 px), surface-coil shading, and gamma. For models trained on synthetic images,
appearance randomisation (off by default): random monotone intensity curves, multiplicative random
texture and random convolutions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentSettings:
    """Ranges and probabilities; ``enabled=False`` gives a plain centred crop."""

    enabled: bool = True
    rotation_deg: float = 20.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    shift_px: float = 8.0
    flip_lr_p: float = 0.0
    flip_ud_p: float = 0.0
    noise_p: float = 0.5
    noise_fraction: tuple[float, float] = (0.1, 0.3)
    blur_p: float = 0.5
    blur_sigmas: tuple[float, ...] = (0.5, 1.0, 2.0)
    shading_p: float = 0.5
    shading_strength: tuple[float, float] = (0.3, 0.7)
    gamma_p: float = 0.5
    gamma_range: tuple[float, float] = (0.7, 1.5)
    # appearance randomisation (off by default): a random monotone intensity curve, and a
    # multiplicative random texture (smooth noise of a random cell size), so that a model trained on
    # synthetic images leans on shape rather than on the phantom's exact grey levels and smoothness
    remap_p: float = 0.0
    remap_knots: int = 4
    remap_jitter: float = 0.6  # each segment's slope is 1 +- this
    texture_p: float = 0.0
    texture_strength: tuple[float, float] = (0.05, 0.25)
    texture_cell_px: tuple[float, float] = (3.0, 16.0)
    # random convolution (Xu et al., ICLR 2021): the image filtered by a random kernel, mixed with
    # the original; it scrambles local texture and edge polarity while keeping shapes in place
    randconv_p: float = 0.0
    randconv_kernels: tuple[int, ...] = (3, 5)
    randconv_mix: tuple[float, float] = (0.0, 1.0)  # weight of the original image
    clip_max: float = 2.0

    @classmethod
    def from_dict(cls, values: dict | None) -> AugmentSettings:
        """Build from a YAML mapping; unknown keys are an error."""
        values = dict(values or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown augmentation settings {unknown}; known: {sorted(known)}")
        for key in ("scale_range", "noise_fraction", "shading_strength", "gamma_range", "blur_sigmas",
                    "texture_strength", "texture_cell_px", "randconv_mix"):
            if key in values:
                values[key] = tuple(float(v) for v in values[key])
        if "randconv_kernels" in values:
            values["randconv_kernels"] = tuple(int(v) for v in values["randconv_kernels"])
            if any(k < 1 or k % 2 == 0 for k in values["randconv_kernels"]):
                raise ValueError(f"randconv_kernels must be odd sizes >= 1, got {values['randconv_kernels']}")
        return cls(**values)


def _uniform(low: float, high: float, n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def _coin(p: float, n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device) < p


def affine_crop(
    images: torch.Tensor,
    points: torch.Tensor,
    out_size: tuple[int, int],
    matrices: torch.Tensor,
    shifts: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample ``images [B, 1, S, T]`` to ``out_size`` and map ``points [B, K, 2]`` (row, col) alike.

    Output pixel ``o`` samples the source at ``c_src + shift + M (o - c_out)`` where ``c`` are the
    frame centres ((size - 1) / 2) and ``M [B, 2, 2]`` acts on (row, col). Points map with the inverse;
    points that land outside the output frame become NaN (absent).
    """
    batch, _, src_h, src_w = images.shape
    out_h, out_w = out_size
    device, dtype = images.device, images.dtype
    c_src = torch.tensor([(src_h - 1) / 2.0, (src_w - 1) / 2.0], device=device, dtype=dtype)
    c_out = torch.tensor([(out_h - 1) / 2.0, (out_w - 1) / 2.0], device=device, dtype=dtype)
    rows = torch.arange(out_h, device=device, dtype=dtype) - c_out[0]
    cols = torch.arange(out_w, device=device, dtype=dtype) - c_out[1]
    grid_r, grid_c = torch.meshgrid(rows, cols, indexing="ij")
    offsets = torch.stack([grid_r, grid_c], dim=-1).reshape(1, -1, 2)  # [1, P, 2]
    source = c_src + shifts[:, None, :] + offsets @ matrices.transpose(1, 2)  # [B, P, 2]
    norm_x = 2.0 * source[..., 1] / (src_w - 1) - 1.0
    norm_y = 2.0 * source[..., 0] / (src_h - 1) - 1.0
    grid = torch.stack([norm_x, norm_y], dim=-1).reshape(batch, out_h, out_w, 2)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    inverse = torch.linalg.inv(matrices)
    moved = (points.to(dtype) - c_src - shifts[:, None, :]) @ inverse.transpose(1, 2) + c_out
    inside = (
        (moved[..., 0] >= 0) & (moved[..., 0] <= out_h - 1) & (moved[..., 1] >= 0) & (moved[..., 1] <= out_w - 1)
    )
    moved = torch.where(inside.unsqueeze(-1), moved, torch.full_like(moved, float("nan")))
    return warped, moved


def random_geometry(
    batch: int, settings: AugmentSettings, generator: torch.Generator | None, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random matrices ``[B, 2, 2]`` (rotation, 1/scale, flips) and shifts ``[B, 2]`` in pixels."""
    angle = _uniform(-settings.rotation_deg, settings.rotation_deg, batch, generator, device) * math.pi / 180
    scale = _uniform(*settings.scale_range, batch, generator, device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    flip_rows = torch.where(_coin(settings.flip_ud_p, batch, generator, device), -1.0, 1.0)
    flip_cols = torch.where(_coin(settings.flip_lr_p, batch, generator, device), -1.0, 1.0)
    flips = torch.diag_embed(torch.stack([flip_rows, flip_cols], -1))
    matrices = rotation @ flips / scale[:, None, None]
    shifts = _uniform(-settings.shift_px, settings.shift_px, 2 * batch, generator, device).view(batch, 2)
    return matrices, shifts


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[B, C, H, W]`` (each channel alone) with reflect padding."""
    if images.shape[1] != 1:
        return gaussian_blur(images.reshape(-1, 1, *images.shape[2:]), sigma).reshape(images.shape)
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = F.pad(images, (radius, radius, 0, 0), mode="reflect")
    images = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    padded = F.pad(images, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(padded, kernel.view(1, 1, -1, 1))


def coil_shading(
    batch: int, height: int, width: int, strength: torch.Tensor, generator: torch.Generator | None, device
) -> torch.Tensor:
    """Smooth receive-sensitivity fields ``[B, 1, H, W]`` in (0, 1]: bright near a coil outside the
    frame (anterior or posterior side, random), falling off with distance."""
    side = torch.where(_coin(0.5, batch, generator, device), -0.3, 1.3)  # coil above or below the frame
    coil_row = side * (height - 1)
    coil_col = _uniform(0.0, width - 1.0, batch, generator, device)
    reach = _uniform(0.6, 1.2, batch, generator, device) * max(height, width)
    rows = torch.arange(height, device=device, dtype=torch.float32).view(1, height, 1)
    cols = torch.arange(width, device=device, dtype=torch.float32).view(1, 1, width)
    distance = torch.sqrt((rows - coil_row.view(-1, 1, 1)) ** 2 + (cols - coil_col.view(-1, 1, 1)) ** 2)
    falloff = torch.exp(-distance / reach.view(-1, 1, 1))
    falloff = falloff / falloff.amax(dim=(1, 2), keepdim=True)
    field = 1.0 - strength.view(-1, 1, 1) * (1.0 - falloff)
    return field.unsqueeze(1)


def random_intensity_curve(images: torch.Tensor, knots: int, jitter: float, clip_max: float,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """Map each image through its own random monotone piecewise-linear curve on ``[0, clip_max]``
    (``knots`` equal segments, slopes ``1 +- jitter``); order of intensities is kept."""
    batch, device = images.shape[0], images.device
    step = clip_max / knots
    slopes = 1.0 + jitter * (2.0 * torch.rand(batch, knots, generator=generator, device=device) - 1.0)
    levels = torch.cat([torch.zeros(batch, 1, device=device), torch.cumsum(slopes * step, dim=1)], dim=1)
    x = images.clamp(0.0, clip_max) / step
    segment = x.floor().clamp(0, knots - 1)
    flat = segment.long().view(batch, -1)
    low = torch.gather(levels, 1, flat).view_as(images)
    high = torch.gather(levels, 1, flat + 1).view_as(images)
    return (low + (high - low) * (x - segment)).to(images.dtype)


def random_texture(shape: tuple[int, ...], strength: torch.Tensor, cell_px: float,
                   generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """A multiplicative field ``1 + strength * n`` with ``n`` smooth unit noise of about ``cell_px`` pixels."""
    batch, _, h, w = shape
    coarse = torch.randn(batch, 1, max(2, round(h / cell_px)), max(2, round(w / cell_px)),
                         generator=generator, device=device)
    noise = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
    return 1.0 + strength.view(-1, 1, 1, 1) * noise


def _bright_level(images: torch.Tensor) -> torch.Tensor:
    """Per image ``[B]``: the 99.5th percentile of channel 0 (at least 1e-6)."""
    return torch.quantile(images[:, 0].reshape(images.shape[0], -1), 0.995, dim=1).clamp_min(1e-6)


def random_convolution(images: torch.Tensor, kernel_size: int, mix: torch.Tensor, clip_max: float,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image (all its channels alike) filtered by its own random ``kernel_size`` kernel.

    The filter output's magnitude is scaled to the image's brightest percentile and mixed with the
    original, ``mix`` (per image, ``[B]``) being the original's weight; the result lies in ``[0, clip_max]``.
    """
    batch, channels, h, w = images.shape
    weights = torch.randn(batch, 1, kernel_size, kernel_size, generator=generator, device=images.device,
                          dtype=images.dtype) / kernel_size
    weights = weights.repeat_interleave(channels, dim=0)  # one kernel per image, shared by its channels
    filtered = F.conv2d(F.pad(images.reshape(1, batch * channels, h, w), [kernel_size // 2] * 4, mode="reflect"),
                        weights, groups=batch * channels).reshape(batch, channels, h, w).abs()
    filtered = filtered * (_bright_level(images) / _bright_level(filtered)).view(-1, 1, 1, 1)
    mix = mix.view(-1, 1, 1, 1)
    return (mix * images + (1.0 - mix) * filtered).clamp(0.0, clip_max)


def augment_batch(
    images: torch.Tensor,
    points: torch.Tensor,
    out_size: tuple[int, int],
    settings: AugmentSettings,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment ``images [B, C, S, T]`` (normalised intensities; channels 1.. are neighbouring slices, which get
    the same geometry and intensity changes) and ``points [B, K, 2]``; crop to ``out_size``.

    With ``settings.enabled`` false this is the plain centred crop used for validation.
    """
    images, points, _ = augment_with_masks(images, points, None, out_size, settings, generator)
    return images, points


def augment_with_masks(
    images: torch.Tensor,
    points: torch.Tensor,
    masks: torch.Tensor | None,
    out_size: tuple[int, int],
    settings: AugmentSettings,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """:func:`augment_batch`, with per-class mask channels ``masks [B, L, S, T]`` (one-hot) moved by the same
    geometry (bilinear, so class edges come out soft; intensity changes leave them alone)."""
    batch, device = images.shape[0], images.device
    if not settings.enabled:
        matrices = torch.eye(2, device=device, dtype=images.dtype).expand(batch, 2, 2)
        shifts = torch.zeros(batch, 2, device=device)
    else:
        matrices, shifts = random_geometry(batch, settings, generator, device)
    channels = images.shape[1]
    stacked = images if masks is None else torch.cat([images, masks.to(images.dtype)], dim=1)
    warped, points = affine_crop(stacked, points, out_size, matrices, shifts)
    images, masks = warped[:, :channels], (None if masks is None else warped[:, channels:])
    if not settings.enabled:
        return images, points, masks
    h, w = out_size

    use = _coin(settings.gamma_p, batch, generator, device).view(-1, 1, 1, 1)
    gamma = _uniform(*settings.gamma_range, batch, generator, device).view(-1, 1, 1, 1)
    scaled = settings.clip_max * (images.clamp_min(0) / settings.clip_max) ** gamma
    images = torch.where(use, scaled, images)

    if settings.remap_p > 0:
        use = _coin(settings.remap_p, batch, generator, device).view(-1, 1, 1, 1)
        curved = random_intensity_curve(images, settings.remap_knots, settings.remap_jitter, settings.clip_max,
                                        generator)
        images = torch.where(use, curved, images)

    if settings.texture_p > 0:
        use = _coin(settings.texture_p, batch, generator, device).view(-1, 1, 1, 1)
        strength = _uniform(*settings.texture_strength, batch, generator, device)
        cell = float(_uniform(*settings.texture_cell_px, 1, generator, device))
        images = torch.where(use, images * random_texture(images.shape, strength, cell, generator, device), images)

    if settings.randconv_p > 0:
        use = _coin(settings.randconv_p, batch, generator, device).view(-1, 1, 1, 1)
        size = settings.randconv_kernels[int(torch.randint(len(settings.randconv_kernels), (1,),
                                                           generator=generator, device=device))]
        mix = _uniform(*settings.randconv_mix, batch, generator, device)
        images = torch.where(use, random_convolution(images, size, mix, settings.clip_max, generator), images)

    use = _coin(settings.shading_p, batch, generator, device).view(-1, 1, 1, 1)
    strength = _uniform(*settings.shading_strength, batch, generator, device)
    images = torch.where(use, images * coil_shading(batch, h, w, strength, generator, device), images)

    use = _coin(settings.blur_p, batch, generator, device)
    if settings.blur_sigmas and bool(use.any()):
        choice = torch.randint(len(settings.blur_sigmas), (batch,), generator=generator, device=device)
        for index, sigma in enumerate(settings.blur_sigmas):
            chosen = use & (choice == index)
            if bool(chosen.any()):
                images[chosen] = gaussian_blur(images[chosen], sigma)

    use = _coin(settings.noise_p, batch, generator, device).view(-1, 1, 1, 1)
    fraction = _uniform(*settings.noise_fraction, batch, generator, device).view(-1, 1, 1, 1)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    noise = torch.randn(images.shape, generator=generator, device=device, dtype=images.dtype)
    images = torch.where(use, images + noise * fraction * mean, images)
    return images.clamp(0.0, settings.clip_max), points, masks
