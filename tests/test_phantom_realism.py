"""Round-4 realism of the phantom: organs, thin RV wall, trabeculae off the septum, correlated noise."""

from __future__ import annotations

import numpy as np
import pytest

from inline_ai.phantom import acquisition, contrast
from inline_ai.phantom.anatomy import draw_subject
from inline_ai.phantom.motion import heart_state
from inline_ai.phantom.planning import ImagePlane, PlanningSettings, plan_sax_stack
from inline_ai.phantom.render import plane_heart_points, render_image
from inline_ai.phantom.scene import LABEL_LV_MYOCARDIUM, LABEL_RV_CAVITY, Textures, heart_geometry, render_torso


def _cine_values(seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    values = contrast.tissue_values(contrast.draw_sequence("cine", rng, 1.5), rng)
    values["rv_blood"] = values["blood"]
    return values


def _lag_one_correlation(field: np.ndarray) -> float:
    centred = field - field.mean()
    return float((centred[1:, :] * centred[:-1, :]).mean() + (centred[:, 1:] * centred[:, :-1]).mean()) / (
        2.0 * float(centred.var()))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_noise_is_spatially_correlated_at_the_drawn_level(seed):
    rng = np.random.default_rng(seed)
    settings = acquisition.draw_acquisition("cine", rng)
    noise = acquisition.acquire(np.zeros((192, 160), dtype=np.float32), settings, rng, 1.0, signed=True)
    assert _lag_one_correlation(noise) > 0.3  # smooth, not white (white noise: ~0)
    assert noise.std() == pytest.approx(1.0 / settings.snr, rel=0.12)  # the SNR is kept


def test_rv_free_wall_is_a_hairline():
    for seed in range(20):
        subject = draw_subject(seed)
        assert 1.0 <= subject.heart.rv_wall <= 3.0
    subject = draw_subject(3)
    state = heart_state(subject.heart, 0.0)
    rx, ry, _ = state.rv_centre
    x = np.arange(rx, rx + 2 * state.rv_radii[0] + 20.0, 0.05, dtype=np.float32)
    y = np.full_like(x, ry)
    z = np.full_like(x, 0.5 * state.lv_length)
    geometry = heart_geometry(subject, state, x, y, z)
    inside = np.flatnonzero(geometry["rv_cavity"] < 0)  # from the septum to the free wall
    assert inside.size
    beyond = np.arange(x.size) > inside.max()
    cavity_end = x[inside.max()]
    wall_end = x[np.argmax(beyond & (geometry["rv_outer"] > 0))]
    assert 0.8 <= wall_end - cavity_end <= 3.2


def test_hypertrophic_hearts_have_small_cavities_and_thick_walls():
    ratios = [draw_subject(seed, "hypertrophic").heart for seed in range(30)]
    assert max(h.lv_radius_ed / h.wall_ed for h in ratios) < 2.7
    assert min(h.lv_radius_ed for h in ratios) < 20.0


def _abdomen_points(subject, x, y, z_below_dome):
    torso = subject.torso
    z = torso.diaphragm_z + 25.0 + torso.organs.dome_lift - z_below_dome
    return np.array([[x, y + torso.body_centre_y, z]], dtype=np.float32)


def test_organs_are_where_they_belong():
    values = _cine_values()
    subject = next(draw_subject(seed) for seed in range(50) if draw_subject(seed).torso.organs.stomach_air > 0.3)
    organs, torso = subject.torso.organs, subject.torso

    def value_at(x, y, below):
        return float(render_torso(subject, _abdomen_points(subject, x, y, below), values, 1.0)[0])

    # liver under the right dome, IVC inside it, aorta next to the spine, vertebral marrow
    assert value_at(-60.0, 0.0, 60.0) == pytest.approx(values["liver"], rel=0.3)
    ivc_x, ivc_y, _ = organs.ivc
    assert value_at(ivc_x, torso.spine_y + ivc_y, 60.0) == pytest.approx(values["blood"], rel=0.05)
    ax, ay, _ = organs.aorta
    assert value_at(ax, torso.spine_y + ay, 60.0) == pytest.approx(organs.aorta_signal * values["blood"], rel=0.05)
    assert value_at(0.0, torso.spine_y, 60.0) == pytest.approx(values["marrow"], rel=0.05)
    # stomach: gas anteriorly (supine) over bright fluid posteriorly
    sx, sy, sz = organs.stomach_centre
    ry = organs.stomach_radii[1]
    below = -sz
    assert value_at(sx, sy - 0.9 * ry + 4.0, below) < 0.1 * values["stomach"]
    assert value_at(sx, sy + 0.6 * ry, below) == pytest.approx(values["stomach"], rel=0.05)


def test_bowel_loops_wind_through_the_abdomen():
    from inline_ai.phantom.texture import bowel_field

    bowel = bowel_field((160, 160), np.random.default_rng(0), 1.5)
    share = float(bowel.loops.mean())
    assert 0.2 < share < 0.7  # loops fill part of the abdomen
    assert (bowel.lumen <= bowel.loops + 1e-6).all()
    # loops are long, connected bands, not isolated round blobs: few, large components
    from scipy import ndimage

    components, count = ndimage.label(bowel.loops > 0.5)
    sizes = np.bincount(components.ravel())[1:]
    assert sizes.max() > 0.2 * sizes.sum()


def test_rv_septal_junction_stays_blood_bright():
    """Trabeculae keep off the septum, so the RV cavity next to the LV wall is plain blood."""
    values = _cine_values()
    subject = draw_subject(4)
    settings = PlanningSettings(plane_error_deg=0.0, inplane_rotation_deg=0.0, sax_rotation_deg=0.0,
                                sax_rotation_bias_deg=0.0, offset_mm=0.0, mirror_probability=0.0,
                                matrix=(192, 192), pixel_mm=(1.0, 1.0), fov_mm=(192.0, 192.0))
    planes, _ = plan_sax_stack(subject, np.random.default_rng(0), settings)
    plane: ImagePlane = planes[len(planes) // 2]
    ones = np.ones(plane.shape[0] * plane.shape[1], dtype=np.float32)
    torso = render_torso(subject, plane.points().reshape(-1, 3), values, 1.0)
    image, labels = render_image(subject, heart_state(subject.heart, 0.0), plane, torso,
                                 [plane_heart_points(subject, plane, 0.0)], values, Textures(blood=ones, tissue=ones))
    rv = labels == LABEL_RV_CAVITY
    myocardium = labels == LABEL_LV_MYOCARDIUM
    near_septum = rv & (np.roll(myocardium, 2, 0) | np.roll(myocardium, -2, 0) | np.roll(myocardium, 2, 1)
                        | np.roll(myocardium, -2, 1))
    assert near_septum.sum() > 10
    assert np.median(image[near_septum]) > 0.7 * values["blood"]
