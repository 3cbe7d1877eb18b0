"""Training toolkit: targets, losses, augmentation, export parity, and a tiny end-to-end run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training toolkit needs torch (pip install 'inline-ai[train]')")

from inline_ai.dataset import LandmarkCase, save_case  # noqa: E402
from inline_ai.training.augment import (  # noqa: E402
    AugmentSettings,
    affine_crop,
    augment_batch,
    random_convolution,
    random_intensity_curve,
    random_texture,
)
from inline_ai.training.config import config_from_dict  # noqa: E402
from inline_ai.training.data import (  # noqa: E402
    PreparedSet,
    evenly_spaced,
    prepare_cases,
    split_by_groups,
    split_patients,
)
from inline_ai.training.losses import HeatmapLoss, kl_divergence, soft_dice_loss  # noqa: E402
from inline_ai.training.sampling import GroupSampler  # noqa: E402
from inline_ai.training.targets import render_heatmaps, sigma_pixels  # noqa: E402
from inline_ai.training.trainer import soft_argmax_points  # noqa: E402
from inline_ai.training.unet import UNet  # noqa: E402


def test_targets_sum_to_one_and_peak_at_point():
    points = torch.tensor([[[10.0, 12.0], [25.3, 30.7], [float("nan"), float("nan")]]])
    maps = render_heatmaps(points, 40, 48, sigma_pixels(4.0, 2.0))
    assert maps.shape == (1, 4, 40, 48)
    torch.testing.assert_close(maps.sum(dim=1), torch.ones(1, 40, 48))
    assert maps[0, 1, 10, 12] == pytest.approx(1.0, abs=1e-4)  # peak value 1 exactly at the point
    assert divmod(int(maps[0, 1].argmax()), 48) == (10, 12)
    assert divmod(int(maps[0, 2].argmax()), 48) == (25, 31)  # nearest pixel of a sub-pixel point
    assert float(maps[0, 3].abs().max()) == 0.0  # absent landmark: empty channel
    assert float(maps[0, 0, 0, 47]) == pytest.approx(1.0)  # far away: background


def test_sigma_in_pixels_and_bad_values():
    assert sigma_pixels(4.0, 2.0) == 2.0
    with pytest.raises(ValueError, match="positive"):
        sigma_pixels(4.0, 0.0)


def test_loss_is_lowest_for_the_target_itself():
    points = torch.tensor([[[10.0, 10.0], [20.0, 25.0], [float("nan"), float("nan")]]])
    target = render_heatmaps(points, 32, 32, 2.0)
    perfect = torch.log(target.clamp_min(1e-9))
    shifted = torch.log(render_heatmaps(points + 4.0, 32, 32, 2.0).clamp_min(1e-9))
    flat = torch.zeros_like(target)
    assert float(kl_divergence(perfect, target)) == pytest.approx(0.0, abs=1e-3)
    assert float(soft_dice_loss(perfect, target)) < 0.05
    loss = HeatmapLoss()
    best = float(loss(perfect, target)[0])
    assert best < float(loss(shifted, target)[0]) < float(loss(flat, target)[0]) + 10
    assert float(loss(shifted, target)[0]) > best + 0.2


def test_unet_starts_biased_to_background_and_keeps_shape():
    model = UNet(4, depth=3, base_channels=4, background_prior=0.99).eval()
    with torch.no_grad():
        out = torch.softmax(model(torch.rand(2, 1, 32, 40)), dim=1)
    assert out.shape == (2, 4, 32, 40)
    assert float(out[:, 0].mean()) > 0.9


def _spot_images(points: torch.Tensor, size: int) -> torch.Tensor:
    rows = torch.arange(size).view(1, size, 1).float()
    cols = torch.arange(size).view(1, 1, size).float()
    image = torch.exp(-((rows - points[:, 0, 0, None, None]) ** 2 + (cols - points[:, 0, 1, None, None]) ** 2) / 4.0)
    return image.unsqueeze(1)


@pytest.mark.parametrize("flip", ["none", "lr", "ud"])
def test_points_follow_the_image_through_augmentation(flip):
    generator = torch.Generator().manual_seed(3)
    points = torch.tensor([[[30.0, 50.0]], [[60.0, 20.0]], [[41.5, 45.0]], [[20.0, 70.0]]])
    images = _spot_images(points, 96)
    settings = AugmentSettings(rotation_deg=40, scale_range=(0.8, 1.2), shift_px=6,
                               flip_lr_p=1.0 if flip == "lr" else 0.0, flip_ud_p=1.0 if flip == "ud" else 0.0,
                               noise_p=0, blur_p=0, shading_p=0, gamma_p=0)
    warped, moved = augment_batch(images, points, (80, 80), settings, generator)
    assert warped.shape == (4, 1, 80, 80)
    for n in range(4):
        if torch.isfinite(moved[n]).all():
            peak = divmod(int(warped[n, 0].argmax()), 80)
            assert np.hypot(peak[0] - float(moved[n, 0, 0]), peak[1] - float(moved[n, 0, 1])) <= 1.0


def test_mirror_flip_moves_points_and_keeps_their_order():
    points = torch.tensor([[[10.0, 5.0], [30.0, 5.0]]])  # anterior (top), inferior (bottom), left side
    images = torch.zeros(1, 1, 40, 40)
    flip_lr = torch.tensor([[[1.0, 0.0], [0.0, -1.0]]])
    _, moved = affine_crop(images, points, (40, 40), flip_lr, torch.zeros(1, 2))
    torch.testing.assert_close(moved, torch.tensor([[[10.0, 34.0], [30.0, 34.0]]]))  # names do not swap


def test_points_leaving_the_frame_become_absent():
    points = torch.tensor([[[2.0, 2.0], [20.0, 20.0]]])
    _, moved = affine_crop(torch.zeros(1, 1, 40, 40), points, (20, 20), torch.eye(2)[None], torch.zeros(1, 2))
    assert torch.isnan(moved[0, 0]).all()
    torch.testing.assert_close(moved[0, 1], torch.tensor([10.0, 10.0]))  # centres 19.5 -> 9.5


def test_intensity_augmentation_stays_in_range():
    images = torch.rand(8, 1, 48, 48) * 2
    out, _ = augment_batch(images, torch.full((8, 1, 2), 24.0), (32, 32),
                           AugmentSettings(noise_p=1, blur_p=1, shading_p=1, gamma_p=1),
                           torch.Generator().manual_seed(0))
    assert out.shape == (8, 1, 32, 32)
    assert float(out.min()) >= 0 and float(out.max()) <= 2.0


def test_appearance_randomisation_keeps_intensity_order_and_changes_texture():
    generator = torch.Generator().manual_seed(3)
    ramp = torch.linspace(0, 2, 400).view(1, 1, 20, 20).repeat(6, 1, 1, 1)
    curved = random_intensity_curve(ramp, knots=4, jitter=0.6, clip_max=2.0, generator=generator)
    flat = curved.view(6, -1)
    assert bool((flat[:, 1:] >= flat[:, :-1] - 1e-6).all())  # monotone: anatomy keeps its contrast order
    assert float((curved - ramp).abs().max()) > 0.05  # but the grey levels moved
    assert float(curved[:, :, 0, 0].abs().max()) < 1e-6  # black stays black
    field = random_texture((4, 1, 64, 64), torch.full((4,), 0.2), 8.0, generator)
    assert field.shape == (4, 1, 64, 64) and 0.1 < float(field.std()) < 0.4
    assert abs(float(field.mean()) - 1.0) < 0.1
    images = torch.rand(8, 1, 48, 48) * 2
    out, points = augment_batch(images, torch.full((8, 1, 2), 24.0), (32, 32),
                                AugmentSettings(remap_p=1, texture_p=1, noise_p=0, blur_p=0, shading_p=0, gamma_p=0),
                                torch.Generator().manual_seed(0))
    assert float(out.min()) >= 0 and float(out.max()) <= 2.0 and torch.isfinite(points).all()


def test_random_convolution_scrambles_texture_keeps_shape_and_range():
    generator = torch.Generator().manual_seed(5)
    disc = torch.zeros(4, 3, 40, 40)
    rows, cols = torch.meshgrid(torch.arange(40), torch.arange(40), indexing="ij")
    disc[:, :2, ((rows - 20) ** 2 + (cols - 20) ** 2) < 100] = 1.5  # a bright disc in the image and one neighbour
    out = random_convolution(disc, 5, torch.zeros(4), clip_max=2.0, generator=generator)
    assert out.shape == disc.shape and float(out.min()) >= 0 and float(out.max()) <= 2.0
    assert float((out - disc).abs().mean()) > 0.05  # the filter changed the grey levels
    torch.testing.assert_close(out[:, 0], out[:, 1])  # the image and its neighbours share one kernel
    assert float(out[:, 2].abs().max()) == 0.0  # a blank (missing) neighbour stays blank
    assert float(out[:, 0, 35:, 35:].abs().max()) < 1e-6  # nothing appears far from the disc: shapes stay put
    kept = random_convolution(disc, 3, torch.ones(4), clip_max=2.0, generator=generator)
    torch.testing.assert_close(kept, disc)  # mix weight 1 keeps the original
    images = torch.rand(8, 1, 48, 48) * 2
    out, points = augment_batch(images, torch.full((8, 1, 2), 24.0), (32, 32),
                                AugmentSettings(randconv_p=1, noise_p=0, blur_p=0, shading_p=0, gamma_p=0),
                                torch.Generator().manual_seed(0))
    assert float(out.min()) >= 0 and float(out.max()) <= 2.0 and torch.isfinite(points).all()
    with pytest.raises(ValueError, match="odd"):
        AugmentSettings.from_dict({"randconv_kernels": [4]})


def test_sampler_mixes_every_view_in_every_batch():
    sampler = GroupSampler([np.arange(0, 10), np.arange(10, 15), np.arange(15, 40)], [1, 1, 1], seed=0)
    for _ in range(20):
        batch = sampler.batch(6)
        assert len(batch) == 6
        assert (batch < 10).sum() >= 1 and ((batch >= 10) & (batch < 15)).sum() >= 1 and (batch >= 15).sum() >= 1


def test_split_is_by_patient():
    split = split_patients(["a_01", "a_01", "a_02", "b_03"], val_pattern="02$")
    assert split == {"train": ["a_01", "b_03"], "val": ["a_02"]}
    assert split_patients(["p1", "p2", "p3", "p4"], val_fraction=0.5, seed=1)["val"].__len__() == 2


def test_split_by_groups_holds_out_patients_from_every_group():
    groups = [[f"p{n:02d}" for n in range(k * 10, k * 10 + 10)] for k in range(3)]
    patients = [p for group in groups for p in group if p != "p25"] + ["other"]
    split = split_by_groups(patients, groups, per_group=2, seed=3)
    assert [sum(p in group for p in split["val"]) for group in groups] == [2, 2, 2]
    assert "p25" not in split["val"] and "other" in split["train"]  # absent ids skipped, ungrouped ones trained on
    assert sorted(split["train"] + split["val"]) == sorted(patients) and not set(split["train"]) & set(split["val"])
    assert split == split_by_groups(reversed(patients), groups, per_group=2, seed=3)  # seeded, order-free
    assert split["val"] != split_by_groups(patients, groups, per_group=2, seed=4)["val"]
    with pytest.raises(ValueError, match="per_group"):
        split_by_groups(patients, groups, per_group=0)


def test_soft_argmax_finds_subpixel_point():
    target = render_heatmaps(torch.tensor([[[12.3, 20.6]]]), 32, 32, 2.0)
    points, peak = soft_argmax_points(target, threshold=0.5)
    assert float(peak[0, 0]) > 0.9
    assert np.allclose(points[0, 0].numpy(), [12.3, 20.6], atol=0.1)
    assert torch.isnan(soft_argmax_points(target, threshold=1.1)[0]).all()


def _write_spot_dataset(directory: Path, patients: int = 4) -> None:
    """Tiny SAX cases: three Gaussian spots on noise, landmarks at the spots."""
    rng = np.random.default_rng(0)
    for p in range(patients):
        images, landmarks = [], []
        for _ in range(3):
            pts = np.array([[20, 20], [44, 22], [32, 42]], float) + rng.uniform(-4, 4, (3, 2))
            rows, cols = np.mgrid[0:64, 0:64]
            image = 100 + rng.normal(0, 5, (64, 64))
            for (r, c), amplitude in zip(pts, (400, 600, 800), strict=True):
                image += amplitude * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / 8.0)
            images.append(image.astype(np.float32))
            landmarks.append(pts)
        case = LandmarkCase(np.stack(images), np.array([2.0, 2.0], np.float32), np.stack(landmarks).astype(np.float32),
                            ("anterior_rv_insertion", "inferior_rv_insertion", "lv_centre"), "sax", "cine")
        save_case(directory / f"spot_p{p:02d}_c.npz", case)


def _tiny_spot_config(tmp_path: Path, name: str, **extra) -> tuple[dict, Path]:
    """Spot data in ``tmp_path/data`` and a tiny SAX training config on it (patient p03 held out)."""
    _write_spot_dataset(tmp_path / "data")
    config = {
        "name": name, "view_family": "sax", "input_size": [32, 32], "pixel_size_mm": 4.0, "work_margin": 4,
        "depth": 2, "base_channels": 4, "batch_size": 4, "epochs": 1, "steps_per_epoch": 3, "val_pattern": "p03$",
        "sources": [{"path": str(tmp_path / "data"), "kind": "real"}],
        "trained_on": "synthetic: spots (test)", "validated_on": "synthetic: spot patient p03", **extra,
    }
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(json.dumps(config))
    return config, config_path


def test_a_learning_curve_trains_on_evenly_spaced_patients_and_validates_on_the_same_ones(tmp_path):
    patients = [f"acdc_patient{n:03d}" for n in range(1, 81)]
    half = evenly_spaced(patients, 0.5)
    assert len(half) == 40 and half[0] == patients[0] and half[-1] == patients[-1]
    assert [sum(p in half for p in patients[g * 20:(g + 1) * 20]) for g in range(4)] == [10, 10, 10, 10]
    assert evenly_spaced(patients, 1.0) == patients and evenly_spaced(["b", "a"], 0.01) == ["a"]
    with pytest.raises(ValueError, match="fraction"):
        evenly_spaced(patients, 0.0)
    from inline_ai.training.config import load_config
    from inline_ai.training.trainer import Trainer

    _, config_path = _tiny_spot_config(tmp_path, "tiny_sax", train_fraction=0.5)
    trainer = Trainer(load_config(config_path), tmp_path / "run", device="cpu", progress=False)
    trainer._build_data()
    split = trainer.split
    assert split["val"] == ["spot_p03"] and len(split["train"]) == 2 and len(split["left_out"]) == 1
    assert set(trainer.train_set.patient_ids) == set(split["train"])
    with pytest.raises(ValueError, match="train_fraction"):
        config_from_dict({"name": "x", "view_family": "sax", "sources": [], "train_fraction": 1.5})


def test_prepared_set_round_trip(tmp_path):
    _write_spot_dataset(tmp_path / "data", patients=1)
    from inline_ai.dataset import load_case

    case = load_case(tmp_path / "data" / "spot_p00_c.npz")
    prepared = prepare_cases([case], case.landmark_names, 4.0, (40, 40))
    assert prepared.images.shape == (3, 40, 40) and prepared.images.max() <= 2.0
    # 64 px at 2 mm -> 32 px at 4 mm, centred in 40: row 20 -> (20 - 31.5) / 2 + 19.5
    assert prepared.points[0, 0, 0] == pytest.approx((case.landmarks[0, 0, 0] - 31.5) / 2 + 19.5, abs=1e-4)
    loaded = PreparedSet.load(prepared.save(tmp_path / "set.npz"))
    assert np.abs(loaded.images - prepared.images).max() <= 0.5 / 127.5 + 1e-6
    np.testing.assert_allclose(loaded.points, prepared.points)
    assert list(loaded.patient_ids) == ["spot_p00"] * 3


def test_training_holds_images_as_uint8_and_feeds_the_network_the_same_intensities(tmp_path):
    from inline_ai.training.config import load_config
    from inline_ai.training.trainer import Trainer, intensities

    _write_spot_dataset(tmp_path / "data", patients=1)
    from inline_ai.dataset import load_case

    case = load_case(tmp_path / "data" / "spot_p00_c.npz")
    prepared = prepare_cases([case], case.landmark_names, 4.0, (40, 40))
    stored = prepared.stored()
    assert stored.images.dtype == np.uint8 and stored.images.nbytes * 4 == prepared.images.nbytes
    assert stored.stored() is stored
    as_float = intensities(torch.from_numpy(stored.images)).numpy()
    assert np.abs(as_float - prepared.images).max() <= 0.5 / 127.5 + 1e-6
    loaded = PreparedSet.load(prepared.save(tmp_path / "set.npz"), stored=True)
    np.testing.assert_array_equal(loaded.images, stored.images)  # a cached set and a fresh one train alike
    with pytest.raises(ValueError, match="uint8 storage"):
        PreparedSet.concatenate([prepared, stored])
    # a training run keeps the uint8 form in memory and validates on float intensities
    _, config_path = _tiny_spot_config(tmp_path, "tiny_sax", epochs=1)
    trainer = Trainer(load_config(config_path), tmp_path / "run", device="cpu", progress=False)
    trainer._build_data()
    assert trainer.train_images.dtype == torch.uint8
    images, _, _ = trainer._val_tensors()
    assert images.dtype == torch.float32 and 0.5 < float(images.max()) <= 2.0


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown training config keys"):
        config_from_dict({"name": "x", "view_family": "sax", "sources": [], "learning_rate": 1})
    with pytest.raises(ValueError, match="multiple of"):
        config_from_dict({"name": "x", "view_family": "sax", "sources": [], "input_size": [36, 36], "depth": 4})


def test_tiny_training_run_exports_a_model_the_runtime_loads(tmp_path):
    from inline_ai.runtime import load_model
    from inline_ai.training.cli import main

    _, config_path = _tiny_spot_config(tmp_path, "tiny_sax", epochs=2)
    run_dir, models = tmp_path / "run", tmp_path / "models"
    assert main([str(config_path), "--run-dir", str(run_dir), "--export-dir", str(models), "--quiet",
                 "--device", "cpu"]) == 0
    assert json.loads((run_dir / "split.json").read_text())["val"] == ["spot_p03"]
    assert len((run_dir / "log.jsonl").read_text().splitlines()) == 2
    card = json.loads((models / "tiny_sax.json").read_text())
    assert card["channels"] == ["background", "anterior_rv_insertion", "inferior_rv_insertion", "lv_centre"]
    assert card["export_parity"]["onnx_max_abs_diff"] <= 1e-4
    assert card["trained_on"].startswith("synthetic")
    model = load_model(models / "tiny_sax.json")
    probabilities = model.predict(np.zeros((2, 1, 32, 32), np.float32))
    assert probabilities.shape == (2, 4, 32, 32)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    # resume continues from the last checkpoint instead of starting again
    assert main([str(config_path), "--run-dir", str(run_dir), "--no-export", "--quiet", "--device", "cpu",
                 "--resume", "--set", "epochs=3"]) == 0
    assert len((run_dir / "log.jsonl").read_text().splitlines()) == 3


def test_saliency_is_larger_near_a_landmark_the_model_uses(tmp_path):
    from inline_ai.training.saliency import local_share, saliency_maps

    # a "model" whose lv_centre logit is the blurred input: the loss depends only on pixels near the spot
    class SpotNet(torch.nn.Module):
        def forward(self, x):
            blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
            zeros = torch.zeros_like(x)
            return torch.cat([zeros, zeros - 9.0, zeros - 9.0, 20.0 * blurred - 10.0], dim=1)

    rows, cols = np.mgrid[0:32, 0:32]
    image = np.exp(-((rows - 10) ** 2 + (cols - 20) ** 2) / 6.0)[None, None].astype(np.float32)
    points = np.array([[[np.nan, np.nan], [np.nan, np.nan], [10.0, 20.0]]])
    saliency, probabilities = saliency_maps(SpotNet(), image, points, sigma_px=2.0)
    assert saliency.shape == (1, 32, 32) and probabilities.shape == (1, 4, 32, 32)
    assert local_share(saliency[0], points[0], radius_px=6) > 0.8
    assert local_share(saliency[0], np.array([[0.0, 0.0]]), radius_px=6) < 0.1


def test_distributed_setup_without_torchrun_is_single_process(monkeypatch):
    from inline_ai.training.trainer import pick_device, setup_distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    dist = setup_distributed("cpu")
    assert (dist.rank, dist.world_size, dist.is_main) == (0, 1, True)
    assert pick_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            pick_device("cuda")


def test_context_batch_stacks_neighbours_swaps_and_blanks_them():
    from inline_ai.training.trainer import blank_indices, context_batch, with_blank

    images = with_blank(torch.arange(1.0, 5.0).view(4, 1, 1).expand(4, 2, 2).contiguous())  # image i is all i+1
    neighbours = blank_indices(np.array([[-1, 1], [0, 2], [1, -1], [-1, -1]]), 4)
    indices = torch.tensor([0, 1, 2, 3])
    plain = context_batch(images, neighbours, indices, context_slices=1)
    assert plain.shape == (4, 3, 2, 2)
    assert plain[:, :, 0, 0].tolist() == [[1, 0, 2], [2, 1, 3], [3, 2, 0], [4, 0, 0]]
    assert context_batch(images, neighbours, indices, context_slices=0).shape == (4, 1, 2, 2)
    generator = torch.Generator().manual_seed(0)
    many = torch.tensor([1] * 400)
    swapped = context_batch(images, neighbours, many, 1, 0.0, generator)[:, 1:, 0, 0]
    share = float((swapped[:, 0] == 3).float().mean())
    assert 0.4 < share < 0.6 and set(swapped[:, 0].tolist()) == {1.0, 3.0}
    dropped = context_batch(images, neighbours, many, 1, 0.5, generator)[:, 1:, 0, 0]
    assert 0.4 < float((dropped == 0).float().mean()) < 0.6


def test_prepared_set_keeps_stacks_through_save_subset_and_concatenate(tmp_path):
    from inline_ai.dataset import load_case

    _write_spot_dataset(tmp_path / "data", patients=2)
    cases = [load_case(tmp_path / "data" / f"spot_p{p:02d}_c.npz") for p in range(2)]
    cases[0].phase, cases[0].slice_index = np.array(["ED", "ES", "ED"]), np.array([0, 0, 1])
    prepared = prepare_cases(cases, cases[0].landmark_names, 4.0, (40, 40))
    loaded = PreparedSet.load(prepared.save(tmp_path / "set.npz"))
    table = loaded.neighbours()
    assert table[:3].tolist() == [[-1, 2], [-1, -1], [0, -1]]  # ED slices 0-1 linked, ES alone
    assert table[3:].tolist() == [[-1, 4], [3, 5], [4, -1]]  # no phase: one stack in image order
    joined = PreparedSet.concatenate([loaded.subset(np.arange(3, 6)), loaded.subset(np.arange(3))])
    assert joined.neighbours().tolist() == [[-1, 1], [0, 2], [1, -1], [-1, 5], [-1, -1], [3, -1]]


def _train_tiny(tmp_path: Path, config: dict) -> Path:
    """Write ``config`` as a YAML (JSON) file, train and export it; return the models folder."""
    from inline_ai.training.cli import main

    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(json.dumps(config))
    models = tmp_path / "models"
    assert main([str(config_path), "--run-dir", str(tmp_path / "run"), "--export-dir", str(models), "--quiet",
                 "--device", "cpu"]) == 0
    return models


def test_export_checkpoint_last_exports_the_final_weights_and_says_so(tmp_path):
    import onnxruntime as ort

    from inline_ai.training.cli import main
    from inline_ai.training.export import model_from_checkpoint

    _write_spot_dataset(tmp_path / "data")
    config = {
        "name": "tiny_last", "view_family": "sax", "input_size": [32, 32], "pixel_size_mm": 4.0, "work_margin": 4,
        "depth": 2, "base_channels": 4, "batch_size": 4, "epochs": 2, "steps_per_epoch": 2, "val_pattern": "p03$",
        "sources": [{"path": str(tmp_path / "data"), "kind": "real"}],
        "trained_on": "synthetic: spots (test)", "validated_on": "synthetic: spot patient p03",
    }
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(json.dumps(config))
    run, models = tmp_path / "run", tmp_path / "models"
    assert main([str(config_path), "--run-dir", str(run), "--export-dir", str(models), "--quiet", "--device", "cpu",
                 "--export-checkpoint", "last"]) == 0
    card = json.loads((models / "tiny_last.json").read_text())
    assert card["exported_checkpoint"] == "last" and card["metrics"]["training_validation"]["epoch"] == 2
    image = np.random.default_rng(3).normal(size=(1, 1, 32, 32)).astype(np.float32)
    session = ort.InferenceSession(str(models / "tiny_last.onnx"))
    exported = session.run(None, {session.get_inputs()[0].name: image})[0]
    with torch.no_grad():
        last = model_from_checkpoint(run / "checkpoint_last.pt")[0].eval()(torch.from_numpy(image)).numpy()
    np.testing.assert_allclose(exported, last, atol=1e-4)


def test_tiny_context_training_exports_a_three_channel_model_the_detector_feeds(tmp_path):
    from inline_ai.detector import LandmarkDetector
    from inline_ai.runtime import clear_model_cache, load_model

    _write_spot_dataset(tmp_path / "data")
    config = {
        "name": "tiny_ctx", "view_family": "sax", "input_size": [32, 32], "pixel_size_mm": 4.0, "work_margin": 4,
        "depth": 2, "base_channels": 4, "batch_size": 4, "epochs": 1, "steps_per_epoch": 2, "val_pattern": "p03$",
        "context_slices": 1, "sources": [{"path": str(tmp_path / "data"), "kind": "real"}],
        "trained_on": "synthetic: spots (test)", "validated_on": "synthetic: spot patient p03",
    }
    models = _train_tiny(tmp_path, config)
    card = json.loads((models / "tiny_ctx.json").read_text())
    assert card["context_slices"] == 1 and card["export_parity"]["onnx_max_abs_diff"] <= 1e-4
    clear_model_cache()
    model = load_model(models / "tiny_ctx.json")
    assert model.card.input_channels == 3
    with pytest.raises(Exception, match="batch must be"):
        model.predict(np.zeros((1, 1, 32, 32), np.float32))
    detector = LandmarkDetector(model)
    images = np.random.default_rng(1).uniform(0, 100, (3, 64, 64)).astype(np.float32)
    batch, _ = detector.prepare(list(images), np.full((3, 2), 2.0), [(None, images[1]), (images[0], images[2]),
                                                                         (images[1], None)])
    assert batch.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(batch[1, 1], batch[0, 0])  # the neighbour is resampled like the image itself
    np.testing.assert_array_equal(batch[1, 2], batch[2, 0])
    assert not batch[0, 1].any() and not batch[2, 2].any()
    alone, _ = detector.prepare(list(images), np.full((3, 2), 2.0))
    assert not alone[:, 1:].any()
    with_context = detector.detect(images, (2.0, 2.0), threshold=0.0, context=[(None, images[1])] * 3)
    without = detector.detect(images, (2.0, 2.0), threshold=0.0)
    assert not np.allclose(with_context.confidence, without.confidence)
    with pytest.raises(ValueError, match="context must give"):
        detector.detect(images, (2.0, 2.0), context=[(None, None)])


def test_axis_crop_preparation_puts_the_tip_below_the_pair_and_skips_incomplete_images(tmp_path):
    _write_spot_dataset(tmp_path / "data", patients=1)
    from inline_ai.dataset import load_case

    case = load_case(tmp_path / "data" / "spot_p00_c.npz")
    case.landmarks[2, 0] = np.nan  # image 2 lacks its anterior RV insertion: no crop for it
    prepared = prepare_cases([case], case.landmark_names, 2.0, (48, 40), crop="sax_axis")
    assert prepared.images.shape == (2, 48, 40) and prepared.crop == "sax_axis"
    pair_mid = prepared.points[:, :2].mean(axis=1)
    tip = prepared.points[:, 2]
    np.testing.assert_allclose(tip[:, 1], pair_mid[:, 1], atol=1e-4)  # on one column...
    assert (tip[:, 0] > pair_mid[:, 0]).all()  # ...the LV centre below the RV insertions
    np.testing.assert_allclose((tip[:, 0] + pair_mid[:, 0]) / 2, 23.5, atol=1e-4)  # centred
    # the crop's bright spot (the LV centre, brightest) sits at its mapped point
    peak = np.unravel_index(np.argmax(prepared.images[0]), (48, 40))
    np.testing.assert_allclose(peak, tip[0], atol=1.5)
    assert PreparedSet.load(prepared.save(tmp_path / "crop.npz")).crop == "sax_axis"
    with pytest.raises(ValueError, match="crop must be one of"):
        prepare_cases([case], case.landmark_names, 1.0, (48, 40), crop="heart")


def test_config_checks_the_crop_against_the_landmarks():
    with pytest.raises(ValueError, match="lv_axis crop needs the landmarks"):
        config_from_dict({"name": "x", "view_family": "sax", "sources": [], "crop": "lv_axis"})
    assert config_from_dict({"name": "x", "view_family": "lax", "sources": [], "crop": "lv_axis"}).crop == "lv_axis"


def _write_mask_dataset(directory: Path, patients: int = 4) -> None:
    """Tiny SAX cases with label masks (round LV, RV against it), landmarks by the labels' rule."""
    from model_factory import render_mask_image, sax_label_mask

    from inline_ai.mask_landmarks import mask_landmarks

    rng = np.random.default_rng(0)
    for p in range(patients):
        masks, images, landmarks = [], [], []
        for _ in range(2):
            centre = np.array([40.0, 46.0]) + rng.uniform(-3, 3, 2)
            mask = sax_label_mask((80, 80), tuple(centre), tuple(centre + [-10.0, -20.0]), cavity_px=8, wall_px=4,
                                  rv_px=14)
            found = mask_landmarks(mask)
            ends = found.rv_ends[np.argsort(found.rv_ends[:, 0])]
            masks.append(mask)
            images.append(render_mask_image(mask) + rng.normal(0, 10, mask.shape).astype(np.float32))
            landmarks.append(np.vstack([ends, found.lv_centre[None]]))
        case = LandmarkCase(np.stack(images), np.array([1.5, 1.5], np.float32), np.stack(landmarks).astype(np.float32),
                            ("anterior_rv_insertion", "inferior_rv_insertion", "lv_centre"), "sax", "cine",
                            mask=np.stack(masks))
        save_case(directory / f"mask_p{p:02d}_c.npz", case)


