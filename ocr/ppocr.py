"""The one wrapper around PP-OCR (PaddleOCR's PP-OCRv6 small models, shipped in the rapidocr wheel,
run on onnxruntime): options, threads, the model loaded once per process, timeout, typed errors.

It reads what Tesseract reads badly (handwriting; bench/results/handwriting.md) and gives the
same types back (`ocr.types.OcrPage` of `Word`s with boxes, 0..100 confidences and line keys),
so nothing after OCR needs to know which engine read a page.

What we take from rapidocr and what we do ourselves:
- its text detector (DB net + its post-processing) and its recogniser's ONNX session and
  character list. Both models are the files inside the wheel, named by path: nothing is ever
  downloaded (rapidocr downloads a model when it is only told a model *name*).
- its 0/180° line classifier is never loaded: it turns correct lines upside down (issue 15:
  one page 1.4 % → 12.9 % CER). Which way up a page is stays Tesseract's and our ink's job.
- the recogniser's output we decode ourselves (CTC), because we want each character's
  position and probability: a word's box is the ink between its characters' neighbours'
  positions, and its confidence the mean of its characters' probabilities. (rapidocr's own
  word boxes pair word i with character i's probability, and split words at wide gaps.)
- onnxruntime runs one thread per call (`intra_op_num_threads=1`), like OMP_THREAD_LIMIT=1
  for Tesseract: one engine per core, never threads fighting over the same cores.
- one engine per process, shared by its threads: onnxruntime sessions may run from several
  threads at once, so two OCR threads share one copy of the model (measured in
  bench/results/handwriting.md against one engine per thread).
- a page that runs past its timeout is stopped inside onnxruntime (RunOptions.terminate).
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ocr.errors import OcrFailed, OcrTimeout
from ocr.tesseract import guess_language, mean_confidence, needs_transcription
from ocr.types import OcrPage, Word

ENGINE_NAME = "ppocr"
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"

# Detection runs on the page scaled down to this long side; lines are then cut from the page
# at full size for recognition. Measured (bench/results/handwriting.md, ablation): the same
# CER at 1280 as at rapidocr's default 2000 for ~60 % of the page's CPU; 960 costs 0.7 points.
DET_MAX_SIDE = 1280
# Lines the recogniser reads with a mean character probability below this are specks and
# ruling read as text (rapidocr's own default, `text_score`).
LINE_MIN_SCORE = 0.5
REC_BATCH = 6  # lines per recogniser call (rapidocr's default)
REC_HEIGHT = 48  # the recogniser's input height (PP-OCRv6 rec: 3x48xW)
REC_MIN_WIDTH = 320
# Bumped when what run_ppocr returns for the same image and options changes (recorded answers
# of another revision are then not replayed; tests/ocr_replay.py).
WRAPPER_REVISION = 1

_INSTALL_HINT = (
    "the second OCR engine (PP-OCR) is not installed: run `pip install rapidocr onnxruntime` "
    "(or `make setup`), or switch it off with LETTERBRIDGE_OCR_SECOND_ENGINE=false"
)


class PpocrMissing(OcrFailed):
    """rapidocr or onnxruntime is not installed (or its bundled models are missing)."""

    code = "ocr_engine_missing"


# --- the engine: loaded once per process --------------------------------------------------


@dataclass
class _Engine:
    det: Any  # rapidocr's TextDetector (its ONNX session and DB post-processing)
    rec_session: Any  # onnxruntime.InferenceSession of the recogniser
    rec_input: str
    characters: list[str]  # index → character; 0 is the CTC blank
    ort: Any  # the onnxruntime module


_ENGINE: _Engine | None = None
_ENGINE_LOCK = threading.Lock()
_DETECT_LOCK = threading.Lock()


def model_dir() -> Path:
    """Where the wheel keeps its models."""
    try:
        import rapidocr  # optional engine: see _build_engine
    except ImportError as exc:
        raise PpocrMissing(_INSTALL_HINT) from exc
    return Path(rapidocr.__file__).resolve().parent / "models"


def available() -> bool:
    """True when PP-OCR can be loaded here (package and bundled models present)."""
    try:
        import onnxruntime  # noqa: F401 - only whether it imports

        root = model_dir()
    except (ImportError, PpocrMissing):
        return False
    return (root / DET_MODEL).is_file() and (root / REC_MODEL).is_file()


def _build_engine() -> _Engine:
    # rapidocr and onnxruntime are imported here, not at the top: they are an optional engine
    # (a missing package must be a clear PpocrMissing, not an ImportError on `import ocr...`),
    # and they cost ~0.2 s and ~30 MB that a worker which never meets handwriting never pays.
    try:
        import onnxruntime as ort
        from rapidocr import RapidOCR
        from rapidocr.utils.typings import ModelType, OCRVersion
    except ImportError as exc:
        raise PpocrMissing(_INSTALL_HINT) from exc
    root = model_dir()
    det_path, rec_path = root / DET_MODEL, root / REC_MODEL
    for path in (det_path, rec_path):
        if not path.is_file():
            raise PpocrMissing(f"PP-OCR's model {path.name} is missing from {root}: reinstall rapidocr")
    params = {
        "Global.use_cls": False,
        "Global.log_level": "error",
        "Det.model_path": str(det_path),
        "Rec.model_path": str(rec_path),
        "Det.ocr_version": OCRVersion.PPOCRV6,
        "Rec.ocr_version": OCRVersion.PPOCRV6,
        "Det.model_type": ModelType.SMALL,
        "Rec.model_type": ModelType.SMALL,
        "EngineConfig.onnxruntime.intra_op_num_threads": 1,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    try:
        reader = RapidOCR(params=params)
        det = reader._load_det_model()  # its detector, as configured above
        rec = reader._load_rec_model()
    except Exception as exc:  # any failure to load is one clear error
        raise OcrFailed(f"PP-OCR could not load its models ({type(exc).__name__}: {exc})") from exc
    session = rec.session.session
    return _Engine(
        det=det,
        rec_session=session,
        rec_input=session.get_inputs()[0].name,
        characters=list(rec.postprocess_op.character),
        ort=ort,
    )


def engine() -> _Engine:
    """The process's one PP-OCR engine, loaded on first use (~0.3 s), shared by its threads."""
    global _ENGINE
    if _ENGINE is None:
        with _ENGINE_LOCK:
            if _ENGINE is None:
                _ENGINE = _build_engine()
    return _ENGINE


