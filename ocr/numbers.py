"""The catch-all for numbers: every run of six or more digits is burned unless a named rule explains it.

Pure text functions, no I/O. `ocr.pii` adds what `unexplained_numbers` returns as findings of
kind `number`, under any specific finder's label that also matched.

A *run* is a chain of digit groups joined by what people and OCR put between digits: dashes,
dots, slashes, colons, parentheses, a "+", one or two spaces, a line break (a value wrapped
over two lines). A group is a stretch of digits and look-alike letters (O/0, l/1, s/5, b/6,
g/9 ... as cursive OCR reads them): "4lll ll1lll ll" is how PP-OCR read a card number. A group
that holds a real digit folds whole, glued to a word or not ("is415-555-0132"); a group with no
real digit counts only when it stands alone and is joined to a number by a bare dash, dot or
slash ("555-SSS-0142"), or sits next to one and is no word: made of the strongest look-alikes
(l, I, O, o: "ll") or without a vowel ("gbss"), or stands between two numbers ("golb" in
"4l53 3636 golb 4784"). So "all", "sob" or "Bill" never become digits
on their own, and a run needs at least two real digits, and a group that is plainly a number
(all digits, or a digit other than 0, 1, 5: "G00D" and "1S" are words OCR read with digits).
A part of a written number with three real digits or more may hold one character that is no
look-alike at all in every four, never beside a letter ("6011 C096 2829 4386", "555 U142": PP-OCR's
reading of cursive 0s and 6s); it counts as a digit. Digits of other scripts (circled "⑤",
full-width "５") are digits.

A run of six or more digits is explained when every space-separated part of it is one of:
a date, a time, money, a page number, a year (or decade, or range of years), the program's reply
code, or the sender's own inmate number. One part of at most two digits beside explained parts
is allowed ("on 3/14/2024 10 of us"). Everything else is burned.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from ocr.reply_codes import DEFAULT_LENGTH
from ocr.reply_codes import canonical as reply_code_canonical

# Fewer digits than this are never a finding of the catch-all (house numbers, counts, ZIP codes
# are the address finder's business; a year or "$1,500" is short anyway).
MIN_DIGITS = 6
# A run must hold this many real digits: a string of look-alike letters is a word.
MIN_REAL_DIGITS = 2
REASON = "long number no safe rule explains"

# Characters OCR (and handwriting) swap with digits, folded onto the digit.
TO_DIGIT = {
    "O": "0", "o": "0", "Q": "0", "D": "0",
    "I": "1", "l": "1", "i": "1", "|": "1", "!": "1",
    "S": "5", "s": "5",
    "B": "8",
    "Z": "2", "z": "2",
    "G": "6", "b": "6",
    "g": "9", "q": "9",
}  # fmt: skip
# The look-alikes that stand for a digit even in a group with no real digit, when a number is
# next to it: "4lll ll1lll ll". Words made only of them are few, and listed.
_STRONG = frozenset("lI|!Oo")
_STRONG_WORDS = frozenset({"lo", "loo", "lol", "ill", "io", "oo", "ooo", "ol"})
_GROUP = re.compile("[0-9" + re.escape("".join(TO_DIGIT)) + "]+")
# Typographic dashes and the minus sign (one character each, so offsets are kept).
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))
# Every other character that is a digit: circled, full-width, superscript ("⑤555 ⑤51" is how
# PP-OCR read a card number in one hand), one character each.
_OTHER_DIGITS = str.maketrans({
    chr(c): str(unicodedata.digit(chr(c)))
    for c in range(0x80, 0x10000)
    if unicodedata.digit(chr(c), None) is not None
})
# A part of a written number: what lies between spaces and the separators of its groups.
_PART = re.compile(r"[^\s\-./:+,]+")
_BRACKETS = "()[]{}"
# A character inside a part that is neither a digit nor a look-alike ("C096", "80U4", "3(5"):
# at most one in this many characters of the part, and never beside another letter.
STRAY_EVERY = 4
# ... and the part holds at least this many real digits, and three times as many as strays.
STRAY_MIN_REAL = 3


def ascii_digits(text: str) -> str:
    """`text` with every digit written as 0-9 and every dash as "-" (same length, same offsets)."""
    return text.translate(_DASHES).translate(_OTHER_DIGITS)


def fill_strays(text: str) -> str:
    """Same-length copy of `text` in which a character OCR could not read as any digit, inside a
    part that is plainly a number, becomes a digit placeholder ("O"): "6011 C096 2829 4386" is a
    card number PP-OCR read with one 0 as "C". Brackets at either end of a part stay brackets
    ("(309)"); a stray beside another letter is a letter ("AB1234", "CD5678" are identifiers with
    a prefix, "100th" an ordinal), so is a last letter ("1500m", "250mg": units), and "10am",
    "B12" or "COVID19" hold too few real digits."""
    chars = list(text)
    for m in _PART.finditer(text):
        start, end = m.start(), m.end()
        while start < end and text[start] in _BRACKETS:
            start += 1
        while end > start and text[end - 1] in _BRACKETS:
            end -= 1
        part = text[start:end]
        strays = [i for i, c in enumerate(part) if not c.isdigit() and c not in TO_DIGIT]
        real = sum(c.isdigit() for c in part)
        if (not strays or real < STRAY_MIN_REAL or real < 3 * len(strays)
                or len(strays) > len(part) // STRAY_EVERY
                or any(not (part[i].isalpha() or part[i] in _BRACKETS) for i in strays)
                or any(part[j].isalpha() for i in strays for j in (i - 1, i + 1)
                       if 0 <= j < len(part))
                or part[-1].isalpha() and strays[-1] == len(part) - 1):
            continue
        for i in strays:
            chars[start + i] = "O"
    return "".join(chars)


def canonical_char(c: str) -> str:
    folded = TO_DIGIT.get(c, c)
    upper = folded.upper()
    return upper if len(upper) == 1 else folded


def canonical_id(value: str) -> str:
    """Letters and digits only, upper case, every look-alike folded: for comparing identifiers."""
    return "".join(canonical_char(c) for c in value if c.isalnum())


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------


@dataclass
class _Group:
    start: int
    end: int
    real: int  # real digits in it
    numeric: bool


@dataclass
class Token:
    """Groups joined without a space (or only by a dash or slash with spaces): one written number."""

    start: int
    end: int
    digits: int  # digits after folding


@dataclass
class NumberRun:
    start: int
    end: int
    digits: str  # the run's digits, look-alikes folded
    real_digits: int
    tokens: list[Token]
    wrapped: bool  # crosses a line break
    # Some group is plainly a number: all digits, or holding a digit other than 0, 1 and 5.
    # "1S G00D" is words OCR read with 1/0/5 for I/O/S; "4lll ll1lll ll" is a number.
    evident: bool = True


def _join(gap: str) -> str | None:
    """How two groups with `gap` between them are joined: "tight", "space", "wrap" or None."""
    if not gap or len(gap) > 6 or gap.count("\n") > 2:
        return None
    if any(c not in " \t\n-./:+()," for c in gap):
        return None
    if "," in gap:
        return "tight" if gap == "," else None  # "1,500"; ", " ends a list item
    if "\n" in gap:
        return "wrap"
    bare = gap.strip(" \t")
    if not bare:
        return "space" if len(gap) <= 3 else None
    if len(bare) > 2:
        return None
    # A dot or colon with a space after it ends a sentence or a label: the run goes on, but as
    # a new written number ("in 1985. 2024 was ...").
    if bare in (".", ":") and gap != bare:
        return "space"
    return "tight"


def stands_for_digits(text: str) -> bool:
    """Look-alikes only, and no word: made of l, I, O, o ("ll"; "lol" is listed as a word), or
    without a vowel at all ("gbss": a card's last group as cursive OCR read it)."""
    if len(text) < 2 or text.lower() in _STRONG_WORDS:
        return False
    return all(c in _STRONG for c in text) or not any(c in "aeiouyAEIOUY" for c in text)


def number_runs(text: str) -> list[NumberRun]:
    """Every run of digit groups in `text` (any length), in order."""
    read = ascii_digits(text)
    text = fill_strays(read)  # groups are found here; real digits counted in what was read
    groups: list[_Group] = []
    for m in _GROUP.finditer(text):
        s, e = m.start(), m.end()
        real = sum(c.isdigit() for c in read[s:e])
        # A group with no real digit is decided below, from its neighbours.
        groups.append(_Group(s, e, real, real > 0))
    joins = [_join(text[a.end : b.start]) for a, b in zip(groups, groups[1:], strict=False)]

    def standalone(g: _Group) -> bool:
        s, e = g.start, g.end
        return not ((s > 0 and text[s - 1].isalpha()) or (e < len(text) and text[e].isalpha()))

    changed = True
    while changed:
        changed = False
        for k, g in enumerate(groups):
            if g.numeric or g.real or not standalone(g):
                continue
            word = text[g.start : g.end]
            left = k > 0 and joins[k - 1] is not None and groups[k - 1].numeric
            right = k < len(joins) and joins[k] is not None and groups[k + 1].numeric
            # Between two numbers it is a number: "4l53 3636 golb 4784".
            if left and right and len(word) >= 3 and word.lower() not in _STRONG_WORDS:
                g.numeric = changed = True
                continue
            for n, join in ((k - 1, joins[k - 1] if k else None),
                            (k + 1, joins[k] if k < len(joins) else None)):  # fmt: skip
                if join is None or not 0 <= n < len(groups) or not groups[n].numeric:
                    continue
                gap = text[min(g.end, groups[n].end) : max(g.start, groups[n].start)]
                if gap in ("-", ".", "/") or stands_for_digits(word):
                    g.numeric = changed = True
                    break

    runs: list[NumberRun] = []
    current: list[int] = []

    def close() -> None:
        if not current:
            return
        members = [groups[i] for i in current]
        tokens: list[Token] = []
        wrapped = False
        for pos, i in enumerate(current):
            g = groups[i]
            join = joins[i - 1] if pos else None
            wrapped = wrapped or join == "wrap"
            if join == "tight":
                tokens[-1].end = g.end
                tokens[-1].digits += g.end - g.start
            else:
                tokens.append(Token(g.start, g.end, g.end - g.start))
        digits = "".join(TO_DIGIT.get(c, c) for g in members for c in text[g.start : g.end])
        evident = any(
            read[g.start : g.end].isdigit() or any(c in "2346789" for c in read[g.start : g.end])
            for g in members
        )
        runs.append(NumberRun(members[0].start, members[-1].end, digits,
                              sum(g.real for g in members), tokens, wrapped, evident))  # fmt: skip
        current.clear()

    for i, g in enumerate(groups):
        if not g.numeric:
            close()
            continue
        if current and joins[i - 1] is None:
            close()
        current.append(i)
    close()
    return runs


# ---------------------------------------------------------------------------------------------
# Safe rules: each says whether a written number (a token, with the text around it) is harmless
# ---------------------------------------------------------------------------------------------

_RANGE = re.compile(r"[ \t]*-[ \t]*")


def _either_or_range(token: str, test: Callable[[str], bool]) -> bool:
    """The token passes `test`, or is two parts joined by a dash that both pass ("9:00-10:30")."""
    if test(token):
        return True
    for m in _RANGE.finditer(token):
        if m.start() and test(token[: m.start()]) and test(token[m.end() :]):
            return True
    return False


def _valid_day_month(a: int, b: int) -> bool:
    return (1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31)


_DMY = re.compile(r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})")
_YMD = re.compile(r"((?:19|20)\d{2})([/.\-])(\d{1,2})\2(\d{1,2})")
_MY = re.compile(r"(\d{1,2})/((?:19|20)\d{2})")


