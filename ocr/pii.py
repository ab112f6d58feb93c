"""Find personal details in OCR words (or plain text): pure functions, no I/O.

Matching runs on the page text built exactly like `ocr.types.words_to_text`, with a map from
each character back to the word it came from, so a span that crosses words and lines maps back
to word boxes. Numbers are matched on a copy of that text in which letters that OCR confuses
with digits (O/0, l/I/1, S/5, B/8, ...) are folded to digits — only inside runs that already hold
a digit, so ordinary words stay as they are. The folded copy has the same length as the text,
so offsets are shared.

The specific finders name what they find ("[phone removed]"); the gate does not depend on them:
`ocr.numbers` burns every run of six or more digits that no safe rule (date, time, money, page,
year, reply code, the sender's own number) explains, as kind `number`. When a specific finder
matches the same characters, its label wins.

A finding says what kind of detail it is and why (`reason`), never the value itself: findings
end up in audit events and review screens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from phonenumbers import Leniency, PhoneNumberMatcher
from rapidfuzz.distance import Hamming

from ocr.numbers import REASON as _NUMBER_REASON
from ocr.numbers import TO_DIGIT as _TO_DIGIT
from ocr.numbers import (
    ascii_digits,
    canonical_char,
    canonical_id,
    explained_runs,
    fill_strays,
    stands_for_digits,
    unexplained_numbers,
)
from ocr.types import Box, Word

# The kinds the specific finders name (and the sample letters plant).
KINDS = ("phone", "ssn", "email", "address", "card", "bank", "inmate_number", "watch_term")
# What the catch-all names a number no specific finder claimed ("[number removed]").
NUMBER_KIND = "number"
ALL_KINDS = (*KINDS, NUMBER_KIND)


@dataclass
class Finding:
    kind: str
    word_indices: list[int]  # indices into the words list, ascending
    boxes: list[Box]  # one box per line segment the span covers (union of its words on that line)
    reason: str  # why this was found, e.g. "US phone number (phonenumbers)"; never the value


@dataclass
class TextFinding:
    kind: str
    start: int  # character offsets into the text, end exclusive
    end: int
    reason: str


# ---------------------------------------------------------------------------------------------
# Confusion folding
# ---------------------------------------------------------------------------------------------

# Characters OCR (and handwriting) swap with digits: `ocr.numbers.TO_DIGIT`.
_DIGITISH_RUN = re.compile("[0-9" + re.escape("".join(_TO_DIGIT)) + "]+")


def fold_confusions(text: str) -> str:
    """Same-length copy of `text` with digit look-alikes turned into digits where a number is.

    Only runs of digits and look-alikes that contain at least one real digit are folded:
    "3I2-555-O142" becomes "312-555-0142", while "Bill" or "ID" stay untouched.
    """
    chars = list(text)
    runs = [(m.start(), m.end()) for m in _DIGITISH_RUN.finditer(text)]
    numeric = [any(c.isdigit() for c in text[s:e]) for s, e in runs]
    # A group read entirely as letters ("SSS" in "555-SSS-0142") counts as a number when a
    # dash or dot joins it to one that is.
    changed = True
    while changed:
        changed = False
        for k in range(len(runs)):
            if numeric[k]:
                continue
            for n in (k - 1, k + 1):
                if 0 <= n < len(runs) and numeric[n]:
                    gap = text[min(runs[k][1], runs[n][1]) : max(runs[k][0], runs[n][0])]
                    if len(gap) == 1 and gap in "-.":
                        numeric[k] = changed = True
                        break
    for (start, end), is_number in zip(runs, numeric, strict=True):
        if is_number:
            for i in range(start, end):
                chars[i] = _TO_DIGIT.get(chars[i], chars[i])
    return "".join(chars)


_ID_LABEL = re.compile(
    r"(?i)^(?:\s*(?:#|(?:reg(?:ister)?|no|number|inmate|cdcr|cdc|idoc|tdcj|din|doc|bop|id)\b\.?))+"
)


def sender_key(sender_number: str | None) -> str:
    """The canonical form of the sender's own number, labels ("Reg. No.", "DIN#") dropped."""
    return canonical_id(_ID_LABEL.sub("", sender_number or ""))


# Watch terms are words: fold the other way (digits and look-alikes to one letter each).
_LETTER_CANON = str.maketrans(
    {
        "0": "o", "1": "l", "i": "l", "|": "l", "!": "l",
        "5": "s", "$": "s", "3": "e", "4": "a", "@": "a", "8": "b", "7": "t",
    }
)  # fmt: skip


def _letter_canon(text: str) -> str:
    # lower() can change length for a few non-ASCII letters; keep offsets by folding per char.
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text).translate(_LETTER_CANON)


# ---------------------------------------------------------------------------------------------
# Candidate spans
# ---------------------------------------------------------------------------------------------


@dataclass
class _Span:
    kind: str
    start: int
    end: int
    reason: str
    priority: int  # when spans overlap they merge; the highest priority names the result


# Typographic dashes and the minus sign OCR sometimes prints for "-" (one character each).
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))


# Two or more look-alike letters glued before a number's first real digit are a word, not
# digits: "is415-555-0132" is "is" and a phone number.
_GLUED_HEAD = re.compile(r"(?<![0-9A-Za-z])([A-Za-z]{2,})(?=[0-9])")