# --- running it ----------------------------------------------------------------------------


class _Deadline:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.end = time.monotonic() + timeout

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise OcrTimeout(f"PP-OCR took longer than {self.timeout:g} s on this page")
        return left


def _run(eng: _Engine, session: Any, feeds: dict[str, np.ndarray], deadline: _Deadline) -> np.ndarray:
    """One onnxruntime call, stopped inside the runtime when the page's time is up."""
    options = eng.ort.RunOptions()
    timer = threading.Timer(deadline.left(), lambda: setattr(options, "terminate", True))
    timer.daemon = True
    timer.start()
    try:
        return session.run(None, feeds, options)[0]
    except Exception as exc:  # onnxruntime raises plain RuntimeErrors
        if options.terminate:
            raise OcrTimeout(f"PP-OCR took longer than {deadline.timeout:g} s on this page") from exc
        raise OcrFailed(f"PP-OCR failed on this page ({type(exc).__name__})") from exc
    finally:
        timer.cancel()


def _det_scale(long_side: int, max_side: int) -> float:
    """The scale lines are found at on an image whose long side is `long_side`."""
    return min(1.0, max_side / long_side)


def _detect(eng: _Engine, bgr: np.ndarray, max_side: int, deadline: _Deadline, *,
            enlarge: bool = True) -> list[np.ndarray]:
    """Text line quadrilaterals (4x2 float32, page pixels), found on the page scaled to max_side.

    The detector's own preprocessing then enlarges an image whose short side is under 736
    pixels to 736 (rapidocr's `limit_type: min`); a letter or A4 page never is. With
    `enlarge=False` it is not: the image is detected at the scale given (only rounded to the
    multiples of 32 the network needs)."""
    scale = _det_scale(max(bgr.shape[:2]), max_side)
    small = bgr if scale == 1.0 else cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    det = eng.det
    preprocess = det.get_preprocess()
    if not enlarge:
        preprocess.limit_type, preprocess.limit_side_len = "max", max(small.shape[:2])
    batch = preprocess(small)
    if batch is None:
        return []
    # One detection at a time per process: the detector's feature maps take ~0.38 GB at its
    # peak, and two at once put a two-thread worker over 1 GB (bench/results/handwriting.md);
    # the other thread recognises lines or runs Tesseract meanwhile.
    if not _DETECT_LOCK.acquire(timeout=deadline.left()):
        raise OcrTimeout(f"PP-OCR took longer than {deadline.timeout:g} s on this page")
    try:
        preds = _run(eng, det.session.session, {det.session.get_input_names()[0]: batch}, deadline)
    finally:
        _DETECT_LOCK.release()
    boxes, _scores = det.postprocess_op(preds, small.shape[:2])
    return [np.asarray(b, dtype=np.float32) / scale for b in boxes]