def _one_date(token: str) -> bool:
    if m := _DMY.fullmatch(token):
        return _valid_day_month(int(m.group(1)), int(m.group(3)))
    if m := _YMD.fullmatch(token):
        return 1 <= int(m.group(3)) <= 12 and 1 <= int(m.group(4)) <= 31
    if m := _MY.fullmatch(token):
        return 1 <= int(m.group(1)) <= 12
    return False


def is_date(token: str) -> bool:
    """3/14/2024, 14.03.2024, 03-14-24, 2024-03-14, 12/2024, and a range of two of them."""
    return _either_or_range(token.strip(), _one_date)


_TIME = re.compile(r"([01]?\d|2[0-4])[:.]([0-5]\d)(?:[:.]([0-5]\d))?")


def _one_time(token: str) -> bool:
    m = _TIME.fullmatch(token)
    # "10.30" is a time only with a colon somewhere or seconds: "3.14" is a number.
    return bool(m) and (":" in token or m.group(3) is not None)


def is_time(token: str) -> bool:
    """10:30, 9:00:15, 21:45, and a range ("9:00-10:30")."""
    return _either_or_range(token.strip(), _one_time)


_YEAR = re.compile(r"((?:1[89]|20)\d{2})(?:'?s)?")
_YEAR_RANGE = re.compile(r"(?P<a>[^ \t/\-]+)[ \t]*[-/][ \t]*(?P<b>\d{2}|[^ \t/\-]+)")


