"""Finds the Debian fonts the sample generator draws with, and caches them per size."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from PIL import ImageFont

# What `apt-get install` must provide (the Makefile installs these).
DEBIAN_FONT_PACKAGES = [
    "fonts-dejavu-core",
    "fonts-liberation2",
    "fonts-comic-neue",
    "fonts-dkg-handwriting",
    "fonts-humor-sans",
]

_FONT_ROOTS = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts")]


@dataclass(frozen=True)
class FontSpec:
    key: str
    candidates: tuple[str, ...]  # paths relative to a font root, first found wins
    package: str
    latin1: bool = True  # has the accented letters Spanish needs (á é í ó ú ñ ¿ ¡)
    size_scale: float = 1.0  # makes x-heights of different faces look alike at one nominal size
    caps_only: bool = False  # draws every letter as a capital: the truth text is upper-cased
    envelope_ok: bool = True  # Tesseract reads its digits well enough for a return address


TYPED_FONTS = [
    FontSpec(
        "liberation-serif",
        (
            "truetype/liberation2/LiberationSerif-Regular.ttf",
            "truetype/liberation/LiberationSerif-Regular.ttf",
        ),
        "fonts-liberation2",
    ),
    FontSpec(
        "liberation-sans",
        (
            "truetype/liberation2/LiberationSans-Regular.ttf",
            "truetype/liberation/LiberationSans-Regular.ttf",
        ),
        "fonts-liberation2",
        size_scale=0.94,
    ),
    FontSpec(
        "liberation-mono",  # the typewriter look of a prison law-library machine
        (
            "truetype/liberation2/LiberationMono-Regular.ttf",
            "truetype/liberation/LiberationMono-Regular.ttf",
        ),
        "fonts-liberation2",
        size_scale=0.92,
    ),
    FontSpec(
        "dejavu-serif", ("truetype/dejavu/DejaVuSerif.ttf",), "fonts-dejavu-core", size_scale=0.9
    ),
    FontSpec(
        "dejavu-sans", ("truetype/dejavu/DejaVuSans.ttf",), "fonts-dejavu-core", size_scale=0.88
    ),
]

HANDWRITING_FONTS = [
    FontSpec("comic-neue", ("opentype/comic-neue/ComicNeue-Regular.otf",), "fonts-comic-neue"),
    FontSpec("comic-neue-light", ("opentype/comic-neue/ComicNeue-Light.otf",), "fonts-comic-neue"),
    FontSpec(
        "comic-neue-italic", ("opentype/comic-neue/ComicNeue-Italic.otf",), "fonts-comic-neue"
    ),
    # A real cursive-ish hand: hard for Tesseract, used on letter pages, never on envelopes.
    FontSpec(
        "dkg",
        ("truetype/fifthhorseman/dkg.ttf",),
        "fonts-dkg-handwriting",
        size_scale=1.1,
        envelope_ok=False,
    ),
    # Humor Sans has ASCII capitals only: never used for Spanish; its digits OCR badly.
    FontSpec(
        "humor-sans",
        ("truetype/humor-sans/Humor-Sans.ttf",),
        "fonts-humor-sans",
        latin1=False,
        size_scale=0.95,
        caps_only=True,
        envelope_ok=False,
    ),
]

# Handwriting faces the generator never draws letters with: the handwriting benchmark
# (bench/handwriting_bench.py) reads pages in them to measure OCR on hands nothing was tuned
# on. size_scale matches each face's x-height to Comic Neue's; latin1=False where the face
# lacks Spanish's accented letters; the six "Because We Had To" faces draw capitals only.
EXTRA_HANDWRITING_FONTS = [
    FontSpec("breip", ("truetype/breip/Breip.ttf",), "fonts-breip", size_scale=1.35),
    FontSpec("bw-build", ("opentype/bwht/BecauseWeBuild-Regular.otf",), "fonts-bwht",
             latin1=False, size_scale=0.82, caps_only=True),
    FontSpec("bw-connect", ("opentype/bwht/BecauseWeConnect-Regular.otf",), "fonts-bwht",
             latin1=False, size_scale=0.72, caps_only=True),
    FontSpec("bw-create", ("opentype/bwht/BecauseWeCreate-Regular.otf",), "fonts-bwht",
             latin1=False, size_scale=0.78, caps_only=True),
    FontSpec("bw-learn", ("opentype/bwht/BecauseWeLearn-Regular.otf",), "fonts-bwht",
             latin1=False, size_scale=0.66, caps_only=True),
    FontSpec("bw-mentor", ("opentype/bwht/BecauseWeMentor-Regular.otf",), "fonts-bwht",
             latin1=False, size_scale=0.89, caps_only=True),
    FontSpec("bw-organize", ("opentype/bwht/BecauseWeOrganize-Regular.otf",), "fonts-bwht",
             latin1=False, size_scale=0.78, caps_only=True),
    FontSpec("dancing-script", ("opentype/dancingscript/DancingScript-Regular.otf",),
             "fonts-dancingscript", size_scale=1.29),
    # A schoolchild's French cursive: tiny x-height under tall loops (scaled only part way).
    FontSpec("ecolier", ("truetype/ecolier-court/Ecolier-court.ttf",), "fonts-ecolier-court",
             latin1=False, size_scale=1.5),
    FontSpec("femkeklaver", ("truetype/femkeklaver/femkeklaver.ttf",), "fonts-femkeklaver"),
    FontSpec("kaushan-script", ("opentype/kaushanscript/KaushanScript-Regular.otf",),
             "fonts-kaushanscript"),
    FontSpec("klee", ("truetype/klee/KleeOne-Regular.ttf",), "fonts-klee"),
    FontSpec("kristi", ("truetype/kristi/Kristi.ttf",), "fonts-kristi"),
    FontSpec("leckerli", ("truetype/leckerli-one/LeckerliOne-Regular.ttf",), "fonts-leckerli-one",
             size_scale=1.07),
    FontSpec("lobster", ("opentype/lobster/lobster.otf",), "fonts-lobster", size_scale=0.94),
    FontSpec("rufscript", ("truetype/rufscript/Rufscript010.ttf",), "fonts-rufscript",
             latin1=False, size_scale=0.94),
    FontSpec("cabin-sketch", ("truetype/cabinsketch/CabinSketch-Regular.ttf",), "fonts-cabinsketch"),
    FontSpec("yusei-magic", ("truetype/yusei-magic/YuseiMagic-Regular.ttf",), "fonts-yusei-magic"),
    # A 16th-century secretary hand: nobody writes so today; the far end of "not tuned on".
    FontSpec("joscelyn", ("opentype/joscelyn/Joscelyn-Regular.otf",), "fonts-joscelyn",
             size_scale=0.84),
    FontSpec("havana", ("opentype/havana/Havana-Regular.otf",), "fonts-havana", latin1=False),
]
# Typed faces the generator never draws with and nothing was tuned on: the typed-mail
# benchmark's "not tuned on" group (a word processor's, a typewriter's and a book's faces).
EXTRA_TYPED_FONTS = [
    FontSpec("free-serif", ("truetype/freefont/FreeSerif.ttf",), "fonts-freefont-ttf"),
    FontSpec("free-sans", ("truetype/freefont/FreeSans.ttf",), "fonts-freefont-ttf",
             size_scale=0.94),
    FontSpec("free-mono", ("truetype/freefont/FreeMono.ttf",), "fonts-freefont-ttf",
             size_scale=0.92),
    FontSpec("carlito", ("truetype/crosextra/Carlito-Regular.ttf",), "fonts-crosextra-carlito"),
    FontSpec("caladea", ("truetype/crosextra/Caladea-Regular.ttf",), "fonts-crosextra-caladea"),
    FontSpec("c059", ("opentype/urw-base35/C059-Roman.otf",), "fonts-urw-base35",
             size_scale=0.9),
    FontSpec("p052", ("opentype/urw-base35/P052-Roman.otf",), "fonts-urw-base35",
             size_scale=0.92),
    FontSpec("nimbus-mono", ("opentype/urw-base35/NimbusMonoPS-Regular.otf",),
             "fonts-urw-base35", size_scale=0.92),
    FontSpec("noto-mono", ("truetype/noto/NotoMono-Regular.ttf",), "fonts-noto-mono",
             size_scale=0.88),
]
# Debian's handwriting faces that cannot write a letter at all (fonts-levien-typoscript has
# no digits), so the benchmark leaves them out.
UNUSABLE_HANDWRITING_PACKAGES = {"fonts-levien-typoscript": "no digits"}
EXTRA_FONT_PACKAGES = sorted({spec.package for spec in [*EXTRA_HANDWRITING_FONTS,
                                                         *EXTRA_TYPED_FONTS]})

BOLD_SANS = FontSpec(
    "dejavu-sans-bold", ("truetype/dejavu/DejaVuSans-Bold.ttf",), "fonts-dejavu-core"
)

ALL_FONTS = {
    spec.key: spec
    for spec in [*TYPED_FONTS, *HANDWRITING_FONTS, *EXTRA_HANDWRITING_FONTS,
                 *EXTRA_TYPED_FONTS, BOLD_SANS]
}


class FontMissing(RuntimeError):
    pass


@cache
def font_path(key: str) -> Path:
    spec = ALL_FONTS[key]
    for root in _FONT_ROOTS:
        for rel in spec.candidates:
            path = root / rel
            if path.exists():
                return path
    raise FontMissing(
        f"font {key!r} not found under {', '.join(map(str, _FONT_ROOTS))}; "
        f"install the Debian package {spec.package}"
    )


def available(specs: list[FontSpec], *, language: str = "eng") -> list[FontSpec]:
    """The installed fonts of a list, in list order, that can write `language`."""
    found = []
    for spec in specs:
        if language != "eng" and not spec.latin1:
            continue
        try:
            font_path(spec.key)
        except FontMissing:
            continue
        found.append(spec)
    return found


@lru_cache(maxsize=256)
def font(key: str, size: int) -> ImageFont.FreeTypeFont:
    spec = ALL_FONTS[key]
    return ImageFont.truetype(str(font_path(key)), max(8, round(size * spec.size_scale)))
