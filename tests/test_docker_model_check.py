"""The container's start-up model check: valid cards, sha256 match, dry run, clear failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from model_factory import make_test_model

from inline_ai.model_check import check_models, main


@pytest.fixture()
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    make_test_model(folder, name="test_lax", view_family="lax", input_size=(32, 32))
    make_test_model(folder, name="test_sax", view_family="sax", input_size=(32, 32))
    return folder


def test_good_models_pass_with_dry_run(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--models", str(models), "--load"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert all(line.startswith("OK") and "dry run ok" in line for line in out)


def test_dry_run_feeds_a_context_model_its_neighbour_channels(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    make_test_model(folder, name="test_sax_context", view_family="sax", input_size=(32, 32), context_slices=1)
    statuses = check_models(folder, load=True)
    assert [s.ok for s in statuses] == [True] and "dry run ok" in statuses[0].message


def test_changed_model_file_fails_sha256(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (models / "test_sax.onnx").open("ab") as handle:
        handle.write(b"\0")
    assert main(["--models", str(models)]) == 1
    err = capsys.readouterr().err
    assert "FAIL test_sax.json" in err and "does not match" in err
    statuses = {s.card.name: s.ok for s in check_models(models)}
    assert statuses == {"test_lax.json": True, "test_sax.json": False}


def test_missing_model_file_and_bad_card_fail(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (models / "test_lax.onnx").unlink()
    card = json.loads((models / "test_sax.json").read_text())
    del card["channels"]
    (models / "test_sax.json").write_text(json.dumps(card))
    assert main(["--models", str(models), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "test_lax.onnx named by the card is missing" in err
    assert "missing required keys ['channels']" in err


def test_empty_or_absent_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["--models", str(tmp_path / "empty")]) == 2
    assert main(["--models", str(tmp_path / "absent")]) == 2