def is_year(token: str) -> bool:
    """1998, 2024, the 1990s, 1980s-1990s, 2019-2024, 2023-24, 1999/2000 (later year second,
    within a century)."""
    token = token.strip()
    if _YEAR.fullmatch(token):
        return True
    m = _YEAR_RANGE.fullmatch(token)
    first = _YEAR.fullmatch(m.group("a")) if m else None
    if not m or not first:
        return False
    b = m.group("b")
    second = _YEAR.fullmatch(b)
    if second:
        later = int(second.group(1))
    elif len(b) == 2 and b.isdigit():
        later = int(first.group(1)[:2] + b)
    else:
        return False
    return int(first.group(1)) < later <= int(first.group(1)) + 99


_MONEY = re.compile(
    r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d{1,7}(?:[.,]\d{1,2})?"
)  # 1,500.00 / 1.500,00 (as in Mexico and Spain) / 250000
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥]|\b(?:US\$|USD|MXN|EUR))[ \t]?$", re.I)
_CURRENCY_AFTER = re.compile(
    r"^[ \t]?(?:dollars?|d[óo]lares|bucks|cents|centavos|pesos|euros?|usd|mxn)\b", re.I
)


def is_money(token: str, before: str = "", after: str = "") -> bool:
    """$1,500.00, $ 250000, 1,250.75 dollars, 300000 pesos: an amount with its currency."""
    if not _MONEY.fullmatch(token.strip()):
        return False
    return bool(_CURRENCY_BEFORE.search(before) or _CURRENCY_AFTER.search(after))


