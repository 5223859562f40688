"""Entry point of the frozen app: ``glare-studio [PHOTO]``, or ``glare-studio --self-test``.

``--self-test`` enhances the bundled sample without a window (see :mod:`glare_core.selftest`),
then starts Qt without showing anything, so that a build missing a torch or a Qt part fails it.
Set ``QT_QPA_PLATFORM=offscreen`` to run it without a display.
"""

from __future__ import annotations

import sys

SELF_TEST_FLAG = "--self-test"


def check_gui() -> int:
    """Import every app module and start a QApplication: the Qt libraries and plugins load."""
    from PySide6 import __version__ as pyside_version
    from PySide6.QtWidgets import QApplication

    import app.main  # noqa: F401 - importing is the check

    qt = QApplication.instance() or QApplication(sys.argv[:1])
    print(f"self-test: Qt {pyside_version} started on the {qt.platformName()} platform")
    return 0


def self_test() -> int:
    from glare_core.log import setup_logging
    from glare_core.selftest import EXIT_PASSED, run_self_test

    setup_logging(0)
    enhanced = run_self_test()
    return enhanced if enhanced != EXIT_PASSED else check_gui()


def main() -> int:
    if SELF_TEST_FLAG in sys.argv[1:]:
        return self_test()
    from app.main import main as run_app

    return run_app()


if __name__ == "__main__":
    sys.exit(main())
