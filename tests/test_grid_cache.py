"""The model-grid cache: a stack analysed slice by slice resamples each image once, with the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
from model_factory import make_test_model

from inline_ai.context import case_contexts
from inline_ai.detector import LandmarkDetector, model_input
from inline_ai.grid_cache import ModelGridCache

SPACING = (1.4, 1.4)


def stack(slices: int = 5, phases: int = 3, seed: int = 0) -> list[list[np.ndarray]]:
    """``[slice][phase]`` images, each different."""
    rng = np.random.default_rng(seed)
    return [[rng.random((150, 130)).astype(np.float32) + 0.1 for _ in range(phases)] for _ in range(slices)]


def slice_by_slice(detector: LandmarkDetector, images: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Each slice's model batch, the slice's neighbours at the same phase as context (as the stream does)."""
    slices, phases = len(images), len(images[0])
    flat = [image for group in images for image in group]
    contexts = case_contexts(flat, [str(p) for _ in range(slices) for p in range(phases)],
                             [s for s in range(slices) for _ in range(phases)])
    batches = []
    for s in range(slices):
        group = slice(s * phases, (s + 1) * phases)
        batch, _ = detector.prepare(flat[group], np.tile(SPACING, (phases, 1)), contexts[group])
        batches.append(batch)
    return batches


@pytest.fixture(scope="module")
def context_model(tmp_path_factory):
    return make_test_model(tmp_path_factory.mktemp("ctx"), name="sax_ctx", view_family="sax", context_slices=1)


def test_a_stack_is_resampled_once_per_image_with_identical_model_inputs(context_model):
    images = stack()
    plain = slice_by_slice(LandmarkDetector(context_model), images)
    cache = ModelGridCache()
    cached = slice_by_slice(LandmarkDetector(context_model, grid_cache=cache), images)
    for s, (without, with_cache) in enumerate(zip(plain, cached, strict=True)):
        np.testing.assert_array_equal(without, with_cache)
        assert with_cache[:, 1].any() == (s > 0) and with_cache[:, 2].any() == (s < 4)  # the neighbours
    assert cache.misses == 5 * 3  # each image once; without the cache 5*3 + 2*(4*3) = 39 resamples
    assert cache.hits == 2 * 4 * 3


def test_only_the_previous_call_is_kept_and_other_grids_are_not_confused():
    image = np.random.default_rng(1).random((90, 80)).astype(np.float32) + 0.1
    cache = ModelGridCache()
    first, _ = model_input(image, SPACING, 2.0, (64, 64), cache=cache)
    model_input(image, (1.0, 1.0), 2.0, (64, 64), cache=cache)  # another spacing: another grid
    assert (cache.hits, cache.misses) == (0, 2)
    cache.next_call()
    again, _ = model_input(image, SPACING, 2.0, (64, 64), cache=cache)
    np.testing.assert_array_equal(first, again)
    assert (cache.hits, cache.misses) == (1, 2)
    cache.next_call()
    cache.next_call()  # two calls without the image: it is gone
    model_input(image, SPACING, 2.0, (64, 64), cache=cache)
    assert (cache.hits, cache.misses) == (1, 3)
    copy = image.copy()  # same values, other memory: not taken for the cached image
    cache.next_call()
    model_input(copy, SPACING, 2.0, (64, 64), cache=cache)
    assert cache.misses == 4


def test_a_blank_neighbour_stays_zero_but_a_blank_image_is_still_refused():
    image = np.random.default_rng(2).random((90, 80)).astype(np.float32) + 0.1
    blank = np.zeros((90, 80), dtype=np.float32)
    cache = ModelGridCache()
    inputs, _ = model_input(image, SPACING, 2.0, (64, 64), channels=3, context=(blank, image), cache=cache)
    assert not inputs[1].any() and inputs[2].any()
    with pytest.raises(ValueError, match="percentile"):
        model_input(blank, SPACING, 2.0, (64, 64), channels=3, context=(None, image), cache=cache)
    with pytest.raises(ValueError, match="2D"):
        model_input(image, SPACING, 2.0, (64, 64), channels=3, context=(image[None], None), cache=cache)