_PAGE_LABEL = re.compile(
    r"(?:\b(?:pages?|pgs?|pp?|p[áa]ginas?|hojas?|sheets?)\.?|\bpage[ \t]+(?:no\.?|#))[ \t]*#?[ \t]*$",
    re.I,
)
_PAGE = re.compile(r"\d{1,4}(?:[ \t]*[-/][ \t]*\d{1,4})?")


def is_page_number(token: str, before: str = "") -> bool:
    """"page 1024-1031", "pp. 112-118", "p. 12/345": page numbers after a page label."""
    return bool(_PAGE.fullmatch(token.strip()) and _PAGE_LABEL.search(before))


_CODE_LABEL = re.compile(r"(?i)\b(?:ref(?:erence)?|(?:reply[ \t]*)?code)\b[ \t]*(?:is|no\.?|#)?[ \t:#.]*$")


def is_reply_code(written: str, before: str = "") -> bool:
    """The program's reply code ("D34-D56"): a valid check character, and either a letter in it
    or a "code"/"ref" label before it (a bare 3-3 digit group passes the check by chance 1 in 23)."""
    code = reply_code_canonical(written)
    if code is None or len(code) != DEFAULT_LENGTH:
        return False
    return any(c.isalpha() for c in written) or bool(_CODE_LABEL.search(before))


