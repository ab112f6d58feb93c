"""The daily print batch: approved replies → letters, envelopes or labels, manifest; one order.

Order: by facility, then recipient (so one facility's letters go into the tray together).
`letters.pdf` adds a blank page after each odd-length letter, so every letter starts on a
new sheet when printed duplex. Envelopes and labels follow the same order; a facility
that refuses printed labels (`labels_allowed=False`) gets envelopes even when the program
prints labels, so such a batch has both files, each in print order, and the manifest says
which envelope or label belongs to which letter.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.settings import get_settings
from postal import csvsafe
from postal.mailing import envelopes_pdf, labels_pdf
from postal.reply_pdf import PAGE_HEIGHT, PAGE_WIDTH, render_with_pages
from storage.blobs import get_blob_store
from storage.db import audit
from storage.models import PrintBatch, Reply, ReplyStatus, utcnow

OUTPUT_FILES = ("letters.pdf", "envelopes.pdf", "labels.pdf", "manifest.csv")
MANIFEST_COLUMNS = [
    "batch", "position", "reply", "recipient", "inmate_number", "facility", "pages", "sheets",
    "mailing", "mailing_position",
]


class BatchNotFound(LookupError):
    """No print batch by that id (or none waiting to be mailed)."""


class BatchConflict(RuntimeError):
    """Another print batch claimed some of the same replies at the same time."""


@dataclass
class BatchLine:
    """One letter in the batch, in print order."""

    position: int
    reply: Reply
    pdf: bytes
    pages: int
    mailing: str  # "envelope" | "label"
    mailing_position: int = 0

    @property
    def sheets(self) -> int:
        return (self.pages + 1) // 2


def print_sort_key(reply: Reply) -> tuple:
    facility = reply.inmate.facility
    return (
        (facility.name if facility else "").casefold(),
        reply.inmate.name.casefold(),
        reply.inmate.inmate_number,
        reply.approved_at or reply.created_at,
        reply.id,
    )


def _reply_pdf(reply: Reply) -> tuple[bytes, int]:
    """The approved PDF from the blob store; rendered again (and stored) only if it is missing."""
    store = get_blob_store()
    if reply.pdf_key and store.exists(reply.pdf_key):
        data = store.get(reply.pdf_key)
        return data, len(PdfReader(io.BytesIO(data)).pages)
    data, pages = render_with_pages(reply)
    reply.pdf_key = reply.pdf_key or f"replies/{reply.id}.pdf"
    store.put(reply.pdf_key, data, "application/pdf")
    return data, pages


def _letters_pdf(lines: list[BatchLine]) -> bytes:
    writer = PdfWriter()
    for line in lines:
        writer.append(PdfReader(io.BytesIO(line.pdf)))
        if line.pages % 2:
            writer.add_blank_page(width=PAGE_WIDTH, height=PAGE_HEIGHT)
    writer.add_metadata({"/Title": "Letters", "/Producer": "Letterbridge"})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _manifest(batch_id: str, lines: list[BatchLine]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator=csvsafe.LINE_END)
    writer.writeheader()
    for line in lines:
        inmate = line.reply.inmate
        writer.writerow(csvsafe.row_dict({  # names come from the roster: no formulas
            "batch": batch_id,
            "position": line.position,
            "reply": line.reply.id,
            "recipient": inmate.name,
            "inmate_number": inmate.inmate_number,
            "facility": inmate.facility.name if inmate.facility else "",
            "pages": line.pages,
            "sheets": line.sheets,
            "mailing": line.mailing,
            "mailing_position": line.mailing_position,
        }))
    return buffer.getvalue().encode("utf-8")


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def build_print_batch(session: Session, out_dir: Path, *, actor: str) -> PrintBatch | None:
    """Print every approved reply not yet in a batch; None when there is nothing to print.

    Files are written before the replies are marked printed: a crash in between prints the
    same letters again next time rather than losing them. Files of an earlier batch left
    in `out_dir` are replaced or removed, so the folder always holds one batch.
    """
    settings = get_settings()
    approved = session.scalars(
        select(Reply).where(Reply.status == ReplyStatus.approved, Reply.batch_id.is_(None))
    ).all()
    if not approved:
        return None
    ordered = sorted(approved, key=print_sort_key)

    batch = PrintBatch(out_dir=str(out_dir.resolve()), status="printed", reply_count=len(ordered))
    session.add(batch)
    session.flush()
    claimed = session.execute(
        update(Reply)
        .where(Reply.id.in_([r.id for r in ordered]), Reply.status == ReplyStatus.approved,
               Reply.batch_id.is_(None))
        .values(batch_id=batch.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != len(ordered):
        raise BatchConflict("Another print batch took some of these replies; run it again")

    lines: list[BatchLine] = []
    counters = {"envelope": 0, "label": 0}
    for position, reply in enumerate(ordered, start=1):
        data, pages = _reply_pdf(reply)
        facility = reply.inmate.facility
        labels_ok = facility is None or facility.labels_allowed
        mailing = "label" if settings.envelope_format == "labels" and labels_ok else "envelope"
        counters[mailing] += 1
        lines.append(BatchLine(position, reply, data, pages, mailing, counters[mailing]))

    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {
        "letters.pdf": _letters_pdf(lines),
        "manifest.csv": _manifest(batch.id, lines),
    }
    envelope_replies = [line.reply for line in lines if line.mailing == "envelope"]
    label_replies = [line.reply for line in lines if line.mailing == "label"]
    if envelope_replies:
        outputs["envelopes.pdf"] = envelopes_pdf(envelope_replies, settings)
    if label_replies:
        outputs["labels.pdf"] = labels_pdf(label_replies, settings)
    for name in OUTPUT_FILES:
        path = out_dir / name
        if name in outputs:
            _write_atomically(path, outputs[name])
        elif path.exists():
            path.unlink()

    now = utcnow()
    for line in lines:
        reply = line.reply
        reply.batch_id = batch.id
        reply.status = ReplyStatus.printed
        reply.printed_at = now
        reply.print_order = line.position
        reply.pages = line.pages
        audit(session, "reply_printed", actor=actor, reply_id=reply.id, batch_id=batch.id,
              position=line.position)
    audit(session, "print_batch_built", actor=actor, batch_id=batch.id, replies=len(lines),
          envelopes=counters["envelope"], labels=counters["label"])
    return batch


def batch_rows(session: Session, batch_id: str) -> list[dict[str, object]]:
    """Reply id, facility and pages per letter in print order: no names, fit for Prefect."""
    replies = session.scalars(
        select(Reply).where(Reply.batch_id == batch_id).order_by(Reply.print_order)
    ).all()
    return [
        {
            "position": r.print_order,
            "reply": r.id,
            "facility": r.inmate.facility.name if r.inmate.facility else "",
            "pages": r.pages,
        }
        for r in replies
    ]


def mark_mailed(session: Session, batch_id: str | None, *, actor: str) -> PrintBatch:
    """Mark a batch (default: the latest printed one) and its printed replies mailed."""
    if batch_id is None:
        batch = session.scalar(
            select(PrintBatch)
            .where(PrintBatch.status == "printed")
            .order_by(PrintBatch.created_at.desc(), PrintBatch.id.desc())
            .limit(1)
        )
        if batch is None:
            raise BatchNotFound("No printed batch is waiting to be mailed")
    else:
        batch = session.get(PrintBatch, batch_id)
        if batch is None:
            raise BatchNotFound(f"No print batch with id {batch_id}")
    if batch.status == "mailed":
        return batch
    now = utcnow()
    replies = session.scalars(
        select(Reply).where(Reply.batch_id == batch.id, Reply.status == ReplyStatus.printed)
    ).all()
    for reply in replies:
        reply.status = ReplyStatus.mailed
        reply.mailed_at = now
    batch.status = "mailed"
    batch.mailed_at = now
    audit(session, "print_batch_mailed", actor=actor, batch_id=batch.id, replies=len(replies))
    return batch
