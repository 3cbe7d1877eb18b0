"""The docs montage tool writes small, non-blank PNGs."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np

from inline_ai.phantom.montage import make_montage


def test_montage_png_is_small_and_shows_images(tmp_path):
    path = make_montage("ch2", "t1", tmp_path, first_seed=3)
    assert path.name == "phantom_ch2_t1.png" and path.stat().st_size < 300_000
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and float(np.std(pixels[..., :3])) > 0.05
