"""The go/no-go on disk: the stories' JSON results it reads back (`--reuse`), and the report it
writes (`reports/<run>/report.md`, `report.json` and the PNGs), every file written atomically."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from feedcheck.analysis.origin_time_streams import OriginTimeResult
from feedcheck.binance.validate_result import CaptureValidation
from feedcheck.errors import DataError
from feedcheck.report.go_no_go import GoNoGoReport, Step
from feedcheck.report.go_no_go_render import go_no_go_markdown, headroom_png
from feedcheck.report.plots import png_data_uri
from feedcheck.report.spike import SpikeResult

#: The file each story's flow writes its JSON result to (in its report folder).
RESULT_FILES = {
    Step.ORIGIN_TIME: "origin_time.json",
    Step.SPIKE: "spike.json",
    Step.VALIDATE_CAPTURE: "capture_validation.json",
}
REPORT_MD = "report.md"
REPORT_JSON = "report.json"
HEADROOM_PNG = "go-no-go-headroom.png"

_PARSERS = {
    Step.ORIGIN_TIME: OriginTimeResult.from_json,
    Step.SPIKE: SpikeResult.from_json,
    Step.VALIDATE_CAPTURE: CaptureValidation.from_json,
}


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write `data` to `path.part`, then rename it over `path`: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    if isinstance(data, str):
        tmp.write_text(data)
    else:
        tmp.write_bytes(data)
    tmp.replace(path)
    return path


def latest_result(reports_dir: Path | str, step: Step, exclude: Path | None = None) -> Path | None:
    """The newest `RESULT_FILES[step]` anywhere under `reports_dir` (by modification time),
    leaving out files under `exclude` (the running go/no-go's own folder)."""
    root = Path(reports_dir)
    if not root.is_dir():
        return None
    found = [
        p
        for p in root.rglob(RESULT_FILES[step])
        if exclude is None or not p.resolve().is_relative_to(exclude.resolve())
    ]
    return max(found, key=lambda p: p.stat().st_mtime_ns, default=None)


def read_result(step: Step, path: Path | str) -> Any:
    """A story's result from its JSON file.

    Raises:
        DataError: the file cannot be read or does not hold that story's result (names the file).
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
        return _PARSERS[step](raw)
    except OSError as exc:
        raise DataError(path, f"cannot read the {step.value} result: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            path, f"not a {step.value} result", expected=RESULT_FILES[step], found=repr(exc)
        ) from exc


def report_images(report: GoNoGoReport, plots: Mapping[str, Path]) -> dict[str, bytes]:
    """The report's PNGs: the headroom chart, then the stories' plots that exist on disk."""
    images = {"headroom to each limit": headroom_png(report)}
    for caption, path in plots.items():
        if path.is_file():
            images[caption] = path.read_bytes()
    return images


def write_report(
    report: GoNoGoReport, folder: Path | str, images: Mapping[str, bytes]
) -> dict[str, Path]:
    """`report.md` (plots linked as files beside it), `report.json` and one PNG per image."""
    folder = Path(folder)
    names = {}
    for i, (caption, png) in enumerate(images.items()):
        name = HEADROOM_PNG if i == 0 else f"plot-{i}-{_slug(caption)}.png"
        write_atomic(folder / name, png)
        names[caption] = name
    markdown = go_no_go_markdown(report, names)
    return {
        "markdown": write_atomic(folder / REPORT_MD, markdown),
        "json": write_atomic(folder / REPORT_JSON, json.dumps(report.to_json(), indent=1)),
        **{caption: folder / name for caption, name in names.items()},
    }


def artifact_images(images: Mapping[str, bytes]) -> dict[str, str]:
    """The images as data URIs: the Prefect UI draws those (it cannot reach local files)."""
    return {caption: png_data_uri(png) for caption, png in images.items()}


def _slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())[:40]
