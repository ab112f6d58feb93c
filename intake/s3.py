"""An S3 prefix as an intake: objects dropped there, each taken by one worker.

S3 (`s3_intake_prefix`, e.g. "intake/"):

    intake/<name>                      dropped objects
    intake/.claims/<name>              claim marker, written with If-None-Match: * so one wins
    intake/waiting/<source id>/<name>  stored as that source's original, its letters not
                                       finished: handed to a work pool (tagged
                                       letterbridge-status=dispatched) or its run stopped, by an
                                       outage say (=unfinished); filed away below once the
                                       source finishes, whoever finishes it
    intake/processed/<name>            processed objects, tagged with their source id
    intake/quarantine/<name>           objects that could not be processed (+ <name>.reason.txt)

Neither claim is the last line of defence: the database's unique SHA-256 on `source_files`
is. A claim only keeps two workers from doing the same download and registration twice.
Every move is a copy, then a delete: a worker that dies in between leaves two copies, never none.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from config.settings import get_settings
from intake.sources import UNFINISHED_SUFFIXES, register_file, worker_id
from storage.blobs import S3BlobStore, get_blob_store

log = logging.getLogger(__name__)

WAITING = "waiting/"
_MISSING = {"NoSuchKey", "404", "NotFound"}

# --- S3 prefix -------------------------------------------------------------------------


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _http_status(exc: Exception) -> int:
    return int(getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


class S3Intake:
    """Objects dropped under a prefix of the bucket, each taken by one worker."""

    def __init__(self, client, bucket: str, prefix: str, *, owner: str | None = None,
                 claim_ttl_seconds: float = 900.0) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.owner = owner or worker_id()
        self.claim_ttl_seconds = claim_ttl_seconds

    @classmethod
    def from_settings(cls, prefix: str | None = None, **kwargs: object) -> S3Intake:
        """The blob store's bucket and client (same endpoint, retries and credentials)."""

        settings = get_settings()
        store = get_blob_store()
        if isinstance(store, S3BlobStore):
            client = store.client
        else:  # blobs on local disk, intake from a bucket: a client of its own

            client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url,
                                  region_name=settings.s3_region,
                                  config=Config(retries={"max_attempts": 5, "mode": "standard"}))
        # Never the bucket's top: that is where an empty setting would point.
        prefix = (settings.s3_intake_prefix if prefix is None else prefix) or "intake/"
        return cls(client, settings.s3_bucket, prefix, **kwargs)

    def _rel(self, key: str) -> str:
        return key[len(self.prefix):]

    def _claim_key(self, key: str) -> str:
        return f"{self.prefix}.claims/{self._rel(key)}"

    def _list(self, prefix: str, *, flat: bool) -> list[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        extra = {"Delimiter": "/"} if flat else {}
        return [obj for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **extra)
                for obj in page.get("Contents", [])]

    def pending(self, limit: int = 100, *, unclaimed_only: bool = False) -> list[str]:
        """Objects dropped at the top of the prefix, oldest first (waiting/, processed/ and
        quarantine/ are folders below it, so listing stays one cheap call however much was
        processed).

        `unclaimed_only` also leaves out keys with a live claim (what the sensor asks).
        """
        found = []
        for obj in self._list(self.prefix, flat=True):
            name = self._rel(obj["Key"])
            if (name and not name.startswith(".")
                    and Path(name).suffix.lower() not in UNFINISHED_SUFFIXES):
                found.append((obj["LastModified"], obj["Key"]))
        if unclaimed_only and found:
            now = datetime.now(UTC)
            live = {self.prefix + self._rel(obj["Key"])[len(".claims/"):]
                    for obj in self._list(f"{self.prefix}.claims/", flat=True)
                    if (now - obj["LastModified"]).total_seconds() < self.claim_ttl_seconds}
            found = [(at, key) for at, key in found if key not in live]
        return [key for _, key in sorted(found)[:limit]]

    def claim(self, key: str) -> int | None:
        """Take `key` for this worker. Returns the attempt number, or None if another has it.

        The marker is written with If-None-Match: * — S3 (and moto, MinIO…) accept exactly
        one such write. A marker older than the TTL belonged to a worker that died: it is
        replaced with If-Match on its ETag, so of two workers taking it over only one wins.
        """

        claim_key = self._claim_key(key)
        body = {"by": self.owner, "at": time.time(), "attempt": 1}
        try:
            self.client.put_object(Bucket=self.bucket, Key=claim_key, IfNoneMatch="*",
                                   Body=json.dumps(body).encode())
            return 1
        except ClientError as exc:
            if _http_status(exc) not in {409, 412} and _error_code(exc) not in {
                    "PreconditionFailed", "ConditionalRequestConflict"}:
                raise
        try:
            current = self.client.get_object(Bucket=self.bucket, Key=claim_key)
        except ClientError as exc:
            if _error_code(exc) in {"NoSuchKey", "404"}:
                return None  # released a moment ago; the next poll takes it
            raise
        age = (datetime.now(UTC) - current["LastModified"]).total_seconds()
        if age < self.claim_ttl_seconds:
            return None
        try:
            previous = json.loads(current["Body"].read() or b"{}")
        except ValueError:
            previous = {}
        body["attempt"] = int(previous.get("attempt", 1)) + 1
        try:
            self.client.put_object(Bucket=self.bucket, Key=claim_key, IfMatch=current["ETag"],
                                   Body=json.dumps(body).encode())
        except ClientError as exc:
            if _http_status(exc) in {409, 412} or _error_code(exc) in {
                    "PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"}:
                return None
            raise
        return body["attempt"]

    def release(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._claim_key(key))

    def download(self, key: str, folder: Path) -> Path:
        """The object as a file named like it (the name is what the mailroom recognises)."""
        name = key.rsplit("/", 1)[-1]
        target = folder / uuid.uuid4().hex[:8] / name
        target.parent.mkdir(parents=True)
        self.client.download_file(self.bucket, key, str(target))
        return target

    def _head(self, key: str) -> dict | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                return None
            raise

    def _move(self, key: str, target: str, *, status: str, source_id: str,
              reason: str = "") -> bool:
        """Copy `key` to `target` (tagged with its status and source id), then delete `key`.
        False when `key` went meanwhile (another worker moved it)."""
        tags = urlencode({"letterbridge-status": status, "letterbridge-source": source_id})
        try:
            self.client.copy_object(Bucket=self.bucket, Key=target, TaggingDirective="REPLACE",
                                    Tagging=tags, CopySource={"Bucket": self.bucket, "Key": key})
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                return False
            raise
        if status == "quarantined":
            self.client.put_object(Bucket=self.bucket, Key=f"{target}.reason.txt",
                                   Body=(reason.rstrip() + "\n").encode(),
                                   ContentType="text/plain; charset=utf-8")
        self.client.delete_object(Bucket=self.bucket, Key=key)
        return True

    def _is_waiting(self, key: str) -> bool:
        return self._rel(key).startswith(WAITING)

    def file_away(self, key: str, *, status: str, source_id: str = "", reason: str = "") -> str:
        """Move a claimed object, or one in waiting/, to processed/ or quarantine/ (tagged with
        its source id), then drop its claim. Safe to repeat: a copy already made is recognised
        by its ETag, an object already moved is left alone."""
        folder = "quarantine/" if status == "quarantined" else "processed/"
        name = key.rsplit("/", 1)[-1]
        head = self._head(key)
        target = f"{self.prefix}{folder}{name}"
        if head is not None:
            existing = self._head(target)
            if existing is not None and existing["ETag"] != head["ETag"]:
                # Same name, other bytes: keep both.
                stem, dot, ext = name.rpartition(".")
                target = (f"{self.prefix}{folder}{stem}-{source_id or uuid.uuid4().hex[:8]}"
                          f"{dot}{ext}" if dot else f"{target}-{source_id}")
        moved = head is not None and self._move(key, target, status=status,
                                                source_id=source_id, reason=reason)
        if not self._is_waiting(key):
            self.release(key)  # (gone already: filed by an earlier attempt that died after it)
        return target if moved else ""

    def hold(self, key: str, *, source_id: str, status: str) -> str:
        """Move a claimed object whose bytes are stored as `source_id`'s original, but whose
        letters are not finished, to waiting/<source id>/ and drop its claim: no poll takes it
        again, and `file_away` files it once the source finishes. Safe to repeat (the same
        source id is the same bytes, so a copy already there is the same object)."""
        target = f"{self.prefix}{WAITING}{source_id}/{key.rsplit('/', 1)[-1]}"
        moved = self._head(key) is not None and self._move(key, target, status=status,
                                                           source_id=source_id)
        self.release(key)
        return target if moved else ""

    def waiting(self, source_ids: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Objects in waiting/, by source id: all of them, or only those of `source_ids`."""
        top = f"{self.prefix}{WAITING}"
        if source_ids is None:
            objects = self._list(top, flat=False)
        else:
            objects = [obj for sid in dict.fromkeys(source_ids)
                       for obj in self._list(f"{top}{sid}/", flat=False)]
        found: dict[str, list[str]] = {}
        for obj in objects:
            source_id, _, name = obj["Key"][len(top):].partition("/")
            if source_id and name:
                found.setdefault(source_id, []).append(obj["Key"])
        return found

    def register(self, keys: Iterable[str], work: Path, *,
                 uploaded_by: str = "s3-intake") -> dict[str, str]:
        """Download and register each claimed object. Returns key → source id."""

        registered: dict[str, str] = {}
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work, prefix="s3-intake-") as tmp:
            for key in keys:
                try:
                    path = self.download(key, Path(tmp))
                except ClientError as exc:
                    if _error_code(exc) not in {"NoSuchKey", "404", "NotFound"}:
                        raise
                    self.release(key)  # filed away by a run that died before dropping its claim
                    continue
                registered[key] = register_file(path, uploaded_by=uploaded_by)
                path.unlink()
        return registered
