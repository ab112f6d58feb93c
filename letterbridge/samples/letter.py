"""One synthetic letter: an envelope page and 1-3 letter pages, scanned, with its ground truth."""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from letterbridge.samples import fonts, text
from letterbridge.samples.degrade import degrade_page, map_box
from letterbridge.samples.render import (
    ENV_H,
    ENV_W,
    Box,
    Hand,
    Placed,
    Row,
    Tok,
    choose_hand,
    draw_letter_page,
    draw_rows,
    draw_stamp,
    fill_template,
    paginate,
    rows_text,
    union,
    words,
    wrap,
)
from letterbridge.samples.roster import (
    SYSTEMS,
    Person,
    decorated_number,
    facility_info,
    inmate_number,
)

DETAIL_KINDS = ("phone", "ssn", "email", "address", "card", "bank", "inmate_number", "watch_term")
DEFAULT_PROGRAM_LINES = ["Letterbridge Pen Pal Program", "PO Box 1000", "Springfield, IL 62701"]
STYLES = ("typed", "handwriting")
LANGUAGES = ("eng", "spa")


@dataclass
class PlantedDetail:
    kind: str  # one of DETAIL_KINDS (or sender_name / sender_number in SampleLetter.sender_marks)
    value: str  # exactly as printed; a two-line address has "\n" between its lines
    page: int  # 1-based; the envelope is page 1
    box: Box  # x0, y0, x1, y1 (x1, y1 exclusive) on the CLEAN page at 300 DPI
    line_boxes: list[Box] = field(default_factory=list)  # one per printed line when it spans two


@dataclass
class SampleLetter:
    id: str
    sender: Person
    style: str
    language: str
    pages: list[np.ndarray]  # as scanned; pages[0] is the envelope
    clean_pages: list[np.ndarray]
    page_texts: list[str]
    details: list[PlantedDetail]
    # {"angle": degrees counter-clockwise about the page centre, "flipped": bool} per page
    transforms: list[dict] = field(default_factory=list)
    # where the sender's own name and number are printed (envelope and letter headers)
    sender_marks: list[PlantedDetail] = field(default_factory=list)
    code: str | None = None
    seed: int = 0
    degrade: str = "scan"
    font: str = ""
    envelope: dict = field(
        default_factory=dict
    )  # sender_box, recipient_box, code_box, printed_number
    files: list[str] = field(default_factory=list)  # set by write_letter

    def scanned_box(self, detail: PlantedDetail) -> Box:
        """A detail's box on the scanned (skewed, maybe upside-down) page."""
        i = detail.page - 1
        return map_box(detail.box, self.transforms[i], self.pages[i].shape)

    def ground_truth(self) -> dict:
        return {
            "id": self.id,
            "sender": asdict(self.sender),
            "style": self.style,
            "language": self.language,
            "page_texts": list(self.page_texts),
            "details": [_detail_json(d) for d in self.details],
            "file": self.files[0] if self.files else None,
            "files": list(self.files),
            "page_count": len(self.pages),
            "page_sizes": [[int(p.shape[1]), int(p.shape[0])] for p in self.pages],
            "transforms": list(self.transforms),
            "sender_marks": [_detail_json(d) for d in self.sender_marks],
            "code": self.code,
            "seed": self.seed,
            "degrade": self.degrade,
            "font": self.font,
            "envelope": self.envelope,
        }


def _detail_json(d: PlantedDetail) -> dict:
    return {
        "kind": d.kind,
        "value": d.value,
        "page": d.page,
        "box": list(d.box),
        "line_boxes": [list(b) for b in d.line_boxes],
    }


# --- planning personal details -----------------------------------------------------------