class _Doc:
    """The text five ways: as read, with strays in numbers as digits (`ocr.numbers.fill_strays`),
    digit-folded, digit-folded on one line, and the latter with words glued before a number left
    as letters."""

    def __init__(self, text: str) -> None:
        self.text = text
        # A character inside a part that is plainly a number stands for a digit ("485U5").
        self.filled = fill_strays(text)
        self.folded = fold_confusions(text).translate(_DASHES)
        # phonenumbers does not look across line breaks; a number may be split over two lines.
        self.flat = self.folded.replace("\n", " ").replace("\t", " ")
        chars = list(self.flat)
        for m in _GLUED_HEAD.finditer(text):
            chars[m.start(1) : m.end(1)] = " " * (m.end(1) - m.start(1))
        self.unglued = "".join(chars)


def _digit_class() -> str:
    return "[0-9" + re.escape("".join(_TO_DIGIT)) + "]"


_D = _digit_class()  # a digit or something OCR may have read instead of one
_NB = r"(?<![0-9A-Za-z])"  # not glued to a letter or digit on the left
_NA = r"(?![0-9A-Za-z])"  # ... or on the right


# Phones ----------------------------------------------------------------------------------------

_PHONE_PATTERNS = [
    # (312) 555-0142, 312.555.0142, +1 312 555 0142, 1-312-555-0142, 3125550142, 312 / 555-0142
    re.compile(
        r"(?<![\d])(?:\+?\s?1[\s.\-]{0,2})?\(?\s?\d{3}\s?\)?[\s.\-/]{0,3}\d{3}[\s.\-]{0,3}\d{4}(?!\d)"
    ),
    # 555-0142: a local number without area code
    re.compile(r"(?<![\d\-])\d{3}\s?[\-.]\s?\d{4}(?![\d\-])"),
    # 315 555 015): the last digit read as a glyph that is no digit look-alike
    re.compile(r"(?<!\d)\(?\d{3}\)?[ .\-]{1,3}\d{3}[ .\-]{1,3}\d{3}[^\s\d]"),
]


# International numbers: "+49 30 1234567", "+44 (0)20 7946 0958"; a "+" and 8-15 digits.
_INTL_PHONE = re.compile(r"(?<![\w+])\+[ \t]?\d{1,3}(?:[ \t]?[.\-/]?[ \t]?\(?\d{1,5}\)?){1,5}(?![\d\-])")
# National numbers abroad start with a trunk "0": "09-7625400", "090-1234-5678", "030 1234567".
_TRUNK_PHONE = re.compile(
    r"(?<![\w\-+./])0\d{1,4}(?:[ \t]?[\-/][ \t]?|[ \t])\d{2,8}(?:[ \t]?-[ \t]?\d{2,5}|[ \t]\d{2,5}){0,2}"
    r"(?![\d\-])"
)


