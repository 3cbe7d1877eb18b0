"""Where the project finds its models and the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def models_dir() -> Path:
    """Directory of shipped models: $INLINE_AI_MODELS, else ``models/`` beside the package."""
    env = os.environ.get("INLINE_AI_MODELS")
    if env:
        return Path(env)
    return REPO_DIR / "models"


def shared_data_dir() -> Path:
    """The labelled data folder: $INLINE_AI_DATA, else ``../shared/data`` from the project root."""
    env = os.environ.get("INLINE_AI_DATA")
    if env:
        return Path(env)
    return REPO_DIR.parent / "shared" / "data"