@dataclass
class _Plan:
    sentence: list[Tok]
    block: list[Row] = field(default_factory=list)  # rows that follow the sentence (2-line address)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _plan_details(
    rng: random.Random,
    language: str,
    n_pages: int,
    sender: Person,
    others: list[Person] | None,
    hand: Hand,
) -> list[_Plan]:
    count = min(rng.randint(3, 6), 2 + 2 * n_pages)
    kinds = ["phone"] + rng.sample([k for k in DETAIL_KINDS], count - 1)
    templates = text.detail_templates(language)
    rel_pool = text.relatives(language)
    plans: list[_Plan] = []
    ref = 0
    for kind in kinds:
        rel = rng.choice(rel_pool)
        fmt = {"rel": rel, "Rel": _cap(rel)}
        if kind == "address" and rng.random() < 0.5:
            street, city = text.address(rng)
            intro = rng.choice(
                text.ADDRESS_BLOCK_INTRO_ES if language == "spa" else text.ADDRESS_BLOCK_INTRO_EN
            ).format(**fmt)
            group = 1000 + ref
            block = [
                Row([Tok(street, "address", None, ref)], hand.indent + 120, group),
                Row([Tok(city, "address", None, ref)], hand.indent + 120, group),
            ]
            plans.append(_Plan(words(intro), block))
            ref += 1
            continue
        template = (
            rng.choice(templates[kind]).replace("{rel}", fmt["rel"]).replace("{Rel}", fmt["Rel"])
        )
        values: dict[str, tuple[str, str, int]] = {}
        if kind == "phone":
            values["v"] = (kind, text.phone(rng), ref)
        elif kind == "ssn":
            values["v"] = (kind, text.ssn(rng), ref)
        elif kind == "email":
            values["v"] = (kind, text.email(rng), ref)
        elif kind == "card":
            values["v"] = (kind, text.card(rng), ref)
        elif kind == "bank":
            values["v"] = (kind, text.routing_number(rng), ref)
            ref += 1
            values["w"] = (kind, text.account_number(rng), ref)
        elif kind == "inmate_number":
            pool = [p for p in (others or []) if p.inmate_number != sender.inmate_number]
            if pool:
                number = rng.choice(pool).inmate_number
            else:
                number = inmate_number(rng.choice(SYSTEMS), rng)
            values["v"] = (kind, number, ref)
        elif kind == "watch_term":
            values["v"] = (kind, rng.choice(text.WATCH_TERMS), ref)
        elif kind == "address":
            street, city = text.address(rng)
            values["v"] = (kind, f"{street}, {city}", ref)
        ref += 1
        plans.append(_Plan(fill_template(template, values)))
    rng.shuffle(plans)
    return plans


# --- the letter pages --------------------------------------------------------------------


def _sender_toks(sender: Person, rng: random.Random) -> tuple[list[Tok], Tok]:
    return [Tok(w, "sender_name") for w in sender.name.split()], Tok(
        decorated_number(sender, rng), "sender_number"
    )