def _digit_count(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _find_phones(doc: _Doc) -> list[_Span]:
    spans: list[_Span] = []
    for copy in (doc.flat, doc.unglued) if doc.unglued != doc.flat else (doc.flat,):
        for match in PhoneNumberMatcher(copy, "US", leniency=Leniency.POSSIBLE, max_tries=65535):
            us = match.number.country_code == 1
            reason = "US phone number (phonenumbers)" if us else "phone number (phonenumbers)"
            # Written with its country code, it is a phone whatever else its digits look like:
            # "+49 30 1234567" is no Texas inmate number, and no card number starts with "+"
            # (though a stretch of its digits may pass the Luhn check).
            priority = 10 if match.raw_string.startswith("+") else 5
            spans.append(_Span("phone", match.start, match.end, reason, priority))
        for pattern in _PHONE_PATTERNS:
            for m in pattern.finditer(copy):
                spans.append(_Span("phone", m.start(), m.end(), "phone number pattern", 5))
        for m in _INTL_PHONE.finditer(copy):
            if 8 <= _digit_count(m.group()) <= 15:
                spans.append(_Span("phone", m.start(), m.end(), "international phone number", 10))
        for m in _TRUNK_PHONE.finditer(copy):
            if 9 <= _digit_count(m.group()) <= 12:
                spans.append(_Span("phone", m.start(), m.end(), "phone number with a trunk 0", 5))
    return spans


# SSNs ------------------------------------------------------------------------------------------

_SSN_SEP = r"[ \t.\-–]{1,2}"
_SSN = re.compile(rf"(?<![\d\-])\d{{3}}{_SSN_SEP}\d{{2}}{_SSN_SEP}\d{{4}}(?![\d\-])")
_NINE = re.compile(r"(?<!\d)\d{9}(?!\d)")
_SSN_LABEL = re.compile(
    r"(?i)(?:\bSSN|\bS\.S\.N\.?|\bsocial(?:\s+security)?|\bSS\s*#)[^\d\n]{0,25}?"
    r"(\d(?:[ .\-]{0,2}\d){3,8})(?!\d)"
)


def _aba_ok(digits: str) -> bool:
    if len(digits) != 9 or digits == "0" * 9:
        return False
    d = [int(c) for c in digits]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


# Nine digits with the dash elsewhere: "911-701234", "91170-1234" (SSNs and ITINs written by
# hand; an EIN is 12-3456789), and the 4-4-1 grouping banks print routing numbers in ("3222-7162-7").
_NINE_GROUPED = re.compile(
    r"(?<![\d\-])\d{1,5}(?:[ \t]?-[ \t]?\d{1,7}){1,2}(?![\d\-])|(?<![\d\-])\d{4} \d{4} \d(?![\d\-])"
)


def _find_ssns(doc: _Doc) -> list[_Span]:
    spans = [_Span("ssn", m.start(), m.end(), "SSN pattern ###-##-####", 8) for m in
             _SSN.finditer(doc.flat)]  # fmt: skip
    for m in _NINE_GROUPED.finditer(doc.flat):
        digits = re.sub(r"\D", "", m.group())
        if len(digits) != 9 or _aba_ok(digits):
            continue  # a routing number: the bank finder's
        groups = [len(g) for g in re.findall(r"\d+", m.group())]
        # 5-4 is also how a ZIP+4 is written: the address finder names it when a city is there;
        # 2-7 is an EIN's shape, and a phone's abroad when it starts with a trunk 0 (09-7625400).
        priority = {(5, 4): 2, (2, 7): 4}.get(tuple(groups), 6)
        spans.append(_Span("ssn", m.start(), m.end(), "nine digits, dashes anywhere (SSN, ITIN, EIN)",
                           priority))  # fmt: skip
    for m in _NINE.finditer(doc.folded):
        # Nine bare digits: a routing number when the checksum holds (found by the bank
        # finder), otherwise most likely an SSN written without dashes. Either way it goes.
        if not _aba_ok(m.group()):
            spans.append(_Span("ssn", m.start(), m.end(), "nine-digit number (SSN)", 6))
    for m in _SSN_LABEL.finditer(doc.folded):
        spans.append(_Span("ssn", m.start(1), m.end(1), "number labelled as SSN", 20))
    return spans


# Emails ----------------------------------------------------------------------------------------

_AT = r"(?:@|©|®|&|\(at\)|\[at\]|\{at\})"
# Local parts and labels are bounded and must start where a run of such characters starts:
# an unbounded `[...]*` before "@" is quadratic on a long run of letters and dots.
# A local part may start with the dot or underscore OCR split it at ("keisha .jackson@...").
_LOCAL = r"(?<![\w%+\-])[._\-]?[^\W_][\w.%+\-]{0,63}"  # \w: OCR may read "6" as "é"
_EMAIL = re.compile(
    rf"{_LOCAL}[ \t]?{_AT}[ \t]?[A-Za-z0-9\-]{{1,63}}"
    # "bparker4@mail. example. com": OCR puts a space after a dot in the middle too.
    r"(?:[.,][ \t]?[A-Za-z0-9\-]{1,63}){0,6}"
    # "gmail. com": a space after the last dot only before a common top-level domain.
    r"(?:[.,][A-Za-z]{2,6}(?![A-Za-z])|[.,][ \t](?:com|net|org|edu|gov)(?![A-Za-z]))"
)
_EMAIL_SPELLED = re.compile(
    rf"(?i){_LOCAL}\s+(?:at|\(at\)|\[at\])\s+[a-z0-9\-]{{1,63}}"
    r"(?:\s+(?:dot|\(dot\)|\[dot\])\s+[a-z0-9\-]{1,63}){0,4}\s+(?:dot|\(dot\)|\[dot\])\s+"
    r"(?:com|org|net|edu|gov|us|info|biz|me|io|co)\b"
)
# A real "@" between a name and a word is an address whose dots OCR lost
# ("BARBARAWARD@MAILEXAMPLECOM", "JOSEN@EXAMPLENET").
_EMAIL_NO_DOT = re.compile(rf"{_LOCAL}@[^\W_][\w\-]{{1,63}}")
# The "@" is the character OCR most often drops; a well-known mail domain still gives it away.
_EMAIL_NO_AT = re.compile(
    r"(?i)(?<![a-z0-9._%+\-])[a-z0-9._%+\-]{0,64}?(?:gmail|yahoo|hotmail|aol|outlook|icloud|"
    r"comcast|sbcglobal|protonmail|verizon|ymail)[.,](?:com|net)\b"
)
# OCR reads "@" as O, 0, Q, a, & or nothing at all ("billy.perezOmail.example.com"); what is
# left still looks like a host name. A web address goes too, which is no loss.
_HOSTLIKE = re.compile(
    r"(?i)(?<![a-z0-9._%+\-@])[a-z0-9][a-z0-9._%+\-]{0,63}\.[a-z0-9\-]{1,63}"
    r"\.(?:com|net|org|edu|gov|us|info|biz|io|co|me|mil)(?![a-z0-9])"
    r"|(?<![a-z0-9._%+\-@])[a-z0-9][a-z0-9._%+\-]{2,63}\.(?:com|net|org|edu|gov)(?![a-z0-9])"
)
# The local part left behind when the "@" became a space: "billy.perez mail.example.com".
_LOCAL_LEFT = re.compile(r"[A-Za-z0-9][\w.%+\-]*[._\d][\w%+\-]*[ \t]$")


# OCR splits "michelle_78@example.com" into "michelle 78@example.com": a local part that starts
# with a digit or punctuation is probably the tail of one, and takes the word before it along.
_LOCAL_HEAD = re.compile(r"[A-Za-z0-9][\w.%+\-]{0,63}[ \t\n]$")
# ... and one split right after a dot, underscore or dash keeps the part before it:
# "keisha. jackson03@gmail.com" (wrapped over two lines too).
_SPLIT_HEAD = re.compile(r"(?<![\w.%+\-])[A-Za-z0-9][\w.%+\-]{0,63}[._\-][ \t]?\n?[ \t]?$")


def _find_emails(doc: _Doc) -> list[_Span]:
    spans = []
    for m in _EMAIL.finditer(doc.text):
        start = m.start()
        if not doc.text[start].isalpha():
            head = _LOCAL_HEAD.search(doc.text, max(0, start - 65), start)
            start = head.start() if head else start
        if start > 0 and doc.text[start - 1] in " \t\n":
            head = _SPLIT_HEAD.search(doc.text, max(0, start - 70), start)
            start = head.start() if head else start
        spans.append(_Span("email", start, m.end(), "email address", 4))
    spans += [_Span("email", m.start(), m.end(), "email address written out", 4) for m in
              _EMAIL_SPELLED.finditer(doc.text)]  # fmt: skip
    spans += [_Span("email", m.start(), m.end(), "email address, its dots not read", 4) for m in
              _EMAIL_NO_DOT.finditer(doc.text)]  # fmt: skip
    spans += [_Span("email", m.start(), m.end(), "address at a mail provider", 4) for m in
              _EMAIL_NO_AT.finditer(doc.text)]  # fmt: skip
    for m in _HOSTLIKE.finditer(doc.text):
        start = m.start()
        left = _LOCAL_LEFT.search(doc.text, max(0, start - 65), start)
        if left:
            start = left.start()
        spans.append(_Span("email", start, m.end(), "email or web address (no @ read)", 4))
    return spans


# Street addresses --------------------------------------------------------------------------------

_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA PR RI SC SD TN TX UT VT VA WA WV WI WY"
).split()
_STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|"
    "Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|"
    "Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|"
    "New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|"
    "Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|"
    "West Virginia|Wisconsin|Wyoming"
)
# Suffixes that are street words in any case (abbreviations and unambiguous words) ...
_SUFFIX_ANY_CASE = (
    r"Street|Str|St|Avenue|Ave|Av|Boulevard|Blvd|Road|Rd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|"
    r"Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Trl|Square|Sq|Plaza|Plz|Crescent|"
    r"Cres|Expressway|Expy|Freeway|Fwy|Turnpike|Tpke"
)
# ... and ones that are ordinary English words too, so they count only after capitalised names.
_SUFFIX_CAPITALISED = r"Way|Run|Row|Loop|Path|Pike|Alley|Walk|Point|Pt|Crossing|Xing|Close|Heights"
_HOUSE = rf"(?={_D}*\d){_D}{{1,6}}(?:-?{_D}{{1,4}})?[A-Za-z]?"
_DIRECTION = r"(?:(?:[NSEW]|NE|NW|SE|SW|North|South|East|West)\.?[ \t]+)?"
_NAME_CAP = r"(?:[A-Z0-9][A-Za-z0-9'.\-]*[ \t]+){1,4}"
_NAME_ANY = r"(?:[A-Za-z0-9][A-Za-z0-9'.\-]*[ \t]+){1,3}"
_UNIT = (
    r"(?:[ \t]*,?\s*(?:Apt|Apartment|Unit|Suite|Ste|Fl|Floor|Rm|Room|Bldg|Lot|Trlr|#)\.?"
    rf"[ \t]*#?[ \t]*[A-Za-z0-9\-]{{1,6}}{_NA})?"
)
_ZIP = rf"(?={_D}*\d){_D}{{5}}(?:[ \t]?-[ \t]?{_D}{{4}})?{_NA}"
_CITY_LINE = (
    rf"(?:[A-Z][A-Za-z.'\-]*[ \t]+){{0,3}}[A-Z][A-Za-z.'\-]*[ \t]*,?[ \t]*"
    rf"(?:(?:{'|'.join(_STATE_CODES)})\.?|{_STATE_NAMES}),?[ \t]*{_ZIP}"
)
_STREET = re.compile(
    rf"{_NB}{_HOUSE}[ \t]+{_DIRECTION}"
    rf"(?:{_NAME_CAP}(?:(?i:{_SUFFIX_ANY_CASE})|{_SUFFIX_CAPITALISED})"
    rf"|{_NAME_ANY}(?i:Street|Avenue|Boulevard|Blvd|Ave|St|Rd|Ln|Pkwy|Hwy))\.?{_NA}"
    r"(?:[ \t]+(?:[NS][EW]?|[EW])\.?(?![0-9A-Za-z]))?"  # trailing direction: "400 Main St NW"
    rf"{_UNIT}(?:[ \t]*[,.]?\s*{_CITY_LINE})?"
)
_ROUTE = re.compile(
    rf"{_NB}{_HOUSE}[ \t]+(?i:State\s+|County\s+|US\s+)?"
    rf"(?i:Route|Rte|Highway|Hwy|Road|Rd|RR|FM|CR)\.?[ \t]*#?[ \t]*{_D}{{1,4}}{_NA}"
    rf"{_UNIT}(?:[ \t]*[,.]?\s*{_CITY_LINE})?"
)
_PO_BOX = re.compile(
    r"(?:(?i:\bP\.?[ \t]?O\.?[ \t]*Box|\bPost\s+Office\s+Box)|\bBox)"
    rf"[ \t]*#?[ \t]*(?={_D}*\d){_D}{{1,6}}{_NA}"
    rf"(?:[ \t]*[,.]?\s*{_CITY_LINE})?"
)
_CITY_ONLY = re.compile(rf"{_NB}{_CITY_LINE}")
# A house number and a few words right before a "City, ST 12345" line: the street line even
# when its suffix was misread ("Chestnut Streei") or is one we do not list.
_BEFORE_CITY = re.compile(
    rf"{_NB}{_HOUSE}(?:[ \t]+[A-Za-z0-9'.#\-]+){{1,7}}[ \t]*,?[ \t]*\n?[ \t]*{_CITY_LINE}"
)


