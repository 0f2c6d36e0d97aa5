"""Configuration from the environment (and a `.env` file beside the project).

Every knob has a default that works on a laptop with nothing configured.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = (PROJECT_ROOT / "data" / "sample_market.jsonl", PROJECT_ROOT / "data" / "target_accounts.csv")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    salesos_home: Path = Field(default=Path("var"), description="where local state lives")
    redis_url: str | None = Field(default=None, description="unset: start an embedded Redis")
    salesos_batch_size: int = Field(default=250, ge=1, le=5000, description="records per job")
    salesos_send_hour: int = Field(default=9, ge=0, le=23, description="local hour of each touch")
    salesos_sender_name: str = "SalesOS Demo"
    salesos_sender_email: str = "demo@salesos.invalid"
    salesos_postal_address: str = "SalesOS Demo, 1 Sample Street, Springfield, USA"
    salesos_public_url: str = Field(default="http://127.0.0.1:5000", description="base of unsubscribe links")
    salesos_data_files: list[Path] = Field(default_factory=lambda: list(SAMPLE_DATA))
    salesos_job_timeout: int = Field(default=600, ge=10)
    salesos_vault_keys: SecretStr | None = Field(default=None, description="Fernet keys, newest first")

    @cached_property
    def home(self) -> Path:
        path = self.salesos_home.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def crm_path(self) -> Path:
        return self.home / "crm.sqlite3"

    @property
    def state_path(self) -> Path:
        """SalesOS's own state: the send ledger (the CRM holds everything else)."""
        return self.home / "salesos.sqlite3"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    @property
    def redis_dir(self) -> Path:
        return self.home / "redis"


def load_settings() -> Settings:
    return Settings()
