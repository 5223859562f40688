"""``glare-studio [PHOTO ...]``: start the desktop app."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from app.main_window import FULL, MODEL, OPEN, MainWindow
from app.settings import APP_NAME, load_settings
from glare_core.resources import app_icon_path

logger = logging.getLogger(__name__)

#: time for the view to repaint with the new result before a screenshot grabs it
SCREENSHOT_DELAY_MS = 200


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=APP_NAME, description="Enhance dark photos with GLARE.")
    # several (a file manager's "Open with" passes each selected file): the first opens
    parser.add_argument(
        "photos", nargs="*", type=Path, help="photo to open (of several: the first)"
    )
    # for docs and checks: save a screenshot of the window after the first full result, quit
    parser.add_argument("--screenshot", type=Path, help=argparse.SUPPRESS)
    # photos after an option too, as a file manager may pass them
    return parser.parse_intermixed_args(argv)


def install_excepthook(window: MainWindow) -> None:
    """An unexpected error in the GUI thread becomes a dialog, not a crash."""

    def hook(
        kind: type[BaseException], value: BaseException, traceback: TracebackType | None
    ) -> None:
        logger.error("unexpected error", exc_info=(kind, value, traceback))
        QMessageBox.critical(window, "Glare Studio", f"Unexpected error: {value}")

    sys.excepthook = hook


def save_screenshot_after_full(window: MainWindow, path: Path) -> None:
    """Grab the window once the first full result shows, or once the photo, the model or
    the full result has failed (no result will come then: the window as it is, and quit)."""

    asked: list[bool] = []

    def grab_soon() -> None:
        if not asked:  # once: a model that fails and a photo that fails both say so
            asked.append(True)
            # let the view repaint with the new pixmap before grabbing
            QTimer.singleShot(SCREENSHOT_DELAY_MS, lambda: _grab_and_quit(window, path))

    window.shown.connect(lambda kind: grab_soon() if kind == FULL else None)
    window.failed.connect(
        lambda kind, message: grab_soon() if kind in (OPEN, MODEL, FULL) else None
    )


def _grab_and_quit(window: MainWindow, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(path))
    logger.info("screenshot saved to %s", path)
    window.close()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setWindowIcon(QIcon(str(app_icon_path())))
    window = MainWindow(load_settings())
    install_excepthook(window)
    if args.screenshot is not None:
        save_screenshot_after_full(window, args.screenshot)
    window.show()
    window.load_model()
    window.open_initial(args.photos)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