def test_prepared_masks_follow_the_crop_and_survive_save_subset_and_concatenate(tmp_path):
    from inline_ai.dataset import load_case
    from inline_ai.training.trainer import mask_points

    _write_mask_dataset(tmp_path / "data", patients=1)
    case = load_case(tmp_path / "data" / "mask_p00_c.npz")
    prepared = prepare_cases([case], case.landmark_names, 1.0, (64, 64), crop="sax_axis", with_masks=True)
    assert prepared.masks.shape == (2, 64, 64) and prepared.masks.dtype == np.uint8
    assert set(np.unique(prepared.masks)) == {0, 1, 2, 3}
    classes = torch.nn.functional.one_hot(torch.from_numpy(prepared.masks).long(), 4).permute(0, 3, 1, 2).float()
    points = torch.from_numpy(prepared.points)
    found = mask_points(classes, points, 1.0)  # the rule on the rotated 1 mm crop: within about a pixel
    assert torch.linalg.norm(found - points, dim=-1).max() < 2.0
    loaded = PreparedSet.load(prepared.save(tmp_path / "set.npz"))
    np.testing.assert_array_equal(loaded.masks, prepared.masks)
    np.testing.assert_array_equal(loaded.subset(np.array([1])).masks, prepared.masks[1:])
    assert PreparedSet.concatenate([loaded, loaded]).masks.shape == (4, 64, 64)
    plain = prepare_cases([case], case.landmark_names, 1.0, (64, 64), crop="sax_axis")
    with pytest.raises(ValueError, match="masks"):
        PreparedSet.concatenate([loaded, plain])
    case.mask = None
    with pytest.raises(ValueError, match="no label mask"):
        prepare_cases([case], case.landmark_names, 1.0, (64, 64), with_masks=True)