# After a street line: a "City ST 12345" line whose state OCR misread ("Waco, Tk 76701"), on
# the same line or the next one. It goes with the street line.
# A unit number whose "#" or "Apt" OCR did not read ("Highland Place 35 / Lubbock, T79470") may
# stand between them.
_ZIP_TAIL = re.compile(
    rf"(?:[ \t]+#?[ \t]*{_D}{{1,5}}[A-Za-z]?{_NA})?"
    rf"[ \t]*[,.]?[ \t]*\n?[ \t]*(?:[A-Za-z][A-Za-z.'\-]*[ \t]*,?[ \t]*){{1,4}}{_ZIP}"
)


_ENDS_WITH_ZIP = re.compile(r"\d{5}(?:-\d{4})?$")


def _find_addresses(doc: _Doc) -> list[_Span]:
    spans: list[_Span] = []
    for pattern, reason in (
        (_STREET, "street address (number, street name, suffix)"),
        (_ROUTE, "rural route or highway address"),
        (_PO_BOX, "post office box"),
        (_CITY_ONLY, "city, state and ZIP code"),
        (_BEFORE_CITY, "house number and words before a city, state and ZIP code"),
    ):
        for m in pattern.finditer(doc.filled):
            end = m.end()
            # A misread city line joins a street line that has none yet (not one whose city,
            # state and ZIP it already holds: the words after those are the letter again).
            if pattern is not _CITY_ONLY and not _ENDS_WITH_ZIP.search(m.group()):
                tail = _ZIP_TAIL.match(doc.filled, end)
                end = tail.end() if tail else end
            spans.append(_Span("address", m.start(), end, reason, 3))
    return spans