def _compose_letter(
    sender: Person, rng: random.Random, hand: Hand, language: str, n_pages: int, plans: list[_Plan]
) -> list[list[Row]]:
    name_toks, num_tok = _sender_toks(sender, rng)
    header_style = rng.choice(["one", "two"])
    head: list[Row] = []
    if header_style == "one":
        head.append(Row([*name_toks, num_tok]))
    else:
        head += [Row(list(name_toks)), Row([num_tok])]
    if rng.random() < 0.7:
        head.append(Row(words(sender.facility)))
    head.append(
        Row(words(text.letter_date(rng, language)), align="right" if rng.random() < 0.5 else "left")
    )
    greet = rng.choice(text.GREETINGS_ES if language == "spa" else text.GREETINGS_EN)
    head += [Row([]), Row(words(greet.format(n=rng.choice(text.GREETING_NAMES))))]

    page_label = (
        rng.choice(["", "page {k}", "p. {k}", "({k})"])
        if language == "eng"
        else rng.choice(["", "página {k}", "({k})"])
    )

    def header(k: int) -> list[Row]:
        if k <= 1:
            return []
        toks = [Tok(t.text, "sender_name") for t in name_toks]
        toks.append(Tok(num_tok.text, "sender_number"))
        if page_label:
            toks += words(page_label.format(k=k))
        return [Row(toks, group=-1), Row([], group=-1)]

    closing_group = 999
    closing = [
        Row([], group=closing_group),
        Row(
            words(rng.choice(text.CLOSINGS_ES if language == "spa" else text.CLOSINGS_EN)),
            group=closing_group,
        ),
        Row([Tok(t.text, "sender_name") for t in name_toks], group=closing_group),
    ]
    if rng.random() < 0.5:
        closing.append(Row([Tok(num_tok.text, "sender_number")], group=closing_group))

    deck = list(text.prose(language))
    rng.shuffle(deck)
    deck_i = 0

    def sentence() -> list[Tok]:
        nonlocal deck_i
        if deck_i >= len(deck):
            rng.shuffle(deck)
            deck_i = 0
        deck_i += 1
        return words(text.fill_slots(deck[deck_i - 1], rng, language))

    cap = hand.rows_per_page
    fill = rng.uniform(0.35, 0.8)
    est_total = (n_pages - 1 + fill) * cap
    due_at = [est_total * 0.85 * (j + 0.25) / max(1, len(plans)) for j in range(len(plans))]
    pending = list(range(len(plans)))
    rows = list(head)
    blank_between = not hand.handwriting or rng.random() < 0.5

    def para_rows(parts: list[list[Tok]], take: list[int]) -> list[Row]:
        toks = [t for part in parts for t in part]
        out = ([Row([])] if blank_between else []) + wrap(toks, hand, first_indent=hand.indent)
        for j in take:
            out += plans[j].block
        return out

    for _ in range(200):
        pages = paginate(rows, hand, header)
        pos = (len(pages) - 1) * cap + len(pages[-1])
        due = [j for j in pending if due_at[j] <= pos]
        take = due[:1]
        if len(due) > 1 and not plans[due[0]].block and not plans[due[1]].block:
            take = due[:2]
        parts = [sentence() for _ in range(rng.randint(2, 5))]
        for j in take:
            # an address block follows the sentence that introduces it, at the paragraph's end
            at = len(parts) if plans[j].block else rng.randrange(len(parts) + 1)
            parts.insert(at, plans[j].sentence)
        trial = rows + para_rows(parts, take)
        if len(paginate(trial + closing, hand, header)) > n_pages:
            if not pending:
                break
            # too long: try just the due (or next) details on their own
            take = take or pending[:1]
            trial = rows + para_rows([plans[j].sentence for j in take], take)
            if len(paginate(trial + closing, hand, header)) > n_pages:
                break
        rows = trial
        pending = [j for j in pending if j not in take]
        pages = paginate(rows + closing, hand, header)
        if len(pages) == n_pages and len(pages[-1]) >= fill * cap and not pending:
            break
    return paginate(rows + closing, hand, header)


# --- the envelope ------------------------------------------------------------------------