def is_sender_number(written: str, sender: str) -> bool:
    """The sender's own number (`sender` is its canonical key, see `ocr.pii.sender_key`)."""
    return bool(sender) and canonical_id(written) == sender


# ---------------------------------------------------------------------------------------------
# The gate
# ---------------------------------------------------------------------------------------------


def _word_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The token widened over letters and digits glued to it ("#12345-678", "D34-D56X")."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return start, end


# Letters a date or time may carry glued after it: "10:30:00am", "3/14/2024th" (sic).
_SUFFIX = re.compile(r"(?i)am|pm|hrs?|h|th|st|nd|rd")


def explain_token(text: str, start: int, end: int, *, sender: str = "") -> str | None:
    """The name of the rule that explains the written number text[start:end], or None."""
    written = text[start:end]
    before = text[max(0, start - 24) : start]
    after = text[end : end + 16]
    ws, we = _word_around(text, start, end)
    whole = text[ws:we]
    # The identifier the token is part of, over its dashes and slashes: "11-A-4433".
    before_id = _ID_BEFORE.search(text, max(0, start - 40), start)
    ident = text[before_id.start() if before_id else start:_ID_AFTER.match(text, end).end()]
    if any(is_sender_number(w, sender) for w in (whole, written, ident)):
        return "sender's own number"
    if is_reply_code(whole, text[max(0, ws - 24) : ws]):
        return "reply code"
    if ws < start or (we > end and not _SUFFIX.fullmatch(text[end:we])):
        # Glued to letters ("is415-555-0132", "1990s"): only a decade may be.
        return "year" if is_year(whole) else None
    if is_date(written):
        return "date"
    if is_time(written):
        return "time"
    if is_money(written, before, after):
        return "money"
    if is_page_number(written, before):
        return "page number"
    if is_year(written):
        return "year"
    return None


def explain_run(text: str, run: NumberRun, *, sender: str = "") -> str | None:
    """Why a run is harmless, or None when it must be burned."""
    if is_sender_number(text[run.start : run.end], sender):
        return "sender's own number"
    if is_reply_code(text[run.start : run.end], text[max(0, run.start - 24) : run.start]):
        return "reply code"
    reasons = [explain_token(text, t.start, t.end, sender=sender) for t in run.tokens]
    unexplained = [t for t, r in zip(run.tokens, reasons, strict=True) if r is None]
    if not unexplained:
        return ", ".join(sorted(set(reasons)))  # type: ignore[arg-type]
    if len(unexplained) == 1 and unexplained[0].digits <= 2 and len(run.tokens) > 1:
        return "small count beside " + ", ".join(sorted({r for r in reasons if r}))
    return None


# An identifier written as parts joined by dashes or slashes ("38-CR-215095"), or glued to
# letters ("U599525762"), goes whole with its number.
_ID_BEFORE = re.compile(r"(?:[A-Za-z0-9]+[-/])*[A-Za-z0-9]*\Z")
_ID_AFTER = re.compile(r"[A-Za-z0-9]*(?:[-/][A-Za-z0-9]+)*")


def explained_runs(text: str, *, sender: str = "") -> list[tuple[int, int, str]]:
    """Runs (of any length) a safe rule explains: (start, end, rule). A weak pattern of a specific
    finder (a phone shape, seven bare digits) is no reason to burn "page 1384-1395"."""
    text = ascii_digits(text)
    out = []
    for run in number_runs(text):
        reason = explain_run(text, run, sender=sender)
        if reason is not None:
            out.append((run.start, run.end, reason))
    return out