def _crop(gray: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The line cut out upright (as rapidocr cuts it, never turned on its side), and the matrix
    that maps crop pixels back to the page."""
    cw = max(1, int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))))
    ch = max(1, int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))))
    dst = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    crop = cv2.warpPerspective(gray, m, (cw, ch), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    return crop, np.linalg.inv(m)


def _rec_input(crop: np.ndarray, width: int) -> tuple[np.ndarray, int]:
    """A crop as the recogniser wants it (3x48xwidth, -1..1, right-padded); its drawn width."""
    h, w = crop.shape[:2]
    drawn = min(width, max(1, math.ceil(REC_HEIGHT * w / h)))
    resized = cv2.resize(crop, (drawn, REC_HEIGHT)).astype(np.float32) / 127.5 - 1.0
    out = np.zeros((3, REC_HEIGHT, width), dtype=np.float32)
    out[:, :, :drawn] = resized[None, :, :]
    return out, drawn


@dataclass
class _Line:
    quad: np.ndarray
    crop: np.ndarray
    back: np.ndarray  # crop → page
    text: str = ""
    chars: list[tuple[str, float, float]] | None = None  # (char, probability, x in crop)

    @property
    def score(self) -> float:
        probs = [p for _c, p, _x in self.chars or []]
        return float(np.mean(probs)) if probs else 0.0


def _recognise(eng: _Engine, lines: list[_Line], deadline: _Deadline) -> None:
    """Text and per-character (probability, x position) of each line, in batches of similar width."""
    order = sorted(range(len(lines)), key=lambda i: lines[i].crop.shape[1] / lines[i].crop.shape[0])
    for start in range(0, len(order), REC_BATCH):
        batch = [lines[i] for i in order[start : start + REC_BATCH]]
        ratio = max(REC_MIN_WIDTH / REC_HEIGHT, *(ln.crop.shape[1] / ln.crop.shape[0] for ln in batch))
        width = int(REC_HEIGHT * ratio)
        inputs, drawn = zip(*(_rec_input(ln.crop, width) for ln in batch), strict=True)
        preds = _run(eng, eng.rec_session, {eng.rec_input: np.stack(inputs)}, deadline)
        steps = preds.shape[1]
        for line, probs, drawn_w in zip(batch, preds, drawn, strict=True):
            line.text, line.chars = _decode(probs, eng.characters, width / steps,
                                            line.crop.shape[1] / drawn_w)


def _decode(probs: np.ndarray, characters: list[str], step: float, to_crop: float
            ) -> tuple[str, list[tuple[str, float, float]]]:
    """Greedy CTC: each kept character with its probability and the crop x of its time step."""
    idx = probs.argmax(axis=1)
    best = probs.max(axis=1)
    keep = np.ones(len(idx), dtype=bool)
    keep[1:] = idx[1:] != idx[:-1]
    keep &= idx != 0
    chars = [(characters[int(idx[t])], float(best[t]), (t + 0.5) * step * to_crop)
             for t in np.flatnonzero(keep)]
    return "".join(c for c, _p, _x in chars), chars


def _ink_box(crop: np.ndarray, x0: float, x1: float) -> tuple[int, int, int, int] | None:
    """The ink's bounding box between crop columns x0..x1 (its main band of rows), or None."""
    a, b = max(0, int(math.floor(x0))), min(crop.shape[1], int(math.ceil(x1)))
    if b <= a:
        return None
    ink = crop[:, a:b] < _ink_threshold(crop)
    rows = np.flatnonzero(ink.sum(axis=1) > 0)
    if rows.size == 0:
        return None
    # The line's cut has a margin that may hold the next line's ascenders or the last one's
    # descenders: keep the band of rows with the most ink, joined across gaps shorter than
    # an i's dot sits above its stem.
    gap = max(3, int(0.12 * crop.shape[0]))
    bands: list[list[int]] = [[int(rows[0]), int(rows[0])]]
    for r in rows[1:]:
        if r - bands[-1][1] <= gap:
            bands[-1][1] = int(r)
        else:
            bands.append([int(r), int(r)])
    weight = ink.sum(axis=1)
    top, bottom = max(bands, key=lambda band: int(weight[band[0] : band[1] + 1].sum()))
    cols = np.flatnonzero(ink[top : bottom + 1].any(axis=0))
    return a + int(cols[0]), top, a + int(cols[-1]) + 1, bottom + 1


def _ink_threshold(crop: np.ndarray) -> float:
    # Otsu splits ink from paper on a line cut; on a cut that is nearly all paper it would
    # split paper noise, so the ink must also be clearly darker than the paper.
    otsu, _ = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    paper = float(np.percentile(crop, 90))
    return min(float(otsu), paper - 40.0)


def _line_words(line: _Line) -> list[dict[str, Any]]:
    """The line's words: text, confidence 0..100, page box from the ink between its neighbours."""
    chars = line.chars or []
    groups: list[list[tuple[str, float, float]]] = []
    current: list[tuple[str, float, float]] = []
    for ch in chars:
        if ch[0].isspace():
            if current:
                groups.append(current)
            current = []
        else:
            current.append(ch)
    if current:
        groups.append(current)
    width = line.crop.shape[1]
    cuts = [_gap_between(line.crop, a[-1][2], b[0][2]) for a, b in zip(groups, groups[1:], strict=False)]
    words = []
    for i, group in enumerate(groups):
        # A word owns the cut from the middle of the blank gap before it to the middle of the
        # blank gap after it: the space between two words is split where there is no ink.
        left = 0.0 if i == 0 else cuts[i - 1]
        right = float(width) if i == len(groups) - 1 else cuts[i]
        box = _ink_box(line.crop, left, right)
        if box is None:
            box = (int(left), 0, int(math.ceil(right)), line.crop.shape[0])
        words.append({
            "text": "".join(c for c, _p, _x in group),
            "conf": round(100.0 * float(np.mean([p for _c, p, _x in group])), 2),
            "box": _to_page(line.back, box),
        })
    return words


def _gap_between(crop: np.ndarray, x_last: float, x_next: float) -> float:
    """Where to split two words: the middle of the widest ink-free run of columns between the
    last character of one and the first of the next (CTC places each character on its ink),
    in the middle half of the line's rows (the cut's margins may hold the neighbour lines'
    ascenders and descenders). Halfway between the two when no column there is blank."""
    a, b = max(0, int(x_last)), min(crop.shape[1], int(math.ceil(x_next)))
    if b - a < 2:
        return (x_last + x_next) / 2
    h = crop.shape[0]
    core = crop[h // 4 : h - h // 4, a:b] < _ink_threshold(crop)
    blank = ~core.any(axis=0)
    best_len, best_mid, run_start = 0, (x_last + x_next) / 2, None
    for i, empty in enumerate([*blank.tolist(), False]):
        if empty and run_start is None:
            run_start = i
        elif not empty and run_start is not None:
            if i - run_start > best_len:
                best_len, best_mid = i - run_start, a + (run_start + i) / 2
            run_start = None
    return best_mid


def _to_page(back: np.ndarray, box: tuple[int, int, int, int]) -> list[int]:
    x0, y0, x1, y1 = box
    pts = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], dtype=np.float64)
    page = cv2.perspectiveTransform(pts, back)[0]
    return [int(math.floor(page[:, 0].min())), int(math.floor(page[:, 1].min())),
            int(math.ceil(page[:, 0].max())), int(math.ceil(page[:, 1].max()))]


