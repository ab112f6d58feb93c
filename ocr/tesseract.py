"""The one wrapper around Tesseract (through pytesseract): arguments, environment, timeout, typed errors.

What we keep from running the program ourselves: OMP_THREAD_LIMIT=1 for the child only, the page
handed over as an uncompressed PGM file in memory-backed /dev/shm when there is one (pytesseract
takes a file name as it is, so no PNG is encoded on our side or decoded on its side), and a page
that hangs is killed at its timeout. pytesseract builds the command, runs it and reads the TSV.

The engine seam (shared by every OCR engine wrapper, e.g. `ocr.ppocr.run_ppocr`): the program is
run in one module-level function only, `run_tesseract(img, *, lang, config, output, timeout)`,
and everything else here calls it through its module name at each use. It takes the exact
uint8 image the engine reads and keyword options that are everything that changes the answer
(never the timeout); it returns the engine's raw output as bytes (here: what Tesseract wrote)
and fails only with `ocr.errors.OcrFailed`/`OcrTimeout` (`repeatable=True` when the engine ran
and refused this input). `ENGINE_NAME` names the engine and `engine_version()` the build that
answers. So tests/ocr_replay.py can wrap the function to record each answer once, keyed by
(engine, SHA-256 of the image, options), and replay it; a second engine joins by giving the
same shape and being listed there.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import IO

import numpy as np
import pytesseract
from pytesseract import pytesseract as pytesseract_impl

from ocr.errors import OcrFailed, OcrTimeout
from ocr.types import OcrPage, Word, words_to_text

ENGINE_NAME = "tesseract"
TESSERACT_CMD = "tesseract"
DPI = 300
DEFAULT_PSM = 3  # automatic page segmentation; see bench/results/ocr.md for psm 3 vs 6

# needs_transcription: a page whose real words average below this confidence, or that has
# more than this share of doubtful words, can't be trusted as text. Measured
# (bench/results/ocr.md): typed pages and clear hands read at 94–96 with CER ≤ 1.2%; the
# hardest hand at 62–69 with CER ~20%.
TRUST_MIN_CONFIDENCE = 80.0
DOUBTFUL_WORD_CONF = 60.0
TRUST_MAX_DOUBTFUL_SHARE = 0.2


class _ChildEnviron(Mapping[str, str]):
    """This process's environment as it is at each call, with OMP_THREAD_LIMIT=1 on top.

    One Tesseract per core: OpenMP threads inside each would fight over the same cores
    (1.5 s a page with one thread, 14 s with the default). pytesseract starts the child with
    its module's `environ` and has no argument for it, so that is what this view replaces;
    our own process keeps its environment as it is.
    """

    _OURS = {"OMP_THREAD_LIMIT": "1"}

    def __getitem__(self, key: str) -> str:
        return self._OURS[key] if key in self._OURS else os.environ[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._OURS
        yield from (key for key in os.environ if key not in self._OURS)

    def __len__(self) -> int:
        return len(self._OURS) + sum(1 for key in os.environ if key not in self._OURS)


pytesseract_impl.environ = _ChildEnviron()


def _write_pgm(img: np.ndarray, fh: IO[bytes]) -> None:
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError("expected a grayscale uint8 image")
    h, w = img.shape
    fh.write(b"P5\n%d %d\n255\n" % (w, h))
    fh.write(np.ascontiguousarray(img).data)
    fh.flush()


# The page goes to Tesseract as an uncompressed PGM file in memory-backed /dev/shm when there
# is one: writing 8 MB there costs ~5 ms of our CPU, piping it through stdin ~45 ms.
_SHM = Path("/dev/shm")
SCRATCH_DIR = str(_SHM) if _SHM.is_dir() and os.access(_SHM, os.W_OK) else None


def run_tesseract(img: np.ndarray, *, lang: str, config: str, output: str, timeout: float) -> bytes:
    """Run Tesseract once on a grayscale image and return what it wrote (`output`: "tsv", "osd").

    The engine seam (see the module docstring): the only place the program runs.
    """
    pytesseract_impl.tesseract_cmd = TESSERACT_CMD  # read at each call: tests point it elsewhere
    with tempfile.NamedTemporaryFile(prefix="lb-ocr-", suffix=".pgm", dir=SCRATCH_DIR) as fh:
        _write_pgm(img, fh)
        try:
            # run_and_get_output is what image_to_data / image_to_osd call, without the
            # one-off `tesseract --version` probe image_to_data adds (no timeout of its own).
            return pytesseract.run_and_get_output(
                fh.name, extension=output, lang=lang, config=config, timeout=timeout,
                return_bytes=True,
            )
        except pytesseract.TesseractError as exc:
            if exc.status < 0:
                raise OcrFailed(f"Tesseract crashed (signal {-exc.status}) on this page") from exc
            detail = (exc.message or "").strip()[-200:] or "no message"
            raise OcrFailed(
                f"Tesseract failed on this page (exit {exc.status}: {detail})", repeatable=True
            ) from exc
        except RuntimeError as exc:  # pytesseract's only other RuntimeError: its timeout
            raise OcrTimeout(f"Tesseract took longer than {timeout:g} s on this page") from exc
        except pytesseract.TesseractNotFoundError as exc:
            raise OcrFailed(f"Tesseract could not be started (no program {TESSERACT_CMD!r})") from exc
        except FileNotFoundError as exc:  # it exited 0 without writing its output file
            raise OcrFailed("Tesseract wrote no output for this page", repeatable=True) from exc
        except OSError as exc:
            raise OcrFailed(f"Tesseract could not be started ({exc})") from exc


@cache
def engine_version() -> str:
    """The Tesseract build that answers (`tesseract --version`'s first line), asked once."""
    try:
        out = subprocess.run([TESSERACT_CMD, "--version"], capture_output=True, timeout=30,
                             check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (out.stdout or out.stderr).decode("utf-8", "replace").splitlines()
    return lines[0].strip() if lines else "unknown"


# The languages setting that reads English first and Spanish again only where the page is
# Spanish. Measured (bench/results/ingest.md): on our cleaned pages ~13 % less Tesseract CPU
# on an English page than "eng+spa" (23 % on raw scans), the same CER on typed pages; a
# Spanish page costs an English reading more, unless its language is already known
# (`reading_languages`).
AUTO = "auto"


def reading_languages(setting: str, known: str = "") -> str:
    """What to read a page with: `setting` as it is, or under "auto" the page's own language
    when it is already known ("spa" → "spa+eng", "eng" → "eng"; e.g. a page re-read for
    verification, or a page of a letter whose other pages read Spanish), else "auto"."""
    if setting != AUTO:
        return setting
    return {"spa": "spa+eng", "eng": "eng"}.get(known, AUTO)


def ocr_image(
    img: np.ndarray,
    *,
    languages: str = "eng+spa",
    timeout: int = 120,
    psm: int | None = None,
) -> OcrPage:
    """Read one page image: words with boxes, confidence, line structure, language, trust.

    languages=AUTO: read with English only and read again with spa+eng only when the English
    reading looks Spanish.
    """
    started = time.perf_counter()
    auto = languages == AUTO
    first = "eng" if auto else languages
    words = _read_words(img, first, psm=psm, timeout=timeout)
    language = guess_language(words_to_text(words), "eng+spa" if auto else languages)
    if auto and language == "spa":
        words = _read_words(img, "spa+eng", psm=psm, timeout=timeout)
        language = guess_language(words_to_text(words), "eng+spa")
    h, w = img.shape[:2]
    page = OcrPage(words=words, width=w, height=h)
    page.confidence = mean_confidence(words)
    page.language = language
    page.needs_transcription = needs_transcription(words)
    page.timings["tesseract"] = time.perf_counter() - started
    return page


def _read_words(img: np.ndarray, languages: str, *, psm: int | None, timeout: float) -> list[Word]:
    # "tsv" is Tesseract's own config file (tessedit_create_tsv 1), as on its command line.
    config = f"--psm {psm or DEFAULT_PSM} --dpi {DPI} tsv"
    return parse_tsv(run_tesseract(img, lang=languages, config=config, output="tsv", timeout=timeout))


def parse_tsv(raw: bytes | str) -> list[Word]:
    """Words (level 5 rows with text) from Tesseract's TSV output."""
    words: list[Word] = []
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if not header:
        return words
    col = {name: i for i, name in enumerate(header)}
    for row in reader:
        if len(row) < len(header) or row[col["level"]] != "5":
            continue
        text = _fix_word(row[col["text"]].strip())
        if not text:
            continue
        left, top = int(row[col["left"]]), int(row[col["top"]])
        width, height = int(row[col["width"]]), int(row[col["height"]])
        words.append(
            Word(
                text=text,
                conf=round(max(0.0, float(row[col["conf"]])), 2),
                x0=left,
                y0=top,
                x1=left + width,
                y1=top + height,
                block=int(row[col["block_num"]]),
                par=int(row[col["par_num"]]),
                line=int(row[col["line_num"]]),
            )
        )
    return words


# Tesseract reads a lone capital I in many sans-serif faces as a vertical bar; a bar is never
# a word in a letter ("| am", "|'m").
_BAR_AS_I = re.compile(r"^\|(?=$|['’](?:m|d|ll|ve)\b)")


def _fix_word(text: str) -> str:
    return _BAR_AS_I.sub("I", text)


_REAL_WORD = re.compile(r"\w", re.UNICODE)


def _real_words(words: list[Word]) -> list[Word]:
    # Stray punctuation and specks get confidences that say nothing about the text.
    return [w for w in words if _REAL_WORD.search(w.text)]


def mean_confidence(words: list[Word]) -> float:
    real = _real_words(words)
    if not real:
        return 0.0
    return round(sum(w.conf for w in real) / len(real), 2)


def needs_transcription(words: list[Word]) -> bool:
    """True when a person should read the page image rather than trust the text."""
    real = _real_words(words)
    if len(real) < 3:
        return True
    mean = sum(w.conf for w in real) / len(real)
    doubtful = sum(1 for w in real if w.conf < DOUBTFUL_WORD_CONF) / len(real)
    return mean < TRUST_MIN_CONFIDENCE or doubtful > TRUST_MAX_DOUBTFUL_SHARE


_SPANISH = frozenset(
    "de la que el en y a los se del las un por con no una su para es al lo como más pero sus "
    "le ya o este sí porque esta entre cuando muy sin sobre también me hasta hay donde quien "
    "desde todo nos durante todos uno les ni contra otros ese eso ante ellos e esto mí antes "
    "algunos qué unos yo otro otras otra él tanto esa estos mucho quienes nada muchos cual "
    "poco ella estar estas algunas algo nosotros mi mis tú te ti tu tus ellas nosotras "
    "usted estoy estás está estamos están gracias querido querida hola saludos carta "
    "familia espero bien tengo tiene hermano hermana mamá".split()
)
_ENGLISH = frozenset(
    "the of and to in is you that it he was for on are as with his they i at be this have "
    "from or one had by but not what all were we when your can said there use an each which "
    "she do how their if will up other about out many then them these so some her would my "
    "me am hope dear thank thanks letter friend very much been day write writing here just "
    "know time think".split()
)
_WORD_SPLIT = re.compile(r"[^\wáéíóúüñ]+", re.UNICODE)


def guess_language(text: str, languages: str = "eng+spa") -> str:
    """ "eng" or "spa", from stopwords and Spanish letters; cheap and good enough for routing."""
    offered = [code for code in languages.split("+") if code in ("eng", "spa")]
    if len(offered) == 1:
        return offered[0]
    tokens = [t for t in _WORD_SPLIT.split(text.lower()) if t]
    if not tokens:
        return "eng"
    spa = sum(1 for t in tokens if t in _SPANISH)
    eng = sum(1 for t in tokens if t in _ENGLISH)
    spa += 0.5 * sum(1 for ch in text if ch in "ñÑ¿¡áéíóúÁÉÍÓÚ")
    return "spa" if spa > eng else "eng"


_ROTATE = re.compile(rb"Rotate:\s*(\d+)")
_ORIENT_CONF = re.compile(rb"Orientation confidence:\s*([\d.]+)")
# Below this OSD confidence we keep the page as it is: a wrong turn costs the whole page.
OSD_MIN_CONFIDENCE = 2.0


def detect_orientation(img: np.ndarray, *, timeout: int = 60) -> int:
    """Degrees (0/90/180/270) to rotate the page CLOCKWISE to make it upright.

    Tesseract's OSD; 0 when it sees too little text or is unsure.
    """
    try:
        out = run_tesseract(img, lang="osd", config=f"--psm 0 --dpi {DPI}", output="osd",
                            timeout=timeout)
    except OcrTimeout:
        raise
    except OcrFailed:
        return 0  # "Too few characters": nothing to orient by
    rotate = _ROTATE.search(out)
    conf = _ORIENT_CONF.search(out)
    if not rotate or not conf or float(conf.group(1)) < OSD_MIN_CONFIDENCE:
        return 0
    # OSD's "Rotate" is already the clockwise turn that makes the page upright.
    return int(rotate.group(1)) % 360
