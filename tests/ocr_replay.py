"""Recorded OCR for the unit tests: each engine call's answer is recorded once, then replayed.

The seam. Every OCR engine wrapper runs its engine in one module-level function, called by its
module name at each use (so replacing the module attribute reaches every caller):

    ocr.tesseract.run_tesseract(img, *, lang, config, output, timeout) -> bytes
    ocr.ppocr.run_ppocr(img, *, timeout) -> bytes

The first argument is the exact uint8 image the engine reads; every other argument except
`timeout` is an option that changes the answer; the answer is bytes; failures are
`ocr.errors.OcrFailed`. A module may offer `engine_version() -> str` (the build that answers)
and names its engine in `ENGINE_NAME`. A new engine joins by having that shape and a line in
ENGINES below.

This plugin replaces each such function, for the whole session, with a recorder: the key is
(engine name, SHA-256 of the image's shape and bytes, the options as canonical JSON); the
answer lives in tests/ocr_recordings/<engine>/<key>.json.gz (gzip'd JSON: the answer as text,
the options and the engine's version, to read in a diff). A failure the engine would give
again for the same image (`OcrFailed.repeatable`, e.g. OSD's "too few characters") is recorded
and raised again; a crash or a timeout never is.

LETTERBRIDGE_OCR_RECORD:
- unset or "replay": replay what is recorded; run the engine for real and record what is not.
- "refresh": run every engine call for real and record it again.
- "off": no recorder at all.
A recording made by another engine version (its `engine_version()`) is never replayed: that
call runs for real and is recorded again, with one warning per engine.

Which tests: every test except those that must run the engines for real, in this process and
in the processes they start: tests marked `real_ocr` (tests of the engine wrappers themselves,
fault injection: a hanging or crashing engine, benchmarks), and the end-to-end tests, which
are the ones marked `prefect`, `browser` or `slow` (test_ingest, test_exactly_once,
test_scale_out, the browser tests, the intake tests with a Prefect server). The choice is made
per test before its fixtures are set up, so a module-scoped fixture that reads pages follows
its module's marks.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib
import inspect
import json
import os
import tempfile
import threading
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from ocr.errors import OcrFailed, OcrTimeout

RECORDINGS = Path(__file__).resolve().parent / "ocr_recordings"
MODE_VARIABLE = "LETTERBRIDGE_OCR_RECORD"
MODES = ("replay", "refresh", "off")
# Marks of tests that run OCR engines for real.
REAL_OCR_MARKS = frozenset({"real_ocr", "prefect", "browser", "slow"})


@dataclass(frozen=True)
class Engine:
    module: str
    function: str  # the module-level function that runs the engine (the seam)


ENGINES = (
    Engine("ocr.tesseract", "run_tesseract"),
    Engine("ocr.ppocr", "run_ppocr"),
)


def image_sha256(image: np.ndarray) -> str:
    """SHA-256 of what the engine is given: the image's shape and dtype, then its pixels."""
    digest = hashlib.sha256(f"{image.dtype.str}{tuple(image.shape)}".encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def recording_key(engine: str, image_hash: str, options: dict[str, Any]) -> str:
    canonical = json.dumps([engine, image_hash, options], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Recorder:
    """Records and replays the engine calls it wraps; `active` says whether it does right now."""

    def __init__(self, folder: Path, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"{MODE_VARIABLE} must be one of {', '.join(MODES)}, not {mode!r}")
        self.folder = folder
        self.mode = mode
        self.active = True
        self.counts: Counter[str] = Counter()
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    # --- installing -----------------------------------------------------------------------

    def install(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        """Wrap every engine that can be imported here; the names of those wrapped."""
        wrapped = []
        for engine in ENGINES:
            try:
                module = importlib.import_module(engine.module)
            except ImportError:
                continue  # an engine this checkout does not have yet
            run = getattr(module, engine.function)
            monkeypatch.setattr(module, engine.function, self.wrap(module, run))
            wrapped.append(_engine_name(module))
        return wrapped

    def wrap(self, module: ModuleType, run: Callable[..., bytes]) -> Callable[..., bytes]:
        engine = _engine_name(module)
        signature = inspect.signature(run)
        image_param = next(iter(signature.parameters))

        @functools.wraps(run)
        def recorded(*args: Any, **kwargs: Any) -> bytes:
            if not self.active:
                return run(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            image = bound.arguments[image_param]
            options = {name: value for name, value in bound.arguments.items()
                       if name not in (image_param, "timeout")}
            return self.call(engine, module, image, options, lambda: run(*args, **kwargs))

        return recorded

    # --- one call -------------------------------------------------------------------------

    def call(self, engine: str, module: ModuleType, image: np.ndarray, options: dict[str, Any],
             run: Callable[[], bytes]) -> bytes:
        image_hash = image_sha256(image)
        path = self.folder / engine / f"{recording_key(engine, image_hash, options)}.json.gz"
        version = _engine_version(module)
        if self.mode == "replay" and path.exists():
            recording = json.loads(gzip.decompress(path.read_bytes()))
            if recording.get("engine_version", "") == version:
                self._count("replayed")
                return _replay(recording)
            # Made by another build of the engine: as good as missing, so recorded again.
            self._warn_version(engine, recording.get("engine_version", ""), version)
        try:
            answer = run()
        except OcrTimeout:
            raise
        except OcrFailed as exc:
            if exc.repeatable:
                self._save(path, engine, version, image, image_hash, options,
                           {"error": {"reason": exc.reason}})
            raise
        self._save(path, engine, version, image, image_hash, options, _answer_field(answer))
        return answer

    def _save(self, path: Path, engine: str, version: str, image: np.ndarray, image_hash: str,
              options: dict[str, Any], answer: dict[str, Any]) -> None:
        recording = {
            "engine": engine,
            "engine_version": version,
            "image": {"sha256": image_hash, "shape": list(image.shape), "dtype": image.dtype.str},
            "options": options,
            **answer,
        }
        raw = json.dumps(recording, sort_keys=True, ensure_ascii=False, indent=0).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        # mtime=0: the same answer recorded again is the same bytes (no churn in git).
        data = gzip.compress(raw, compresslevel=9, mtime=0)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".rec-", delete=False) as fh:
            fh.write(data)
        Path(fh.name).chmod(0o644)  # as any file in the work tree (the temporary one is 0600)
        Path(fh.name).replace(path)  # atomic: a reader sees the old file or the new one
        self._count("recorded")

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def _warn_version(self, engine: str, recorded: str, current: str) -> None:
        if engine in self._warned:
            return
        self._warned.add(engine)
        warnings.warn(
            f"OCR recordings for {engine} were made with {recorded or 'an unknown version'}, this "
            f"machine has {current or 'an unknown version'}: those calls run for real and are "
            "recorded again",
            stacklevel=2,
        )


def _engine_name(module: ModuleType) -> str:
    return str(getattr(module, "ENGINE_NAME", module.__name__.rsplit(".", 1)[-1]))


def _engine_version(module: ModuleType) -> str:
    version = getattr(module, "engine_version", None)
    return str(version()) if callable(version) else ""


def _answer_field(answer: bytes) -> dict[str, Any]:
    try:
        return {"output": answer.decode("utf-8")}
    except UnicodeDecodeError:
        return {"output_base64": base64.b64encode(answer).decode("ascii")}


def _replay(recording: dict[str, Any]) -> bytes:
    if "error" in recording:
        raise OcrFailed(recording["error"]["reason"], repeatable=True)
    if "output_base64" in recording:
        return base64.b64decode(recording["output_base64"])
    return recording["output"].encode("utf-8")


def runs_real_ocr(item: pytest.Item) -> bool:
    """True for a test that must run OCR engines for real (see the module docstring)."""
    return any(item.get_closest_marker(mark) is not None for mark in REAL_OCR_MARKS)


# --- pytest hooks -----------------------------------------------------------------------------

_RECORDER = pytest.StashKey[Recorder]()
_PATCH = pytest.StashKey[pytest.MonkeyPatch]()


def pytest_configure(config: pytest.Config) -> None:
    mode = os.environ.get(MODE_VARIABLE, "").strip().lower() or "replay"
    recorder = Recorder(RECORDINGS, mode)
    config.stash[_RECORDER] = recorder
    if mode == "off":
        return
    patch = pytest.MonkeyPatch()
    config.stash[_PATCH] = patch
    recorder.install(patch)


def pytest_unconfigure(config: pytest.Config) -> None:
    patch = config.stash.get(_PATCH, None)
    if patch is not None:
        patch.undo()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture of this test is set up, module-scoped ones included.
    recorder = item.config.stash.get(_RECORDER, None)
    if recorder is not None:
        recorder.active = not runs_real_ocr(item)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    recorder = config.stash.get(_RECORDER, None)
    if recorder is None or not recorder.counts:
        return
    parts = ", ".join(f"{n} {what}" for what, n in sorted(recorder.counts.items()))
    terminalreporter.write_line(f"OCR recordings ({recorder.mode}): {parts}")


@pytest.fixture
def ocr_recorder(request: pytest.FixtureRequest) -> Recorder:
    """The session's recorder (for tests about recording itself)."""
    return request.config.stash[_RECORDER]