# Payment cards -----------------------------------------------------------------------------------

_GROUP_RUN = re.compile(r"\d+(?:[ \t\-–.]{1,2}\d+)*")  # "3532.0183.6657.7941" too
_CARD_LABEL = re.compile(
    r"(?i)\b(?:card|visa|mastercard|master\s+card|amex|american\s+express|discover|debit|credit|cc)\b"
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _find_cards(doc: _Doc) -> list[_Span]:
    """Runs of digit groups; the longest stretch of 13-19 digits passing Luhn is a card."""
    spans: list[_Span] = []
    for run in _GROUP_RUN.finditer(doc.flat):
        groups = [(run.start() + m.start(), run.start() + m.end(), m.group()) for m in
                  re.finditer(r"\d+", run.group())]  # fmt: skip
        before = doc.flat[max(0, run.start() - 30) : run.start()]
        # A label counts only when no other number stands between it and this one.
        labelled = bool(_CARD_LABEL.search(re.split(r"\d", before)[-1]))
        taken_until = -1
        for i in range(len(groups)):
            if groups[i][0] < taken_until:
                continue
            best: tuple[int, str] | None = None
            number = ""
            for j in range(i, len(groups)):
                number += groups[j][2]
                if len(number) > 19:
                    break
                if len(number) >= 13:
                    if _luhn_ok(number):
                        best = (j, "payment card number (Luhn check)")
                    elif labelled and i == 0 and best is None:
                        best = (j, "number labelled as a card")
            if best is not None:
                j, reason = best
                spans.append(_Span("card", groups[i][0], groups[j][1], reason, 9))
                taken_until = groups[j][1]
    return spans


# Bank numbers ----------------------------------------------------------------------------------

_BANK_LABEL = re.compile(
    r"(?i)\b(?:account|acct|acc't|a/c|routing|aba|rtn|checking|savings|iban)\b"
    r"[^\d\n]{0,25}?(\d(?:[ \-]?\d){4,16})(?!\d)"
)
_LONG_RUN = re.compile(r"(?<!\d)\d{10,}(?!\d)")
# An IBAN: country letters, two check digits, then groups of four (no checksum: OCR errors
# would fail it, and the catch-all burns the digits anyway).
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ \t]?[A-Z0-9]{4}){2,7}(?:[ \t]?[A-Z0-9]{1,3})?(?![A-Za-z0-9])"
)
_NUMBER = re.compile(r"(?<!\d)\d(?:-?\d){3,16}(?!\d)")