def run_ppocr(img: np.ndarray, *, det_max_side: int = DET_MAX_SIDE, det_enlarge: bool = True,
              timeout: float) -> bytes:
    """Run PP-OCR once on a grayscale page and return what it read, as JSON bytes.

    The engine seam (as `ocr.tesseract.run_tesseract`; tests record and replay it): the only
    place the models run. Raw output only, every line the detector found:
    {"lines": [{"quad": [[x, y] x4], "text", "chars": [[char, probability, x in the line's
    cut], ...]}]}; words, boxes and line keys are made from it by `words_from_output`.
    """
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError("expected a grayscale uint8 image")
    deadline = _Deadline(timeout)
    eng = engine()
    quads = _detect(eng, cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), det_max_side, deadline,
                    enlarge=det_enlarge)
    lines = [_Line(q, *_crop(img, q)) for q in quads]
    lines = [ln for ln in lines if ln.crop.shape[0] >= 4 and ln.crop.shape[1] >= 4]
    _recognise(eng, lines, deadline)
    out = [
        {"quad": np.round(ln.quad, 2).tolist(), "text": ln.text,
         "chars": [[c, round(p, 5), round(x, 2)] for c, p, x in ln.chars or []]}
        for ln in lines
    ]
    return json.dumps({"lines": out}, ensure_ascii=False).encode("utf-8")