# An identifier as OCR misreads it, letters and digits mixed in one word: "ZZA8L84?" and
# "ISAO73O" are NY numbers (22A8684, 15A0730) read in capitals with 2→Z, 6→L, 1→I, 5→S, 0→O.
# Whole words of this many letters and digits or more ...
MIXED_MIN_LENGTH = 6
MIXED_MAX_LENGTH = 12
_MIXED_WORD = re.compile(r"(?<!\S)[(\[\"'#]*([^\W_]+)[?.,;:!)\]\"']*(?!\S)")
_LOWER_LOOKALIKES = frozenset(c for c in TO_DIGIT if c.islower())


def mixed_identifiers(text: str, *, sender: str = "") -> list[tuple[int, int]]:
    """Words that read as an identifier with some digits misread: 6-12 letters and digits, two
    real digits or more (one of them other than 0, 1, 5), at most two characters that are neither
    digits nor look-alikes, letters and digits alternating at least twice ("ZZA8L84",
    "A3H082"), and no lower-case letter but a look-alike. Ordinals, decades and units change
    from digits to letters once ("100th", "1990s", "1500m"); "l0ok1ng" is a word. The sender's own
    number and a reply code stay."""
    text = ascii_digits(text)
    spans = []
    for m in _MIXED_WORD.finditer(text):
        word = m.group(1)
        if not MIXED_MIN_LENGTH <= len(word) <= MIXED_MAX_LENGTH:
            continue
        real = sum(c.isdigit() for c in word)
        digitish = sum(c.isdigit() or c in TO_DIGIT for c in word)
        changes = sum(a.isdigit() != b.isdigit() for a, b in zip(word, word[1:], strict=False))
        if (real < 2 or not any(c in "2346789" for c in word) or len(word) - digitish > 2
                or changes < 2 or digitish < 4
                or any(c.islower() and c not in _LOWER_LOOKALIKES for c in word)):
            continue
        before = text[max(0, m.start(1) - 24) : m.start(1)]
        # "DIN16B0963": the sender's own number with its label glued to it.
        if (sender and sender in canonical_id(word)) or is_reply_code(word, before):
            continue
        spans.append((m.start(1), m.end(1)))
    return spans


def unexplained_numbers(text: str, *, sender: str = "") -> list[tuple[int, int]]:
    """Spans (start, end) of runs with MIN_DIGITS or more digits that no safe rule explains, and
    of words that read as a misread identifier (`mixed_identifiers`).

    The sender's own number and a reply code at either end of a burned run stay readable: the
    pen pal needs them to reply. Anything else in the run goes with it, and so do letters and
    dash-joined parts glued to it.
    """
    text = ascii_digits(text)
    spans: list[tuple[int, int]] = []
    for run in number_runs(text):
        if len(run.digits) < MIN_DIGITS or run.real_digits < MIN_REAL_DIGITS or not run.evident:
            continue
        if explain_run(text, run, sender=sender) is not None:
            continue
        tokens = list(run.tokens)
        keep = ("sender's own number", "reply code")
        while tokens and explain_token(text, tokens[0].start, tokens[0].end, sender=sender) in keep:
            tokens.pop(0)
        while tokens and explain_token(text, tokens[-1].start, tokens[-1].end, sender=sender) in keep:
            tokens.pop()
        if tokens:
            start, end = tokens[0].start, tokens[-1].end
            before = _ID_BEFORE.search(text, max(0, start - 40), start)
            start = before.start() if before else start
            end = _ID_AFTER.match(text, end).end()
            spans.append((start, end))
    spans += [s for s in mixed_identifiers(text, sender=sender)
              if not any(a <= s[0] and s[1] <= b for a, b in spans)]
    return sorted(spans)