def _render_envelope(
    sender: Person, rng: random.Random, hand: Hand, program_lines: list[str], code: str | None
) -> tuple[np.ndarray, str, list[Placed], dict]:
    img = Image.new("L", (ENV_W, ENV_H), 255)
    draw = ImageDraw.Draw(img)
    font_key = hand.font_key
    if hand.handwriting and not fonts.ALL_FONTS[font_key].envelope_ok:
        # People print a return address carefully; the hardest hands stay on the letter pages.
        font_key = rng.choice(
            [f.key for f in fonts.available(fonts.HANDWRITING_FONTS) if f.envelope_ok]
        )
    if hand.handwriting:
        size = rng.randrange(52, 60)
        pitch = int(size * rng.uniform(1.3, 1.45))
    else:
        size = rng.randrange(42, 48)
        pitch = int(size * rng.uniform(1.2, 1.35))
    font = fonts.font(font_key, size)
    env_hand = Hand(
        font_key,
        size,
        pitch,
        hand.ink,
        hand.handwriting,
        jitter=hand.jitter * 0.6,
        word_jitter=hand.word_jitter * 0.6,
        slope=hand.slope * 0.5,
    )

    name = sender.name
    if rng.random() < 0.25:
        name = name.upper()
    name_toks = [Tok(w, "sender_name") for w in name.split()]
    num = decorated_number(sender, rng)
    num_tok = Tok(num, "sender_number")
    fac = facility_info(sender.facility)
    sender_rows = (
        [Row([*name_toks, num_tok])] if rng.random() < 0.5 else [Row(name_toks), Row([num_tok])]
    )
    sender_rows += [
        Row(words(fac["name"])),
        Row(words(fac["address_line"])),
        Row(words(f"{fac['city']}, {fac['state']} {fac['zip']}")),
    ]
    left, top = rng.randrange(90, 170), rng.randrange(60, 130)
    placed, _ = draw_rows(
        draw,
        sender_rows,
        env_hand,
        rng,
        left=left,
        right=ENV_W,
        top=top,
        size=(ENV_W, ENV_H),
        font=font,
        pitch=pitch,
    )
    sender_box = union([p.box for p in placed])

    stamp_box = draw_stamp(draw, rng, x1=ENV_W - rng.randrange(80, 130), y0=rng.randrange(60, 110))

    rsize = size + rng.randrange(2, 8)
    rfont = fonts.font(font_key, rsize)
    rpitch = int(rsize * 1.35)
    recipient_rows = [Row(words(line)) for line in program_lines]
    rplaced, _ = draw_rows(
        draw,
        recipient_rows,
        env_hand,
        rng,
        left=rng.randrange(1000, 1250),
        right=ENV_W,
        top=rng.randrange(470, 560),
        size=(ENV_W, ENV_H),
        font=rfont,
        pitch=rpitch,
    )
    texts = [rows_text(sender_rows), rows_text(recipient_rows)]
    info: dict = {
        "sender_box": list(sender_box),
        "recipient_box": list(union([p.box for p in rplaced])),
        "stamp_box": list(stamp_box),
        "printed_number": num,
        "printed_name": name,
        "font": font_key,
        "code_box": None,
    }
    extra: list[Row] = []
    if code:
        code_rows = [Row([Tok("Ref:"), Tok(code, "code")])]
        cplaced, _ = draw_rows(
            draw,
            code_rows,
            env_hand,
            rng,
            left=left,
            right=ENV_W,
            top=ENV_H - 70 - 2 * pitch,
            size=(ENV_W, ENV_H),
            font=font,
            pitch=pitch,
        )
        info["code_box"] = list(next(p.box for p in cplaced if p.tok.kind == "code"))
        extra += code_rows
    if sender.system != "federal" and rng.random() < 0.3:
        # the stamp many state facilities put on outgoing mail
        dfont = fonts.font("dejavu-sans-bold", 26)
        lines = ["THIS CORRESPONDENCE IS FROM AN INMATE", "OF A STATE CORRECTIONAL FACILITY"]
        x0, y0 = ENV_W - 820, ENV_H - 190
        draw.rectangle([x0 - 20, y0 - 20, x0 + 740, y0 + 100], outline=60, width=3)
        for k, line in enumerate(lines):
            draw.text((x0, y0 + 30 + k * 42), line, font=dfont, fill=60, anchor="ls")
        extra += [Row(words(line)) for line in lines]
    if extra:
        texts.append(rows_text(extra))
    return np.asarray(img), "\n\n".join(texts), placed, info


# --- the whole letter --------------------------------------------------------------------


def _letter_id(seed: int, sender: Person, style: str, language: str) -> str:
    number = re.sub(r"[^A-Za-z0-9]", "", sender.inmate_number)
    return f"s{seed}-{number}-{'hand' if style == 'handwriting' else 'typed'}-{language}"


def make_letter(
    sender: Person,
    *,
    seed: int = 0,
    style: str = "typed",
    language: str = "eng",
    n_pages: int | None = None,
    pii: bool = True,
    degrade: str = "scan",
    code: str | None = None,
    program_lines: list[str] | None = None,
    others: list[Person] | None = None,
) -> SampleLetter:
    """A letter from `sender`: envelope page first, then 1-3 letter pages; same arguments, same
    letter.

    `others`: people whose numbers may be mentioned in the letter (kind inmate_number);
    without it invented numbers are used.
    """
    return _make(
        sender,
        seed=seed,
        style=style,
        language=language,
        n_pages=n_pages,
        pii=pii,
        degrade=degrade,
        code=code,
        program_lines=program_lines,
        others=others,
        envelope_only=False,
    )


def make_envelope(
    sender: Person,
    *,
    seed: int = 0,
    style: str = "typed",
    language: str = "eng",
    degrade: str = "scan",
    code: str | None = None,
    program_lines: list[str] | None = None,
) -> SampleLetter:
    """Only the envelope page of the letter `make_letter` makes from the same arguments (with
    n_pages=None), pixel for pixel, at a quarter of the cost: for routing benchmarks."""
    return _make(
        sender,
        seed=seed,
        style=style,
        language=language,
        n_pages=None,
        pii=False,
        degrade=degrade,
        code=code,
        program_lines=program_lines,
        others=None,
        envelope_only=True,
    )