def _find_bank(doc: _Doc) -> list[_Span]:
    spans: list[_Span] = []
    routing: list[tuple[int, int]] = []
    for m in _NINE.finditer(doc.folded):
        if _aba_ok(m.group()):
            spans.append(_Span("bank", m.start(), m.end(), "bank routing number (ABA checksum)", 7))
            routing.append((m.start(), m.end()))
    for m in _NINE_GROUPED.finditer(doc.flat):
        digits = re.sub(r"\D", "", m.group())
        groups = [len(g) for g in re.findall(r"\d+", m.group())]
        # 3-2-4 is an SSN's grouping, 5-4 a ZIP+4's: one in ten of those passes the checksum.
        if len(digits) == 9 and _aba_ok(digits) and groups not in ([3, 2, 4], [5, 4]):
            spans.append(_Span("bank", m.start(), m.end(),
                               "bank routing number in groups (ABA checksum)", 7))  # fmt: skip
            routing.append((m.start(), m.end()))
    for m in _BANK_LABEL.finditer(doc.folded):
        spans.append(_Span("bank", m.start(1), m.end(1), "number labelled as a bank account", 17))
        if "rout" in m.group().lower() or "aba" in m.group().lower():
            routing.append((m.start(1), m.end(1)))
    for m in _IBAN.finditer(doc.text):
        if sum(c.isdigit() for c in m.group()) >= 10:
            # Above a card: a 22-digit IBAN holds some stretch that passes the Luhn check.
            spans.append(_Span("bank", m.start(), m.end(), "IBAN", 10))
    # Ten or more digits in a row that nothing else claimed: most likely an account number.
    for m in _LONG_RUN.finditer(doc.folded):
        spans.append(_Span("bank", m.start(), m.end(), "long number (possible account)", 2))
    # An account number usually sits right next to the routing number (as on a cheque).
    for r_start, r_end in routing:
        for m in _NUMBER.finditer(
            doc.folded, max(0, r_start - 45), min(len(doc.folded), r_end + 45)
        ):
            gap = (
                doc.folded[m.end() : r_start]
                if m.end() <= r_start
                else doc.folded[r_end : m.start()]
            )
            if (m.end() <= r_start or m.start() >= r_end) and len(gap) <= 25:
                spans.append(
                    _Span("bank", m.start(), m.end(), "number next to a routing number", 7)
                )
    return spans


# Inmate numbers --------------------------------------------------------------------------------

_FEDERAL = re.compile(r"(?<![\d\-])\d{5}[ \t]?[\-–][ \t]?\d{3}(?![\d\-])")
_DASH = r"[ \t]?[\-–][ \t]?"
_LETTER_IDS = [
    # CA CDCR / PA DOC AB1234 (sometimes AB-1234)
    (rf"[A-Za-z]{{2}}(?:{_DASH})?(?P<d>{_D}{{4}})", "state inmate number (AB1234)"),
    # older CA, IL IDOC: A12345
    (rf"[A-Za-z](?:{_DASH})?(?P<d>{_D}{{5}})", "state inmate number (A12345)"),
    # NY DIN 12A3456, also 12-A-3456
    (rf"(?P<e>{_D}{{2}})(?:{_DASH})?[A-Za-z](?:{_DASH})?(?P<d>{_D}{{4}})", "NY DIN"),
]
_LETTER_IDS_RE = [(re.compile(_NB + body + _NA), reason) for body, reason in _LETTER_IDS]


def _mostly_digits(m: re.Match[str]) -> bool:
    """Digit positions may hold one look-alike, not more: "SS-0142" is not a DIN."""
    positions = "".join(g for g in (m.groupdict().get("e"), m.group("d")) if g)
    real = sum(c.isdigit() for c in positions)
    return real >= 3 and len(positions) - real <= 1


_TX = [
    re.compile(r"(?i)\bTDCJ\b[^\d\n]{0,40}?(\d{7,8})(?!\d)"),
    re.compile(r"#[ \t]?(\d{7,8})(?!\d)"),
    re.compile(r"(?<!\d)(\d{7,8})[^\d\n]{0,12}\bTDCJ\b"),
]
_INMATE_LABEL = re.compile(
    r"(?i)\b(?:inmate|prisoner|offender|cdcr|idoc|tdcj|doc|din|bop|reg(?:ister)?|booking)\b"
    r"[^\w\n]{0,3}(?:(?:number|num|no|id)\b[^\w\n]{0,3})?(?:is[ \t]+)?"
    r"([A-Za-z]{0,2}\d[\dA-Za-z\-]{3,10})(?![\w\-])"
)
# Texas numbers are often written bare: seven or eight digits standing alone are redacted as
# one (a bare seven-digit phone number is caught too, under this name).
_BARE_TX = re.compile(r"(?<![\d\-.,/])\d{7,8}(?![\d\-/]|[.,]\d)")
# "his number is 1234567", "número 12A3456": a weak label, so a phone found there keeps its name.
_NUMBER_LABEL = re.compile(
    r"(?i)(?:\bnumber|\bn[úu]mero|\bno\.|#)[ \t:]*(?:(?:is|es)[ \t]+)?"
    r"([A-Za-z]{0,2}\d[\dA-Za-z\-]{3,10})(?![\w\-])"
)


