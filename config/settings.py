"""One settings object for the whole program: environment variables, then a TOML file, then defaults."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _default_home() -> Path:
    return Path(os.environ.get("LETTERBRIDGE_HOME") or Path.cwd() / ".letterbridge")


def config_file_path() -> Path:
    """`LETTERBRIDGE_CONFIG`, else `$LETTERBRIDGE_HOME/letterbridge.toml`."""
    explicit = os.environ.get("LETTERBRIDGE_CONFIG")
    return Path(explicit) if explicit else _default_home() / "letterbridge.toml"


class Settings(BaseSettings):
    """Every knob Letterbridge has. Environment variables are `LETTERBRIDGE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="LETTERBRIDGE_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    # Empty means SQLite in `home`. Any SQLAlchemy URL works (postgresql+psycopg://...).
    database_url: str = ""

    # Blob store: "local" keeps files under home/blobs; "s3" uses boto3.
    blob_backend: Literal["local", "s3"] = "local"
    s3_bucket: str = "letterbridge"
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # "AES256" or "aws:kms" turns on server-side encryption; empty leaves it off.
    s3_sse: str = ""
    s3_kms_key_id: str | None = None

    # OCR
    # "auto": English first, a page that reads Spanish again with Spanish (and the rest of its
    # letter at once); on typed pages the same CER as "eng+spa" for ~13 % less Tesseract CPU on
    # an English page (bench/results/ingest.md). Or any Tesseract -l value ("eng+spa").
    ocr_languages: str = "auto"
    ocr_dpi: int = 300
    ocr_workers: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1))
    ocr_page_timeout_seconds: int = 120
    ocr_low_confidence: float = 70.0
    # The second OCR engine (PP-OCR, ocr/ppocr.py) for what Tesseract reads badly: handwriting
    # and envelopes. Off: Tesseract reads every page, as before. The thresholds say when
    # Tesseract vouches for its own reading of a letter page (ocr/engines.py; measured in
    # bench/results/handwriting.md): its real words' mean confidence at least this ...
    ocr_second_engine: bool = True
    ocr_second_engine_below_confidence: float = 94.0
    # ... and at most this share of its words below 60.
    ocr_second_engine_max_doubtful_share: float = 0.1
    # Envelopes: read again by the second engine when the roster does not confirm Tesseract's
    # reading (letters/routing.py `tesseract_vouches`; handwritten senders, mostly).
    ocr_second_engine_envelopes: bool = True
    max_image_pixels: int = 120_000_000
    max_file_bytes: int = 200 * 1024 * 1024
    # One web upload, all its files together (refused before it reaches the disk).
    max_upload_bytes: int = 1024 * 1024 * 1024
    max_pages_per_file: int = 500

    # Routing
    match_min_confidence: float = 0.9

    # Program identity, printed on every reply.
    program_name: str = "Letterbridge Pen Pal Program"
    program_address_line: str = "PO Box 1000"
    program_city: str = "Springfield"
    program_state: str = "IL"
    program_zip: str = "62701"
    envelope_format: Literal["envelope", "labels"] = "envelope"

    # Web app
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    # A session ends after this long without a request, and this long after login regardless.
    session_idle_minutes: int = 60
    session_max_hours: int = 12
    # Addresses of reverse proxies whose X-Forwarded-Proto / X-Forwarded-For (or Forwarded)
    # headers are believed, comma-separated, or "*" for any. Empty (the default) believes
    # none: anyone could send those headers to dodge the login limiter.
    forwarded_allow_ips: str = ""
    # How long a password-reset link an admin made stays usable.
    password_reset_hours: int = 24
    # How long an invitation link (a new account choosing its password) stays usable; an admin
    # can make a new one from the Users page.
    invite_days: int = Field(default=7, ge=1, le=365)

    # Mail notifications
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_from: str = "letters@letterbridge.invalid"

    # Unattended intake (letterbridge worker)
    watch_folder: Path | None = None
    watch_enabled: bool = False
    s3_intake_prefix: str = ""
    s3_intake_enabled: bool = False
    print_batch_enabled: bool = False
    print_batch_cron: str = "0 6 * * *"
    print_batch_dir: Path | None = None

    prefect_ui_url: str = ""
    # With no PREFECT_API_URL, commands start one Prefect server for the data folder and reuse
    # it (runs stay in its UI); false: Prefect's temporary server in every command, as before.
    prefect_local_server: bool = True
    # A flow run silent this long (no heartbeat, no final state) is marked Crashed by a Prefect
    # automation; keep it above 3 × PREFECT_FLOWS_HEARTBEAT_FREQUENCY (180 s by default).
    silent_run_seconds: int = 600

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())
        return (init_settings, env_settings, toml, file_secret_settings)

    # Derived paths -----------------------------------------------------------------
    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'letterbridge.db'}"

    @property
    def program_return_lines(self) -> list[str]:
        return [
            self.program_name,
            self.program_address_line,
            f"{self.program_city}, {self.program_state} {self.program_zip}",
        ]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return settings


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
