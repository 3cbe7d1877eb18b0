"""The ``inline-ai`` command: a thin dispatcher to one module per sub-command.

Each sub-command lives in its own module exposing ``main(argv: list[str]) -> int``; modules are
imported only when their command runs, so ``inline-ai replay`` never imports torch.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "replay": ("inline_ai_gadgets.replay", "stream an ISMRMRD or DICOM series through the gadget and save results"),
    "serve": ("inline_ai_gadgets.serve", "run the gadget as a long-lived server for <connect port=.../> chains"),
    "openrecon": ("inline_ai_gadgets.openrecon", "serve the OpenRecon / python-ismrmrd-server MRD stream protocol"),
    "mrd2": ("inline_ai_gadgets.mrd2", "MRD v2 stream adapter: stdin to stdout (needs the mrd2 extra)"),
    "detect": ("inline_ai.detect", "detect landmarks in a landmark npz or ISMRMRD file, write JSON"),
    "evaluate": ("inline_ai.evaluate", "evaluate a model on a landmark dataset directory"),
    "compare": ("inline_ai.compare", "compare two evaluations of the same images (patient-bootstrap CIs)"),
    "bench": ("inline_ai_gadgets.bench", "time a series through a warm gadget (connect mode)"),
    "demo": ("inline_ai_gadgets.demo", "replay the bundled 4CH cine sample with lax_cine"),
    "phantom": ("inline_ai.phantom.cli", "make synthetic cardiac MR images with exact landmarks"),
    "train": ("inline_ai.training.cli", "train a landmark model from a YAML config (needs torch)"),
    "saliency": ("inline_ai.training.saliency", "saliency maps of a trained model (needs torch)"),
}


def _usage() -> str:
    lines = ["usage: inline-ai COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "Run 'inline-ai COMMAND --help' for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``inline-ai`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from inline_ai import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"inline-ai: unknown command '{name}'\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
