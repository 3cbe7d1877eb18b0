"""``cmake --install`` lays the gadget out for Gadgetron, and the installed copy runs in active mode."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from inline_ai_gadgets import chains, transport, wire
from model_factory import make_spot_series, make_test_model

from inline_ai.mrd_files import get_meta
from inline_ai.paths import REPO_DIR

pytestmark = pytest.mark.filterwarnings("ignore:A builtin ctypes object:RuntimeWarning")


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_install_layout_and_installed_gadget_runs(tmp_path):
    models = tmp_path / "models"
    make_test_model(models, name="test_lax", view_family="lax")
    prefix, build = tmp_path / "prefix", tmp_path / "build"
    configure = subprocess.run(
        ["cmake", "-S", str(REPO_DIR), "-B", str(build), f"-DCMAKE_INSTALL_PREFIX={prefix}",
         "-DINLINE_AI_PIP_INSTALL=OFF", f"-DINLINE_AI_MODELS_DIR={models}",
         f"-DPython3_EXECUTABLE={sys.executable}"], capture_output=True, text=True)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    install = subprocess.run(["cmake", "--install", str(build)], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    assert "pip-installing" not in install.stdout

    python_dir = prefix / "share" / "gadgetron" / "python"
    assert (python_dir / "inline_ai_gadgets" / "landmark_gadget.py").is_file()
    assert (python_dir / "inline_ai_models" / "test_lax.onnx").is_file()
    assert (python_dir / "inline_ai_models" / "test_lax.json").is_file()
    installed_chains = sorted(p.name for p in (prefix / "share" / "gadgetron" / "config").glob("*.xml"))
    assert installed_chains == sorted(p.name for p in (REPO_DIR / "config").glob("*.xml"))

    listed = subprocess.run(["ctest", "--test-dir", str(build), "-N"], capture_output=True, text=True)
    assert "Total Tests: 1" in listed.stdout

    # Run the INSTALLED gadget the way Gadgetron does, finding its model beside it (no INLINE_AI_MODELS).
    env = {key: value for key, value in os.environ.items() if key != "INLINE_AI_MODELS"}
    env["PYTHONPATH"] = str(python_dir)
    series = make_spot_series(phases=3)
    log_path = tmp_path / "gadget.log"
    with transport.active_gadget(log_path=log_path, env=env) as client:
        result = transport.stream_through(client, chains.make_configuration({"model": "test_lax"}),
                                          series.header_xml, series.images)
    log = log_path.read_text()
    assert str(python_dir / "inline_ai_gadgets") in log, log
    sent = [wire.encode_image(image) for image in series.images]
    assert [m.raw for m in result.messages[:3]] == sent
    ai = [m.item for m in result.messages[3:]]
    assert ai and all(get_meta(image).get("AI_Model") == "test_lax" for image in ai), log