def test_masks_move_with_the_image_through_augmentation():
    from model_factory import MASK_LEVELS, sax_label_mask

    from inline_ai.training.augment import augment_with_masks
    from inline_ai.training.targets import mask_targets

    mask = torch.from_numpy(sax_label_mask((72, 72), (36.0, 40.0), (28.0, 22.0), cavity_px=8, wall_px=4,
                                           rv_px=14)).long()
    levels = torch.tensor(MASK_LEVELS)
    images = levels[mask].expand(6, 1, 72, 72).clone()
    classes = torch.nn.functional.one_hot(mask, 4).permute(2, 0, 1).expand(6, 4, 72, 72).float()
    geometry_only = AugmentSettings(rotation_deg=30, shift_px=6, flip_lr_p=0.5, flip_ud_p=0.5, noise_p=0, blur_p=0,
                                    shading_p=0, gamma_p=0)
    out, _, moved = augment_with_masks(images, torch.zeros(6, 3, 2), classes, (56, 56), geometry_only,
                                       torch.Generator().manual_seed(3))
    targets = mask_targets(moved)
    torch.testing.assert_close(targets.sum(dim=1), torch.ones(6, 56, 56))
    from_image = (out - levels.view(1, -1, 1, 1)).abs().argmin(dim=1)  # the class whose level the pixel has
    agree = (targets.argmax(dim=1) == from_image).float().mean()
    assert agree > 0.95  # the same pixels (blended edges aside)
    assert not torch.equal(targets[0], targets[1])  # and each image moved its own way