def _find_inmate_numbers(doc: _Doc, known: Sequence[str]) -> list[_Span]:
    spans = [_Span("inmate_number", m.start(), m.end(), "federal register number (#####-###)", 6)
             for m in _FEDERAL.finditer(doc.folded)]  # fmt: skip
    for pattern, reason in _LETTER_IDS_RE:
        for m in pattern.finditer(doc.text):
            if _mostly_digits(m):
                spans.append(_Span("inmate_number", m.start(), m.end(), reason, 6))
    for pattern in _TX:
        for m in pattern.finditer(doc.folded):
            spans.append(_Span("inmate_number", m.start(1), m.end(1), "TDCJ number (TX)", 16))
    for m in _INMATE_LABEL.finditer(doc.folded):
        if sum(c.isdigit() for c in m.group(1)) >= 4:
            spans.append(_Span("inmate_number", m.start(1), m.end(1), "labelled inmate number", 16))
    for m in _BARE_TX.finditer(doc.folded):
        spans.append(_Span("inmate_number", m.start(), m.end(), "7-8 digit number (TX format)", 6))
    for m in _NUMBER_LABEL.finditer(doc.folded):
        if sum(c.isdigit() for c in m.group(1)) >= 5:
            spans.append(_Span("inmate_number", m.start(1), m.end(1), "number after 'number'", 4))
    spans += _find_known(doc, known, "inmate_number", "known inmate number", 16)
    return spans


def _find_known(
    doc: _Doc, values: Sequence[str], kind: str, reason: str, priority: int
) -> list[_Span]:
    """Occurrences of known identifiers, ignoring spacing, punctuation, case and look-alikes."""
    wanted = {canonical_id(v) for v in values}
    wanted = {w for w in wanted if len(w) >= 4}
    if not wanted:
        return []
    positions = [i for i, c in enumerate(doc.text) if c.isalnum()]
    compact = "".join(canonical_char(doc.text[i]) for i in positions)
    spans: list[_Span] = []
    for value in wanted:
        at = compact.find(value)
        while at >= 0:
            start, end = positions[at], positions[at + len(value) - 1] + 1
            left_ok = start == 0 or not doc.text[start - 1].isalnum()
            right_ok = end == len(doc.text) or not doc.text[end].isalnum()
            if left_ok and right_ok:
                spans.append(_Span(kind, start, end, reason, priority))
            at = compact.find(value, at + 1)
    return spans


# Watch-list terms ------------------------------------------------------------------------------


# A watch-list word of this many letters or more may be read with one letter wrong
# ("LAKESMORE CLINIC", "Maplewood Elementavy"): handwriting OCR misreads letters as it does digits.
# Wrong, not missing or added: "Bakerys" is another word than "Bakery".
WATCH_FUZZY_LENGTH = 5
_WATCH_WORD = re.compile(r"[^\W_]+")


def _find_watch_terms(doc: _Doc, terms: Sequence[str]) -> list[_Span]:
    canon = _letter_canon(doc.text)
    words = list(_WATCH_WORD.finditer(canon))
    spans: list[_Span] = []
    for term in terms:
        parts = _letter_canon(term).split()
        if not parts:
            continue
        pattern = re.compile(
            r"(?<![a-z0-9])" + r"[\s\-]+".join(re.escape(p) for p in parts) + r"(?![a-z0-9])"
        )
        for m in pattern.finditer(canon):
            spans.append(_Span("watch_term", m.start(), m.end(), "term on the watch list", 1))
        # The same words, one letter off in each long one, side by side.
        for k in range(len(words) - len(parts) + 1):
            window = words[k : k + len(parts)]
            if any(not re.fullmatch(r"[\s\-]+", canon[a.end() : b.start()])
                   for a, b in zip(window, window[1:], strict=False)):
                continue
            if all(w.group() == p or (len(p) >= WATCH_FUZZY_LENGTH and len(w.group()) == len(p)
                                      and Hamming.distance(w.group(), p) <= 1)
                   for w, p in zip(window, parts, strict=True)):
                spans.append(_Span("watch_term", window[0].start(), window[-1].end(),
                                   "term on the watch list, a letter misread", 1))
    return spans


# ---------------------------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------------------------


def _merge(spans: list[_Span]) -> list[_Span]:
    """Overlapping spans become one span covering all of them, named by the highest priority."""
    merged: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            top = last if last.priority >= span.priority else span
            merged[-1] = _Span(top.kind, last.start, max(last.end, span.end), top.reason,
                               max(last.priority, span.priority))  # fmt: skip
        else:
            merged.append(span)
    return merged


def _trim(doc: _Doc, span: _Span) -> _Span:
    """No leading/trailing whitespace or sentence punctuation inside a span."""
    start, end = span.start, span.end
    while start < end and doc.text[start] in " \t\n,;:":
        start += 1
    while end > start and doc.text[end - 1] in " \t\n,;:":
        end -= 1
    return _Span(span.kind, start, end, span.reason, span.priority)


_NUMERIC_KINDS = frozenset({"phone", "ssn", "bank", "card", "inmate_number"})


