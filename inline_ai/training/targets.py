"""Training targets: one Gaussian heat map per landmark plus background, summing to 1 at every pixel."""

from __future__ import annotations

import torch


def sigma_pixels(sigma_mm: float, pixel_size_mm: float) -> float:
    """Heat-map sigma in model pixels (the paper's 4 mm at 2 mm pixels is 2 px)."""
    if sigma_mm <= 0 or pixel_size_mm <= 0:
        raise ValueError(f"sigma_mm and pixel_size_mm must be positive, got {sigma_mm}, {pixel_size_mm}")
    return sigma_mm / pixel_size_mm


def render_heatmaps(points: torch.Tensor, height: int, width: int, sigma_px: float) -> torch.Tensor:
    """Targets ``[B, K + 1, H, W]`` (channel 0 background) for points ``[B, K, 2]`` (row, col; NaN absent).

    Each present landmark gets an unnormalised Gaussian (peak 1 at the point); background is
    ``max(0, 1 - sum of Gaussians)``; then all channels are divided by their sum, so every pixel sums
    to 1 and the landmark channel is 1 at its own point (when landmarks do not overlap). An absent
    landmark has an all-zero channel.
    """
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"points must be [B, K, 2], got {tuple(points.shape)}")
    device, dtype = points.device, torch.float32
    rows = torch.arange(height, device=device, dtype=dtype).view(1, 1, height, 1)
    cols = torch.arange(width, device=device, dtype=dtype).view(1, 1, 1, width)
    present = torch.isfinite(points).all(dim=-1)  # [B, K]
    safe = torch.where(present.unsqueeze(-1), points.to(dtype), torch.zeros_like(points, dtype=dtype))
    d_row = (rows - safe[..., 0, None, None]) ** 2
    d_col = (cols - safe[..., 1, None, None]) ** 2
    gaussians = torch.exp(-(d_row + d_col) / (2.0 * sigma_px**2)) * present[..., None, None].to(dtype)
    return with_background(gaussians)


def mask_targets(classes: torch.Tensor) -> torch.Tensor:
    """Targets ``[B, L, H, W]`` from moved one-hot class channels (channel 0 background): where the move
    left the source frame (all channels 0) or blended classes, background takes up the rest of 1."""
    return with_background(classes.float().clamp(0.0, 1.0)[:, 1:])


def with_background(foreground: torch.Tensor) -> torch.Tensor:
    """``[B, 1 + K, H, W]``: background ``max(0, 1 - sum of the K foreground channels)`` first, then every
    pixel divided by its sum."""
    background = torch.clamp(1.0 - foreground.sum(dim=1, keepdim=True), min=0.0)
    maps = torch.cat([background, foreground], dim=1)
    return maps / maps.sum(dim=1, keepdim=True).clamp_min(1e-8)