def test_config_checks_the_mask_rule():
    config = config_from_dict({"name": "x", "view_family": "sax", "sources": [], "mask_rule": "sax",
                               "crop": "sax_axis"})
    assert config.channels == ["background", "rv_cavity", "lv_myocardium", "lv_cavity"]
    with pytest.raises(ValueError, match="view_family: sax"):
        config_from_dict({"name": "x", "view_family": "lax", "sources": [], "mask_rule": "sax"})
    with pytest.raises(ValueError, match="mask_rule must be"):
        config_from_dict({"name": "x", "view_family": "sax", "sources": [], "mask_rule": "rv"})
    with pytest.raises(ValueError, match="crop_incomplete needs"):
        config_from_dict({"name": "x", "view_family": "sax", "sources": [], "crop": "sax_axis",
                          "crop_incomplete": True})
    phantom = config_from_dict({"name": "x", "view_family": "sax", "mask_rule": "sax", "crop": "sax_axis",
                                "sources": [{"path": "x", "phantom": {"subjects": 1}}]})
    assert phantom.sources[0].phantom == {"subjects": 1}  # the phantom's label maps train a mask model too


def test_phantom_cases_prepare_with_label_maps_the_rule_reads(tmp_path):
    from inline_ai.landmarks import SAX_LANDMARKS
    from inline_ai.mask_landmarks import mask_landmarks
    from inline_ai.training.phantom_source import prepare_phantom

    spec = {"views": ["sax"], "subjects": 1, "first_seed": 7, "phases": "ed_es"}
    prepared = prepare_phantom(tmp_path, spec, SAX_LANDMARKS, 1.0, (96, 96), workers=1, crop="sax_axis",
                               with_masks=True)
    assert prepared.masks is not None and prepared.masks.shape == prepared.images.shape
    assert set(np.unique(prepared.masks)) == {0, 1, 2, 3}
    for mask, points in zip(prepared.masks, prepared.points, strict=True):
        read = mask_landmarks(mask, reach=1).points(points)  # the phantom's own rule, on the crop grid
        assert np.linalg.norm(read - points, axis=1).max() < 1.5  # within resampling of the true points
    without = prepare_phantom(tmp_path, spec, SAX_LANDMARKS, 1.0, (96, 96), workers=1, crop="sax_axis")
    assert without.masks is None and len(without) == len(prepared)


