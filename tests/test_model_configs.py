"""Every shipped model's card names a training config that would make the same model.

A model is reproducible only if the command on its card still reads a config whose input grid, target and
network match the shipped file; this catches a config edited after the model was exported (or the reverse).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from inline_ai.training.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CARDS = sorted((ROOT / "models").glob("*.json"))
CONFIG_PATTERN = re.compile(r"^config/training/[\w.-]+\.yaml$")


def _training_configs(command: str) -> list[Path]:
    """The ``config/training/*.yaml`` files a card's training command trains from."""
    return [ROOT / token for token in shlex.split(command.replace(";", " ; ")) if CONFIG_PATTERN.match(token)]


def test_every_shipped_model_has_a_card() -> None:
    assert len(CARDS) >= 4, "the shipped models' cards are missing from models/"


@pytest.mark.parametrize("card_path", CARDS, ids=[p.stem for p in CARDS])
def test_card_training_command_matches_its_config(card_path: Path) -> None:
    card = json.loads(card_path.read_text())
    configs = _training_configs(card["training_command"])
    assert configs, f"{card_path.name}: its training command names no config/training/*.yaml"
    architecture = card["architecture"]
    for path in configs:
        config = load_config(path)
        where = f"{card_path.name} vs {path.relative_to(ROOT)}"
        assert config.name == card["name"], where
        assert list(config.input_size) == list(card["input_size"]), where
        assert config.pixel_size_mm == pytest.approx(card["pixel_size_mm"]), where
        assert config.sigma_mm == pytest.approx(card["heatmap_sigma_mm"]), where
        assert config.depth == architecture["depth"], where
        assert config.base_channels == architecture["base_channels"], where
        assert list(config.views) == list(card["views"]), where
        assert config.view_family == card["view_family"], where
        assert config.context_slices == card.get("context_slices", 0), where
        assert (config.crop or None) == (card.get("crop") or None), where
