"""Scans uploaded in the browser: saved to disk, handed to `letterbridge ingest`, progress shown."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import get_settings
from letters.states import ReviewReason
from storage.models import ItemStatus, MailItem, SourceFile

ALLOWED_SUFFIXES = {".pdf", ".tif", ".tiff", ".jpg", ".jpeg", ".png"}
FINAL_SOURCE_STATUSES = {"done", "quarantined"}
FINAL_ITEM_STATUSES = {"needs_review", "released", "unrouted", "quarantined", "read"}
_TOKEN = re.compile(r"^[0-9a-f]{16}$")

# Ingest runs this server started, so the status page can tell "still working" from "stopped".
_processes: dict[str, subprocess.Popen] = {}
_processes_lock = threading.Lock()


class UploadRefused(ValueError):
    """A file we won't take; the message is shown to the person uploading."""


@dataclass
class SavedFile:
    name: str
    sha256: str
    size: int


def uploads_root() -> Path:
    return Path(get_settings().home) / "uploads"


def safe_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9._ -]+", "_", base).strip(" .")
    return cleaned[:120] or "scan"


def check_name(name: str) -> None:
    if Path(name).suffix.lower() not in ALLOWED_SUFFIXES:
        raise UploadRefused(f"{name}: only PDF, TIFF, JPEG and PNG scans are taken")


def new_upload_dir() -> tuple[str, Path]:
    token = secrets.token_hex(8)
    folder = uploads_root() / token
    folder.mkdir(parents=True, mode=0o700)
    return token, folder


def save_stream(folder: Path, name: str, stream: Any, max_bytes: int) -> SavedFile:
    """Copy an uploaded file to `folder` in chunks, hashing as it goes."""
    target = folder / name
    stem, suffix, n = target.stem, target.suffix, 1
    while target.exists():
        n += 1
        target = folder / f"{stem}-{n}{suffix}"
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        while chunk := stream.read(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                out.close()
                target.unlink()
                raise UploadRefused(f"{name}: larger than {max_bytes // (1024 * 1024)} MB")
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        target.unlink()
        raise UploadRefused(f"{name}: the file is empty")
    return SavedFile(target.name, digest.hexdigest(), size)


def save_bytes(folder: Path, name: str, data: bytes) -> SavedFile:
    """A file the app already holds (a kept original), saved like an uploaded one."""
    target = folder / name
    target.write_bytes(data)
    return SavedFile(name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def write_manifest(folder: Path, uploaded_by: str, files: list[SavedFile]) -> None:
    manifest = {"uploaded_by": uploaded_by, "files": [f.__dict__ for f in files]}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def start_ingest(token: str, folder: Path, uploaded_by: str, files: list[SavedFile]) -> None:
    """Hand the files to `letterbridge ingest` in its own process: OCR never runs in the web app."""
    paths = [str(folder / f.name) for f in files]
    log = (folder / "ingest.log").open("ab")
    process = subprocess.Popen(  # our own program, arguments are paths we wrote
        [sys.executable, "-m", "letterbridge", "ingest", "--uploaded-by", uploaded_by, *paths],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=os.environ.copy(),
        start_new_session=True,  # a restart of the web server does not kill a running ingest
    )
    log.close()
    with _processes_lock:
        if len(_processes) > 200:  # forget finished runs so the table stays small
            for old in [t for t, p in _processes.items() if p.poll() is not None]:
                del _processes[old]
        _processes[token] = process


def _remove_scans(folder: Path, manifest: dict[str, Any]) -> None:
    """Ingest keeps its own copy of every original; the upload copies are not left lying about."""
    for entry in manifest["files"]:
        (folder / entry["name"]).unlink(missing_ok=True)


def item_outcome(item: MailItem) -> str:
    """What became of a letter, in words (no names of the sender: the uploader sees this)."""
    reasons = ", ".join(ReviewReason.label_of(r) for r in item.review_reasons)
    if item.status in (ItemStatus.released, ItemStatus.read):
        to = item.volunteer.display_name if item.volunteer else "its pen pal"
        return f"sent to {to}"
    if item.status == ItemStatus.quarantined:
        return f"not a letter: {item.quarantine_reason or reasons}"
    if item.status in (ItemStatus.needs_review, ItemStatus.unrouted):
        return f"waits in the queue: {reasons}" if reasons else "waits in the queue"
    return "being read"


def upload_status(db: Session, token: str) -> dict[str, Any] | None:
    """What became of each uploaded file: SourceFile rows and the items made from them."""
    if not _TOKEN.match(token):
        return None
    manifest_path = uploads_root() / token / "manifest.json"
    if not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text())
    hashes = [f["sha256"] for f in manifest["files"]]
    sources = {
        s.sha256: s for s in db.scalars(select(SourceFile).where(SourceFile.sha256.in_(hashes)))
    }
    items_by_source: dict[str, list[MailItem]] = {}
    if sources:
        for item in db.scalars(
            select(MailItem)
            .where(MailItem.source_id.in_([s.id for s in sources.values()]))
            .order_by(MailItem.first_source_page)
        ):
            items_by_source.setdefault(item.source_id, []).append(item)

    with _processes_lock:
        process = _processes.get(token)
    exit_code = process.poll() if process is not None else None
    running = process is not None and exit_code is None

    files = []
    all_final = True
    for entry in manifest["files"]:
        source = sources.get(entry["sha256"])
        items = items_by_source.get(source.id, []) if source else []
        final = bool(
            source
            and source.status in FINAL_SOURCE_STATUSES
            and all(i.status in FINAL_ITEM_STATUSES for i in items)
        )
        all_final &= final
        files.append(
            {
                "name": entry["name"],
                "size": entry["size"],
                "status": source.status if source else "waiting",
                "page_count": source.page_count if source else 0,
                "error": source.error if source else "",
                "done": final,
                "items": [
                    {"id": i.id, "status": i.status, "url": f"/letters/{i.id}",
                     "outcome": item_outcome(i)} for i in items
                ],
            }
        )
    failed = exit_code not in (None, 0) and not all_final
    if exit_code == 0 and all_final:
        _remove_scans(uploads_root() / token, manifest)
    return {
        "token": token,
        "files": files,
        "running": running,
        "exit_code": exit_code,
        "done": all_final or failed,
        "failed": failed,
    }