def test_tiny_mask_training_exports_a_refiner_the_detector_uses(tmp_path):
    from model_factory import make_test_model

    from inline_ai.detector import LandmarkDetector
    from inline_ai.runtime import load_model
    from inline_ai.training.cli import main

    _write_mask_dataset(tmp_path / "data")
    config = {
        "name": "tiny_mask", "view_family": "sax", "crop": "sax_axis", "mask_rule": "sax", "input_size": [32, 32],
        "pixel_size_mm": 2.0, "work_margin": 4, "depth": 2, "base_channels": 4, "batch_size": 4, "epochs": 2,
        "steps_per_epoch": 2, "val_pattern": "p03$", "kl_weight": 1e-3, "background_prior": 0.7,
        "sources": [{"path": str(tmp_path / "data"), "kind": "real", "prepared": str(tmp_path / "prep.npz")}],
        "trained_on": "synthetic: masks (test)", "validated_on": "synthetic: mask patient p03",
    }
    models = _train_tiny(tmp_path, config)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and all("val_detection_rate" in record for record in log)
    assert PreparedSet.load(tmp_path / "prep.npz").masks is not None
    card = json.loads((models / "tiny_mask.json").read_text())
    assert card["mask_rule"] == "sax" and card["channels"] == ["background", "rv_cavity", "lv_myocardium", "lv_cavity"]
    refiner = load_model(models / "tiny_mask.json")
    assert refiner.card.landmark_names == ("anterior_rv_insertion", "inferior_rv_insertion", "lv_centre")
    make_test_model(models, name="spots_sax", view_family="sax")
    assert LandmarkDetector(models / "spots_sax.json", refine_with=models / "tiny_mask.json").refiner is refiner
    # a prepared set without masks does not feed a mask model
    config["mask_rule"] = ""
    config_path = tmp_path / "no_masks.yaml"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="label masks"):
        main([str(config_path), "--run-dir", str(tmp_path / "run2"), "--no-export", "--quiet", "--device", "cpu"])


