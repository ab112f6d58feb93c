"""Blob stores (local folder and S3 over HTTP) and database migrations."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import boto3
import pytest
from sqlalchemy import create_engine, inspect

from storage.blobs import BlobNotFound, LocalBlobStore, S3BlobStore, original_key, sha256_bytes
from storage.db import alembic_config, migrate

EXPECTED_TABLES = {
    "facilities", "inmates", "volunteers", "matches", "users", "source_files", "mail_items",
    "pages", "redactions", "replies", "print_batches", "audit_events", "watch_terms",
}


def exercise_store(store) -> None:
    data = b"\x89PNG fake page bytes"
    key = original_key(sha256_bytes(data))
    assert not store.exists(key)
    store.put(key, data)
    assert store.exists(key)
    assert store.get(key) == data
    store.put("items/abc/page-1.png", b"one")
    store.put("items/abc/page-2.png", b"two")
    assert sorted(store.list("items/abc/")) == ["items/abc/page-1.png", "items/abc/page-2.png"]
    store.delete("items/abc/page-1.png")
    with pytest.raises(BlobNotFound):
        store.get("items/abc/page-1.png")
    with pytest.raises(ValueError, match="invalid blob key"):
        store.put("../escape", b"x")


def test_local_blob_store_round_trip(tmp_path: Path) -> None:
    """GIVEN a local folder store WHEN blobs are written, read, listed and deleted THEN all works
    and no temporary files are left behind."""
    store = LocalBlobStore(tmp_path / "blobs")
    exercise_store(store)
    assert not list((tmp_path / "blobs").rglob(".tmp-*"))


def test_s3_blob_store_speaks_http_to_moto(moto_server: str) -> None:
    """GIVEN moto's standalone S3 server WHEN the S3 store is used with server-side encryption
    THEN objects round-trip over HTTP and carry the encryption header."""
    bucket = f"lb-{uuid.uuid4().hex[:8]}"
    store = S3BlobStore(bucket, prefix="tenant-a", endpoint_url=moto_server, sse="AES256")
    store.ensure_bucket()
    exercise_store(store)
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    store.put("check/sse.bin", b"secret")
    head = client.head_object(Bucket=bucket, Key="tenant-a/check/sse.bin")
    assert head["ServerSideEncryption"] == "AES256"
    # The prefix keeps one program's blobs apart from another's.
    other = S3BlobStore(bucket, prefix="tenant-b", endpoint_url=moto_server)
    assert not other.exists("check/sse.bin")


def test_blob_store_from_settings_selects_s3(moto_server: str, lb_home: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN settings that name S3 WHEN the app asks for its blob store THEN it gets S3."""
    from config.settings import reset_settings
    from storage import blobs

    monkeypatch.setenv("LETTERBRIDGE_BLOB_BACKEND", "s3")
    monkeypatch.setenv("LETTERBRIDGE_S3_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("LETTERBRIDGE_S3_BUCKET", f"lb-{uuid.uuid4().hex[:8]}")
    reset_settings()
    blobs._stores.clear()
    store = blobs.get_blob_store()
    assert isinstance(store, S3BlobStore)
    store.put("x/y", b"z")
    assert store.get("x/y") == b"z"


def test_settings_from_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a letterbridge.toml in the data folder and an environment variable WHEN settings load
    THEN the file fills values and the environment wins over it."""
    from config.settings import Settings

    home = tmp_path / "h"
    home.mkdir()
    (home / "letterbridge.toml").write_text('program_name = "Books Through Bars"\nocr_dpi = 301\n')
    monkeypatch.setenv("LETTERBRIDGE_HOME", str(home))
    monkeypatch.setenv("LETTERBRIDGE_OCR_DPI", "302")
    settings = Settings()
    assert settings.program_name == "Books Through Bars"
    assert settings.ocr_dpi == 302
    assert settings.effective_database_url == f"sqlite:///{home / 'letterbridge.db'}"


def test_migrations_build_every_table_from_empty(tmp_path: Path) -> None:
    """GIVEN an empty SQLite file WHEN migrations run THEN every table exists and WAL is on."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate(url)
    engine = create_engine(url)
    assert EXPECTED_TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_migrations_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    """GIVEN a migrated database WHEN downgraded to base and upgraded THEN it is whole again."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    migrate(url)
    command.downgrade(alembic_config(url), "base")
    assert not (EXPECTED_TABLES & set(inspect(create_engine(url)).get_table_names()))
    command.upgrade(alembic_config(url), "head")
    assert EXPECTED_TABLES <= set(inspect(create_engine(url)).get_table_names())


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("LETTERBRIDGE_TEST_DATABASE_URL"),
                    reason="LETTERBRIDGE_TEST_DATABASE_URL not set")
def test_migrations_on_postgresql() -> None:
    """GIVEN the test PostgreSQL server WHEN migrations run in a fresh schema THEN tables exist."""
    from sqlalchemy import text

    from storage.db import _normalise_url

    base = _normalise_url(os.environ["LETTERBRIDGE_TEST_DATABASE_URL"])
    schema = f"lb_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
        migrate(url)
        names = set(inspect(create_engine(url)).get_table_names(schema=schema))
        assert EXPECTED_TABLES <= names
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
