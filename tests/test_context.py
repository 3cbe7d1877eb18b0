"""Neighbouring-slice context: which images are a slice's neighbours, and how a context model sees them."""

from __future__ import annotations

import numpy as np
import pytest

from inline_ai.context import NO_NEIGHBOUR, case_contexts, contexts_from_indices, neighbour_indices


def test_neighbours_follow_position_within_each_stack():
    # two phases of a 3-slice stack, given out of order; positions along the stack normal in mm
    stacks = ["ED", "ES", "ED", "ES", "ED", "ES"]
    positions = [20.0, 0.0, 0.0, 10.0, 10.0, 20.0]
    table = neighbour_indices(stacks, positions)
    # ED: slice at 0 (index 2) -> 10 (index 4) -> 20 (index 0)
    assert table[2].tolist() == [NO_NEIGHBOUR, 4]
    assert table[4].tolist() == [2, 0]
    assert table[0].tolist() == [4, NO_NEIGHBOUR]
    # ES never links to ED
    assert table[3].tolist() == [1, 5]
    assert set(table[[1, 3, 5]].ravel()) <= {NO_NEIGHBOUR, 1, 3, 5}


def test_images_at_the_same_position_are_not_neighbours():
    table = neighbour_indices(["a", "a", "a"], [0, 0, 5])
    assert table[0].tolist() == [NO_NEIGHBOUR, 2] and table[1].tolist() == [NO_NEIGHBOUR, 2]
    assert table[2].tolist() in ([0, NO_NEIGHBOUR], [1, NO_NEIGHBOUR])


def test_a_lone_image_has_no_neighbours_and_bad_input_is_refused():
    assert neighbour_indices(["x"], [3]).tolist() == [[NO_NEIGHBOUR, NO_NEIGHBOUR]]
    with pytest.raises(ValueError, match="positions"):
        neighbour_indices(["a", "b"], [1])
    with pytest.raises(ValueError, match="neighbour table"):
        contexts_from_indices([np.zeros((2, 2))], np.zeros((2, 2), int))


def test_case_contexts_hand_over_the_neighbouring_arrays():
    images = [np.full((4, 4), value, np.float32) for value in (1, 2, 3, 4)]
    contexts = case_contexts(images, np.array(["ED", "ED", "ES", "ES"]), np.array([0, 1, 0, 1]))
    assert contexts[0][0] is None and contexts[0][1] is images[1]
    assert contexts[1][0] is images[0] and contexts[1][1] is None
    assert contexts[2][1] is images[3]
    # no phase or slice information: one stack in image order
    plain = case_contexts(images, None, None)
    assert plain[1][0] is images[0] and plain[1][1] is images[2]