def test_a_mask_model_also_learns_from_images_lacking_a_landmark(tmp_path):
    from inline_ai.dataset import load_case

    _write_mask_dataset(tmp_path / "data", patients=1)
    case = load_case(tmp_path / "data" / "mask_p00_c.npz")
    case.mask[1][case.mask[1] == 1] = 0  # image 1: no RV drawn, so no RV insertion points
    case.landmarks[1, :2] = np.nan
    heatmap_crops = prepare_cases([case], case.landmark_names, 1.0, (64, 64), crop="sax_axis")
    assert len(heatmap_crops) == 1  # a heat-map refinement model needs all three points
    assert len(prepare_cases([case], case.landmark_names, 1.0, (64, 64), crop="sax_axis", with_masks=True)) == 1
    with pytest.raises(ValueError, match="crop_incomplete"):
        prepare_cases([case], case.landmark_names, 1.0, (64, 64), crop="sax_axis", crop_incomplete=True)
    mask_crops = prepare_cases([case], case.landmark_names, 1.0, (64, 64), crop="sax_axis", with_masks=True,
                               crop_incomplete=True)
    assert len(mask_crops) == 2 and np.isnan(mask_crops.points[1, :2]).all()
    assert 1 not in mask_crops.masks[1] and (mask_crops.masks[1] == 3).any()  # its own mask, cropped
    # placed by the other slice's insertion points and its own LV centre: the cavity sits where it maps
    cavity = np.argwhere(mask_crops.masks[1] == 3).mean(axis=0)
    np.testing.assert_allclose(cavity, mask_crops.points[1, 2], atol=1.0)
    case.landmarks[0, :2] = np.nan  # no slice of the stack has the insertion points: nothing to place a crop
    assert len(prepare_cases([case], case.landmark_names, 1.0, (64, 64), crop="sax_axis", with_masks=True,
                             crop_incomplete=True)) == 0