def _make(
    sender: Person,
    *,
    seed: int,
    style: str,
    language: str,
    n_pages: int | None,
    pii: bool,
    degrade: str,
    code: str | None,
    program_lines: list[str] | None,
    others: list[Person] | None,
    envelope_only: bool,
) -> SampleLetter:
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}")
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}")
    if n_pages is not None and not 1 <= n_pages <= 3:
        raise ValueError("n_pages must be 1, 2 or 3")
    key = f"{seed}:{sender.inmate_number}:{sender.name}:{style}:{language}"
    rng = random.Random(f"letter:{key}")
    nrng = np.random.default_rng(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))
    if n_pages is None:
        n_pages = rng.randint(1, 3)
    hand = choose_hand(
        rng, style=style, language=language, ruled=True if degrade == "hard" else None
    )
    program_lines = list(program_lines or DEFAULT_PROGRAM_LINES)
    # white envelopes mostly, now and then a manila one (darker paper, less contrast)
    env_paper = int(nrng.integers(196, 216)) if nrng.random() < 0.25 else None

    env_img, env_text, env_placed, env_info = _render_envelope(
        sender, rng, hand, program_lines, code
    )
    clean, texts, placed_by_page = [env_img], [env_text], [env_placed]
    if not envelope_only:
        plans = _plan_details(rng, language, n_pages, sender, others, hand) if pii else []
        page_rows = _compose_letter(sender, rng, hand, language, n_pages, plans)
        for rows in page_rows:
            drawn = draw_letter_page(rows, hand, rng)
            clean.append(drawn.image)
            texts.append(drawn.text)
            placed_by_page.append(drawn.placed)
    details, marks = _collect(placed_by_page)

    pages, transforms = [], []
    flip_used = False
    for i, img in enumerate(clean):
        page, t = degrade_page(
            img,
            mode=degrade,
            rng=nrng,
            allow_flip=not flip_used,
            paper=env_paper if i == 0 else None,
        )
        flip_used = flip_used or t["flipped"]
        pages.append(page)
        transforms.append(t)
    return SampleLetter(
        id=_letter_id(seed, sender, style, language),
        sender=sender,
        style=style,
        language=language,
        pages=pages,
        clean_pages=clean,
        page_texts=texts,
        details=details,
        transforms=transforms,
        sender_marks=marks,
        code=code,
        seed=seed,
        degrade=degrade,
        font=hand.font_key,
        envelope=env_info,
    )


def _collect(placed_by_page: list[list[Placed]]) -> tuple[list[PlantedDetail], list[PlantedDetail]]:
    details: list[PlantedDetail] = []
    marks: list[PlantedDetail] = []
    for page_no, placed in enumerate(placed_by_page, start=1):
        by_ref: dict[int, list[Placed]] = {}
        for p in placed:
            if p.tok.kind in DETAIL_KINDS and p.tok.ref is not None:
                by_ref.setdefault(p.tok.ref, []).append(p)
            elif p.tok.kind == "sender_number":
                marks.append(PlantedDetail("sender_number", p.tok.text, page_no, p.box))
        # a name is several tokens on one row: one mark per row
        rows: dict[int, list[Placed]] = {}
        for p in placed:
            if p.tok.kind == "sender_name":
                rows.setdefault(p.row, []).append(p)
        for group in rows.values():
            marks.append(
                PlantedDetail(
                    "sender_name",
                    " ".join(p.tok.text for p in group),
                    page_no,
                    union([p.box for p in group]),
                )
            )
        for ref in sorted(by_ref):
            parts = by_ref[ref]
            boxes = [p.value_box for p in parts]
            details.append(
                PlantedDetail(
                    parts[0].tok.kind or "",
                    "\n".join(p.tok.value for p in parts),
                    page_no,
                    union(boxes),
                    boxes if len(parts) > 1 else [],
                )
            )
    return details, marks
