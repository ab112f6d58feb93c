"""The generated page set of the OCR benchmark: letter pages with their true text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = [("typed", "scan"), ("handwriting", "scan"), ("typed", "hard"), ("handwriting", "hard")]


@dataclass
class BenchPage:
    id: str
    style: str  # typed | handwriting
    degrade: str  # scan | hard
    language: str
    font: str
    image: np.ndarray  # as scanned (raw)
    truth: str
    turned: int  # extra clockwise turn applied on top of the generator's (a sideways photo)
    flipped: bool  # the generator fed the page upside down
    on_bed: bool = False  # lying on a dark surface with margins around it

    @property
    def cls(self) -> str:
        return f"{self.style}/{self.degrade}"

    @property
    def upright_turn(self) -> int:
        """Clockwise degrees that make this page upright."""
        return ((180 if self.flipped else 0) - self.turned) % 360


def make_pages(n_pages: int, *, seed: int = 0) -> list[BenchPage]:
    """About n_pages letter pages, spread evenly over CLASSES; every third letter in Spanish,
    every fifth page turned sideways (90° one way or the other) as a phone photo would be,
    every sixth lying on a dark surface with margins around it."""
    from letterbridge.samples import make_letter, make_roster
    from ocr.preprocess import rotate_right_angle

    roster = make_roster(12, seed=seed)
    per_class = max(1, -(-n_pages // len(CLASSES)))
    pages: list[BenchPage] = []
    for k, (style, degrade) in enumerate(CLASSES):
        got, n = 0, 0
        while got < per_class:
            letter_seed = seed * 1000 + k * 100 + n
            language = "spa" if n % 3 == 2 else "eng"
            letter = make_letter(
                roster.inmates[n % len(roster.inmates)],
                seed=letter_seed,
                style=style,
                language=language,
                degrade=degrade,
                pii=True,
            )
            n += 1
            # pages[0] is the envelope; the benchmark is about letter pages.
            for i in range(1, len(letter.pages)):
                if got >= per_class:
                    break
                image = letter.pages[i]
                turned = 0
                on_bed = len(pages) % 6 == 5
                if on_bed:
                    image = on_scanner_bed(image, seed=letter_seed + i)
                if len(pages) % 5 == 4:
                    turned = 90 if (len(pages) // 5) % 2 == 0 else 270
                    image = rotate_right_angle(image, turned)
                pages.append(
                    BenchPage(
                        id=f"{letter.id}-p{i}",
                        style=style,
                        degrade=degrade,
                        language=language,
                        font=letter.font,
                        image=np.ascontiguousarray(image),
                        truth=letter.page_texts[i],
                        turned=turned,
                        flipped=bool(letter.transforms[i].get("flipped")), on_bed=on_bed,
                    )
                )
                got += 1
    return pages


def on_scanner_bed(page: np.ndarray, *, seed: int) -> np.ndarray:
    """The page lying on a dark, uneven surface with margins around it (scanner lid left open,
    or a phone photo on a table)."""
    rng = np.random.default_rng(seed)
    h, w = page.shape
    top, left = int(rng.integers(60, 200)), int(rng.integers(60, 200))
    bottom, right = int(rng.integers(60, 200)), int(rng.integers(60, 200))
    level = float(rng.uniform(25, 90))
    bed = rng.normal(level, 6.0, (h + top + bottom, w + left + right))
    bed += np.linspace(0, float(rng.uniform(-20, 20)), bed.shape[1])[None, :]
    out = np.clip(bed, 0, 255).astype(np.uint8)
    out[top : top + h, left : left + w] = page
    return out


def blank_backs(fronts: list[np.ndarray], *, seed: int = 0) -> list[np.ndarray]:
    """Empty duplex backs, each showing its front through faintly."""
    from letterbridge.samples.degrade import blank_back

    rng = np.random.default_rng(seed)
    return [blank_back(front.shape, rng, front=front) for front in fronts]