def test_ema_training_keeps_and_exports_the_averaged_weights(tmp_path):
    from inline_ai.training.cli import main

    config, config_path = _tiny_spot_config(tmp_path, "tiny_ema", ema_decay=0.5)
    run_dir = tmp_path / "run"
    assert main([str(config_path), "--run-dir", str(run_dir), "--no-export", "--quiet", "--device", "cpu"]) == 0
    last = torch.load(run_dir / "checkpoint_last.pt", weights_only=False)
    best = torch.load(run_dir / "checkpoint_best.pt", weights_only=False)  # epoch 1: the only one, so the best
    assert int(last["ema"]["n_averaged"]) == 3  # every optimiser step
    averaged = {k.removeprefix("module."): v for k, v in last["ema"].items() if k.startswith("module.")}
    raw = last["model"]
    assert averaged.keys() == raw.keys() == best["model"].keys()
    assert any(not torch.equal(averaged[k], raw[k]) for k in raw if raw[k].is_floating_point())
    assert all(torch.equal(best["model"][k], averaged[k]) for k in averaged)  # the averaged weights are kept
    assert best["metadata"]["ema_decay"] == 0.5
    # resume continues the average
    assert main([str(config_path), "--run-dir", str(run_dir), "--no-export", "--quiet", "--device", "cpu",
                 "--resume", "--set", "epochs=2"]) == 0
    assert int(torch.load(run_dir / "checkpoint_last.pt", weights_only=False)["ema"]["n_averaged"]) == 6
    with pytest.raises(ValueError, match="ema_decay"):
        config_from_dict({**config, "ema_decay": 1.0})


