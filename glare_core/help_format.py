"""How the ``glare`` commands lay out their ``--help``."""

from __future__ import annotations

import argparse


class ParagraphHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps one-paragraph descriptions to the terminal; keeps multi-line epilogs as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)
