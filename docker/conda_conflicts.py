"""Print the conda packages whose site-packages files a staged pip install would overwrite.

Run with the environment's own Python in the image build: ``python conda_conflicts.py STAGE``,
where STAGE is the ``pip install --prefix`` folder that will be copied over the environment.
A conda package owning a top-level module folder (or module file) that the stage also holds is
printed, space separated, so the build can remove it before the copy and no folder ends up
mixing files of two versions (e.g. ismrmrd-python 1.14 under pip's ismrmrd 1.15, or onnxruntime
under onnxruntime-gpu).
"""

from __future__ import annotations

import json
import sys
import sysconfig
from pathlib import Path


def staged_top_levels(stage_site: Path) -> set[str]:
    """Top-level names the stage installs into site-packages (metadata folders excluded)."""
    if not stage_site.is_dir():
        return set()
    return {path.name for path in stage_site.iterdir()
            if not path.name.endswith((".dist-info", ".egg-info", ".pth")) and path.name != "__pycache__"}


def conflicting_packages(env: Path, site_relative: str, staged: set[str]) -> list[str]:
    """Names of conda packages in ``env`` owning any ``site_relative/<name>`` with ``name`` in ``staged``."""
    prefix = site_relative.rstrip("/") + "/"
    owners: set[str] = set()
    for record_path in sorted((env / "conda-meta").glob("*.json")):
        record = json.loads(record_path.read_text())
        for file in record.get("files", []):
            if file.startswith(prefix) and file[len(prefix):].split("/", 1)[0] in staged:
                owners.add(str(record["name"]))
                break
    return sorted(owners)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python conda_conflicts.py STAGE_PREFIX", file=sys.stderr)
        return 2
    env = Path(sys.prefix)
    site_relative = Path(sysconfig.get_path("purelib")).relative_to(env).as_posix()
    staged = staged_top_levels(Path(argv[0]) / site_relative)
    print(" ".join(conflicting_packages(env, site_relative, staged)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