def test_cosine_schedule_decays_the_rate_over_the_configured_epochs(tmp_path):
    from inline_ai.training.cli import main

    _write_spot_dataset(tmp_path / "data")
    config = {
        "name": "tiny_cosine", "view_family": "sax", "input_size": [32, 32], "pixel_size_mm": 4.0, "work_margin": 4,
        "depth": 2, "base_channels": 4, "batch_size": 4, "epochs": 4, "steps_per_epoch": 1, "val_pattern": "p03$",
        "sources": [{"path": str(tmp_path / "data"), "kind": "real"}], "lr": 1e-3, "min_lr": 1e-5,
        "lr_schedule": "cosine", "trained_on": "synthetic: spots (test)", "validated_on": "synthetic: spot patient p03",
    }
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(json.dumps(config))
    run_dir = tmp_path / "run"
    assert main([str(config_path), "--run-dir", str(run_dir), "--no-export", "--quiet", "--device", "cpu"]) == 0
    rates = [json.loads(line)["lr"] for line in (run_dir / "log.jsonl").read_text().splitlines()]
    expected = [1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * epoch / 4)) / 2 for epoch in range(4)]
    np.testing.assert_allclose(rates, expected, rtol=1e-6)  # whatever the validation loss did
    last = torch.load(run_dir / "checkpoint_last.pt", weights_only=False)
    assert last["metadata"]["lr_schedule"] == "cosine"
    assert last["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-5)  # decayed to min_lr at the end
    with pytest.raises(ValueError, match="lr_schedule"):
        config_from_dict({**config, "lr_schedule": "step"})
    assert config_from_dict({**config, "min_lr": "1e-5"}).min_lr == 1e-5  # as YAML reads 1e-5
    with pytest.raises(ValueError, match="min_lr must be a number"):
        config_from_dict({**config, "min_lr": "tiny"})


def test_bf16_precision_trains_on_the_cpu_and_exports_float32(tmp_path):
    from inline_ai.training.cli import main
    from inline_ai.training.trainer import uses_bf16

    assert uses_bf16("auto", "cuda") and not uses_bf16("auto", "cpu")
    assert uses_bf16("bf16", "cpu") and not uses_bf16("fp32", "cuda")
    config, config_path = _tiny_spot_config(tmp_path, "tiny_bf16")
    losses = {}
    for precision in ("fp32", "bf16"):
        run_dir, models = tmp_path / precision, tmp_path / f"models_{precision}"
        assert main([str(config_path), "--run-dir", str(run_dir), "--export-dir", str(models), "--quiet",
                     "--device", "cpu", "--set", f"precision={precision}"]) == 0
        losses[precision] = json.loads((run_dir / "log.jsonl").read_text().splitlines()[0])["loss"]
        best = torch.load(run_dir / "checkpoint_best.pt", weights_only=False)
        assert best["metadata"]["precision"] == precision
        assert all(v.dtype == torch.float32 for v in best["model"].values() if v.is_floating_point())
        card = json.loads((models / "tiny_bf16.json").read_text())
        assert card["export_parity"]["onnx_max_abs_diff"] <= 1e-4
    # the same seed and data: bf16 autocast changes the arithmetic, not the training
    assert losses["bf16"] != losses["fp32"]
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.05)
    with pytest.raises(ValueError, match="precision"):
        config_from_dict({**config, "precision": "fp16"})


def test_standard_handedness_flips_the_mirrored_phantom_cases_back_with_their_points_and_masks(tmp_path):
    from dataclasses import replace

    from inline_ai.display import handedness
    from inline_ai.landmarks import SAX_LANDMARKS
    from inline_ai.phantom.generate import generate_case
    from inline_ai.training.data import mirrored_images, with_standard_handedness

    cases = []
    for name, mirror in (("standard", 0.0), ("mirrored", 1.0)):
        case = generate_case("sax", "cine", 5, "ed_es", planning={"mirror_probability": mirror})
        case = replace(case, case_id=f"phantom_{name}_sax")
        save_case(tmp_path / f"{case.case_id}.npz", case)
        cases.append(case)
    prepared = prepare_cases(cases, SAX_LANDMARKS, 2.0, (96, 96), kind="synthetic", with_masks=True)
    flags = mirrored_images(tmp_path, prepared.case_ids)
    assert flags.any() and not flags.all()
    before = handedness(prepared.points)
    assert (before[~flags & (before != 0)] > 0).all() and (before[flags & (before != 0)] < 0).all()
    standard = with_standard_handedness(prepared, flags)
    after = handedness(standard.points)
    assert (after[after != 0] > 0).all() and np.array_equal(after != 0, before != 0)
    np.testing.assert_array_equal(standard.images[~flags], prepared.images[~flags])
    for mask, points in zip(standard.masks[flags], standard.points[flags], strict=True):
        if np.isfinite(points[2]).all():  # the LV centre still sits on the flipped LV cavity
            assert np.linalg.norm(np.argwhere(mask == 3).mean(axis=0) - points[2]) < 1.5
    with pytest.raises(ValueError, match="mirrored flags"):
        with_standard_handedness(prepared, flags[:-1])
