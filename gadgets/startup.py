"""The start of every stand-alone host (``inline-ai serve``, OpenRecon, MRD v2): logging, the
installed models, settings from ``--model``/``--set`` and, for servers, the model check."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from .gadget_config import ConfigError, settings_from_command_line
from .landmark_gadget import _check_model, use_installed_models


@dataclass
class Startup:
    """What a host starts with: usable settings, or the exit code to stop with."""

    settings: Any = None  # inline_ai.pipeline.AnalysisSettings when usable
    exit_code: int = 0  # 2 = bad settings, 1 = the model cannot be used
    model_load_s: float = 0.0


def start_host(tag: str, prog: str, assignments: Sequence[str], *, check_model: bool = True,
               log_stream: TextIO | None = None, **overrides: Any) -> Startup:
    """Configure logging (``[tag pid]`` on every line, level ``INLINE_AI_LOG_LEVEL``), use the installed
    models, parse the settings and, with ``check_model``, load the configured model once.

    Errors are printed as one ``prog: reason`` line on stderr and returned as an exit code.
    """
    logging.basicConfig(level=os.environ.get("INLINE_AI_LOG_LEVEL", "INFO"), stream=log_stream or sys.stderr,
                        format=f"%(asctime)s %(levelname)s [{tag} %(process)d] %(message)s")
    use_installed_models()
    try:
        settings = settings_from_command_line(assignments, **overrides)
    except ConfigError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return Startup(exit_code=2)
    if not check_model:
        return Startup(settings)
    started = time.perf_counter()
    reason = _check_model(settings)
    if reason:
        print(f"{prog}: {reason}", file=sys.stderr)
        return Startup(exit_code=1)
    return Startup(settings, 0, time.perf_counter() - started)