def _find_spans(
    text: str,
    *,
    sender_number: str | None,
    watch_terms: Sequence[str],
    known_inmate_numbers: Sequence[str],
) -> list[_Span]:
    text = ascii_digits(text)  # "⑤" is a 5; same length, so offsets are shared
    doc = _Doc(text)
    sender = sender_key(sender_number)
    candidates = (
        _find_phones(doc)
        + _find_ssns(doc)
        + _find_emails(doc)
        + _find_addresses(doc)
        + _find_cards(doc)
        + _find_bank(doc)
        + _find_inmate_numbers(doc, [k for k in known_inmate_numbers if canonical_id(k) != sender])
    )
    safe_runs = explained_runs(text, sender=sender)
    kept = []
    for span in (_trim(doc, s) for s in candidates):
        if span.end <= span.start:
            continue
        # A pattern (not a label) matched a date, a page range, a decade range ...: the same
        # safe rules as the catch-all's decide.
        if span.priority < 8 and span.kind in _NUMERIC_KINDS and any(
            s <= span.start and span.end <= e for s, e, _ in safe_runs
        ):
            continue
        # The sender's own number is on every letter and the pen pal needs it to reply.
        if sender and canonical_id(text[span.start : span.end]) == sender:
            continue
        kept.append(span)
    kept += _find_watch_terms(doc, watch_terms)
    kept += _catch_all(text, sender, kept)
    return _merge(kept)


def _catch_all(text: str, sender: str, specific: list[_Span]) -> list[_Span]:
    """What of each unexplained number no specific finder took, as kind `number`.

    Only the rest is added, so two values written side by side stay two findings and each keeps
    its label; a rest of lower-case letters glued to a found value ("is" of "is415-555-0132")
    is part of a word, not of the number (capitals stay with it: "P" of "P990037477", and so do
    look-alikes that are no word: "ll" of "4lll ll1lll ll").
    """
    taken = sorted((s.start, s.end) for s in specific)
    out: list[_Span] = []
    for start, end in unexplained_numbers(text, sender=sender):
        pieces = [(start, end)]
        for t_start, t_end in taken:
            if t_end <= start or t_start >= end:
                continue
            pieces = [p for a, b in pieces for p in ((a, min(b, t_start)), (max(a, t_end), b))
                      if p[1] > p[0]]  # fmt: skip
        for a, b in pieces:
            rest = text[a:b].strip(" \t\n-/.")
            if any(c.isdigit() for c in rest) or (rest.isalpha() and rest.isupper()) or (
                rest.isalpha() and stands_for_digits(rest)
            ):
                lead = len(text[a:b]) - len(text[a:b].lstrip(" \t\n-/."))
                out.append(_Span(NUMBER_KIND, a + lead, a + lead + len(rest), _NUMBER_REASON, 0))
    return out


def find_in_text(
    text: str,
    *,
    sender_number: str | None = None,
    watch_terms: Sequence[str] = (),
    known_inmate_numbers: Sequence[str] = (),
) -> list[TextFinding]:
    """Personal details in a plain string (e.g. a transcription a person typed or corrected)."""
    spans = _find_spans(
        text,
        sender_number=sender_number,
        watch_terms=watch_terms,
        known_inmate_numbers=known_inmate_numbers,
    )
    return [TextFinding(s.kind, s.start, s.end, s.reason) for s in spans]


def page_text_with_map(words: Sequence[Word]) -> tuple[str, list[int]]:
    """The text `words_to_text` builds, and for each character its word index (-1: a gap)."""
    chars: list[str] = []
    owner: list[int] = []
    current_line: tuple[int, int, int] | None = None
    current_block: tuple[int, int] | None = None
    first = True
    for index, word in enumerate(words):
        if word.line_key != current_line:
            if not first:
                chars.append("\n")
                owner.append(-1)
                if (word.block, word.par) != current_block:
                    chars.append("\n")
                    owner.append(-1)
            current_line = word.line_key
            current_block = (word.block, word.par)
        elif not first:
            chars.append(" ")
            owner.append(-1)
        first = False
        chars.extend(word.text)
        owner.extend([index] * len(word.text))
    return "".join(chars), owner


def line_boxes(words: Sequence[Word], indices: Sequence[int]) -> list[Box]:
    """One box per line the words are on: the union of their boxes on that line."""
    by_line: dict[tuple[int, int, int], list[int]] = {}
    for i in sorted(indices):
        by_line.setdefault(words[i].line_key, []).append(i)
    boxes = []
    for members in by_line.values():
        boxes.append(
            (
                min(words[i].x0 for i in members),
                min(words[i].y0 for i in members),
                max(words[i].x1 for i in members),
                max(words[i].y1 for i in members),
            )
        )
    return boxes


def find_pii(
    words: Sequence[Word],
    *,
    sender_number: str | None = None,
    watch_terms: Sequence[str] = (),
    known_inmate_numbers: Sequence[str] = (),
) -> list[Finding]:
    """Personal details in OCR words. A word touched by a span is redacted whole.

    Findings never share a word: two spans that touch the same word become one finding.
    """
    text, owner = page_text_with_map(words)
    spans = _find_spans(
        text,
        sender_number=sender_number,
        watch_terms=watch_terms,
        known_inmate_numbers=known_inmate_numbers,
    )
    groups: list[tuple[_Span, set[int]]] = []
    for span in spans:
        indices = {owner[c] for c in range(span.start, span.end) if owner[c] >= 0}
        if not indices:
            continue
        if groups and groups[-1][1] & indices:
            prev, prev_indices = groups[-1]
            top = prev if prev.priority >= span.priority else span
            groups[-1] = (top, prev_indices | indices)
        else:
            groups.append((span, indices))
    return [
        Finding(span.kind, sorted(indices), line_boxes(words, sorted(indices)), span.reason)
        for span, indices in groups
    ]
