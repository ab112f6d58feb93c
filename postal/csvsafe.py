"""CSV cells a spreadsheet won't run: a value starting = + - @, tab or CR gets a leading apostrophe.

Spreadsheets treat such a cell as a formula (`=HYPERLINK(...)` in a roster name would become
a link, or worse, when the print manifest is opened). The apostrophe is the usual escape:
spreadsheets show the text as written and hide the apostrophe. `unescape` undoes it, so a
file Letterbridge wrote reads back unchanged (the roster import calls it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Writers end lines with CRLF (RFC 4180). With only "\n", Python's csv leaves a CR inside a
# cell unquoted, a spreadsheet starts a new row there, and "\r=HYPERLINK(...)" is a formula.
LINE_END = "\r\n"


def cell(value: Any) -> Any:
    """The value as it may go into a CSV. Only text is changed; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def row(values: Iterable[Any]) -> list[Any]:
    return [cell(v) for v in values]


def row_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: cell(v) for key, v in values.items()}


def unescape(value: str) -> str:
    """What `cell` wrote, back as it was."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
