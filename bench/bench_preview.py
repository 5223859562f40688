"""What a user of the app waits for, printed as a table: time to the first preview of a
12 MP photo, latency of one slider step while dragging, the screen preview after release, and
the full-size result before an export, with a change of photo colour alone after it.

    .venv/bin/python bench/bench_preview.py [--threads N] [--steps N] [--weights FILE]

It drives :class:`glare_core.session.Session`, the Qt-free state the app's worker runs, so the
numbers are the app's own minus painting. Goal (2 CPU cores, bundled model): one slider step
<= 100 ms. The 12 MP photo is the largest real photo in ../shared/data/photos, scaled to
4000x3000 and saved as a JPEG (what a phone gives).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "photos"
PHOTO_SIZE = (4000, 3000)
#: a maximised window on a 1920x1080 screen, less the side panel
VIEW_SIZE = (1560, 960)


def _twelve_megapixel_jpeg(folder: Path) -> Path:
    from PIL import Image

    largest = max(PHOTOS.glob("*.png"), key=lambda p: Image.open(p).size[0])
    path = folder / "photo-12mp.jpg"
    Image.open(largest).convert("RGB").resize(PHOTO_SIZE, Image.LANCZOS).save(path, quality=92)
    return path


def _percentiles(seconds: list[float]) -> str:
    ms = 1000 * np.asarray(seconds)
    return f"{np.median(ms):.0f} / {np.percentile(ms, 90):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="slider steps per control")
    parser.add_argument("--weights", help="weights file (default: the bundled model)")
    args = parser.parse_args()

    from glare_core.session import Controls, ModelChoice, Session, fit_box, load_enhancer

    weights = (args.weights,) if args.weights else ()
    enhancer = load_enhancer(ModelChoice(weights=weights, device="cpu", threads=args.threads))
    session = Session(enhancer)
    session.view_size = VIEW_SIZE
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        photo = _twelve_megapixel_jpeg(Path(folder))
        started = time.perf_counter()
        opened = session.open(photo, Controls())
        first_preview = time.perf_counter() - started
    rows.append(("open 12 MP JPEG -> first preview (s)", f"{first_preview:.2f}"))
    assert opened.drag_preview is not None

    for name, controls in (
        ("strength", [Controls(strength=s) for s in np.linspace(0.0, 2.0, args.steps)]),
        ("temperature", [Controls(temperature=t) for t in np.linspace(0.05, 1.0, args.steps)]),
        # these two act on the rendered preview: no network runs
        ("exposure", [Controls(exposure=e) for e in np.linspace(-2.0, 2.0, args.steps)]),
        ("photo colour", [Controls(photo_colour=c) for c in np.linspace(0.05, 1.0, args.steps)]),
    ):
        times = []
        for step in controls:
            started = time.perf_counter()
            session.drag_preview(step)
            times.append(time.perf_counter() - started)
        rows.append((f"{name} slider step, median / p90 (ms)", _percentiles(times)))
        drag = session.drag_features_size
        assert drag is not None
        rows.append(
            (f"{name} drag preview size", f"{drag[0]}x{drag[1]} ({drag[0] * drag[1] / 1e6:.2f} MP)")
        )

    started = time.perf_counter()
    session.screen_preview(Controls(strength=1.5))
    screen = fit_box(session.photo_size, session.view_size)
    rows.append(
        (
            f"screen preview {screen[0]}x{screen[1]} after release, first (s)",
            f"{time.perf_counter() - started:.2f}",
        )
    )
    started = time.perf_counter()
    session.screen_preview(Controls(strength=0.5))
    rows.append(("screen preview, next release (s)", f"{time.perf_counter() - started:.2f}"))

    for name, controls in (
        ("full result 4000x3000 (s)", Controls()),
        ("full result, photo colour 0.5 after it (s)", Controls(photo_colour=0.5)),
    ):
        started = time.perf_counter()
        session.full_result(controls)
        rows.append((name, f"{time.perf_counter() - started:.2f}"))

    print(f"| bench_preview ({args.threads} threads, view {VIEW_SIZE[0]}x{VIEW_SIZE[1]}) | |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