@cache
def engine_version() -> str:
    """What answers: the rapidocr and onnxruntime releases and the two models' file sizes."""
    try:
        versions = f"rapidocr {metadata.version('rapidocr')}, onnxruntime {metadata.version('onnxruntime')}"
        root = model_dir()
    except (metadata.PackageNotFoundError, PpocrMissing):
        return "not installed"
    sizes = "/".join(str((root / name).stat().st_size) if (root / name).is_file() else "missing"
                     for name in (DET_MODEL, REC_MODEL))
    return f"{versions}, PP-OCRv6 small det/rec ({sizes} bytes), wrapper {WRAPPER_REVISION}"


# --- from raw output to our types ---------------------------------------------------------


def words_from_output(raw: bytes, img: np.ndarray) -> list[Word]:
    """Words in reading order, with boxes on the ink of `img` (the image PP-OCR read) and line
    keys: detector lines that share a row of the page are one line (block 1); a gap of more
    than 1.6 times the page's usual line pitch starts a new paragraph. Lines read below
    LINE_MIN_SCORE are dropped."""
    rows: list[dict[str, Any]] = []  # {"top", "bottom", "mid", "words"}
    for item in json.loads(raw.decode("utf-8"))["lines"]:
        quad = np.asarray(item["quad"], dtype=np.float32)
        line = _Line(quad, *_crop(img, quad), text=item["text"],
                     chars=[(c, float(p), float(x)) for c, p, x in item["chars"]])
        if not line.text.strip() or line.score < LINE_MIN_SCORE:
            continue
        top, bottom = float(quad[:, 1].min()), float(quad[:, 1].max())
        mid = float(quad[:, 1].mean())
        row = next((r for r in rows if r["top"] <= mid <= r["bottom"]
                    and abs(mid - r["mid"]) < 0.5 * min(bottom - top, r["bottom"] - r["top"])), None)
        if row is not None:
            row["words"].extend(_line_words(line))
            row["top"], row["bottom"] = min(row["top"], top), max(row["bottom"], bottom)
        else:
            rows.append({"top": top, "bottom": bottom, "mid": mid, "words": _line_words(line)})
    rows.sort(key=lambda r: r["mid"])
    # A paragraph ends where the gap to the next line is well over the page's usual pitch
    # (a blank line between paragraphs doubles it).
    pitches = sorted(b["mid"] - a["mid"] for a, b in zip(rows, rows[1:], strict=False))
    pitch = pitches[len(pitches) // 2] if pitches else 0.0
    words: list[Word] = []
    par, line_no = 1, 0
    for i, row in enumerate(rows):
        if i and row["mid"] - rows[i - 1]["mid"] > 1.6 * pitch:
            par, line_no = par + 1, 0
        line_no += 1
        for wd in sorted(row["words"], key=lambda w: w["box"][0]):
            x0, y0, x1, y1 = wd["box"]
            words.append(Word(text=wd["text"], conf=float(wd["conf"]), x0=x0, y0=y0, x1=x1, y1=y1,
                              block=1, par=par, line=line_no))
    return words


def _quad_centre_y(quad: list[list[int]]) -> float:
    return sum(p[1] for p in quad) / len(quad)


def ocr_image(img: np.ndarray, *, languages: str = "eng+spa", timeout: float = 120,
              page_long_side: int | None = None) -> OcrPage:
    """Read one page image with PP-OCR: the same OcrPage `ocr.tesseract.ocr_image` returns.

    One model reads English and Spanish alike; `languages` only bounds the language guess.
    `page_long_side`: `img` is cut from a page of that long side (the bands a verification
    reads again), and its lines are found at the scale the whole page's were, never enlarged.
    Otherwise the detector would enlarge a short stack of bands (a 517 x 2550 stack to
    736 x 3623, 3.7 times the page's scale) and spend more on it than on the whole page.
    """
    started = time.perf_counter()
    options: dict[str, object] = {}
    if page_long_side:
        scale = _det_scale(page_long_side, DET_MAX_SIDE)
        options = {"det_max_side": max(32, round(max(img.shape[:2]) * scale)),
                   "det_enlarge": False}
    # A module global looked up at each call: the test recorder wraps `run_ppocr` there.
    words = words_from_output(run_ppocr(img, timeout=timeout, **options), img)
    h, w = img.shape[:2]
    page = OcrPage(words=words, width=w, height=h, engine=ENGINE_NAME)
    page.confidence = mean_confidence(words)
    page.language = guess_language(page.text, "eng+spa" if languages == "auto" else languages)
    page.needs_transcription = needs_transcription(words)
    page.timings[ENGINE_NAME] = time.perf_counter() - started
    return page
