"""A small 2D U-Net (BatchNorm + LeakyReLU) that outputs per-pixel logits for landmark heat maps."""

from __future__ import annotations

import math

import torch
from torch import nn


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by BatchNorm and LeakyReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(0.1, inplace=True),
    )


class UNet(nn.Module):
    """U-Net with ``depth`` resolution levels; level ``i`` has ``base_channels * 2**i`` channels.

    Input ``[N, 1, H, W]`` (H and W divisible by ``2**(depth-1)``), output logits ``[N, out_channels, H, W]``.
    Channel 0 is background; its bias starts at ``background_bias`` so the initial softmax is almost all
    background (the KL loss otherwise keeps the output flat for many epochs).
    """

    def __init__(
        self,
        out_channels: int,
        depth: int = 4,
        base_channels: int = 16,
        in_channels: int = 1,
        background_prior: float = 0.99,
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"U-Net depth must be >= 2, got {depth}")
        if out_channels < 2:
            raise ValueError("need at least a background and one landmark channel")
        widths = [base_channels * 2**level for level in range(depth)]
        self.depth = depth
        self.encoders = nn.ModuleList()
        previous = in_channels
        for width in widths:
            self.encoders.append(_conv_block(previous, width))
            previous = width
        self.pool = nn.MaxPool2d(2)
        self.upsamplers = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.upsamplers.append(nn.ConvTranspose2d(previous, width, 2, stride=2))
            self.decoders.append(_conv_block(2 * width, width))
            previous = width
        self.head = nn.Conv2d(previous, out_channels, 1)
        self.reset_head_bias(background_prior)

    def reset_head_bias(self, background_prior: float) -> None:
        """Bias the output towards background: softmax gives ``background_prior`` for channel 0 at start."""
        if not 0.0 < background_prior < 1.0:
            raise ValueError(f"background_prior must be in (0, 1), got {background_prior}")
        landmarks = self.head.out_channels - 1
        with torch.no_grad():
            self.head.bias.zero_()
            self.head.bias[0] = math.log(background_prior * landmarks / (1.0 - background_prior))

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2 ** (self.depth - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, encoder in enumerate(self.encoders):
            x = encoder(x)
            if level < self.depth - 1:
                skips.append(x)
                x = self.pool(x)
        for upsample, decoder in zip(self.upsamplers, self.decoders, strict=True):
            x = upsample(x)
            x = decoder(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
