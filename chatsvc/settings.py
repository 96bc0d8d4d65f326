"""Runtime configuration: one frozen Settings built from flags and CHATSVC_* variables."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECRET_FILE = "secret.key"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _tuple(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know; tests build their own with a temp data dir."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    database_url: str = ""  # empty: sqlite file in data_dir
    llm: str = "offline"
    workers: int = 1
    redis_url: str = ""
    # Security
    bcrypt_rounds: int = 12
    cookie_name: str = "chatsvc_session"
    cookie_secure: bool | None = None  # None: Secure when the request came over HTTPS
    trusted_proxies: tuple[str, ...] = ()  # proxies whose X-Forwarded-* headers are believed (addresses, networks)
    tls_cert: str = ""  # serve HTTPS with this certificate chain (PEM) ...
    tls_key: str = ""  # ... and this private key
    allowed_origins: tuple[str, ...] = ()  # besides the server's own origin
    session_idle_s: int = 7 * 24 * 3600
    session_absolute_s: int = 30 * 24 * 3600
    token_ttl_s: int = 30 * 24 * 3600
    login_fail_limit_account: int = 10
    login_fail_limit_ip: int = 100
    login_window_s: int = 600
    registrations_per_ip: int = 20  # new accounts from one client IP per registration window; more: 429
    registration_window_s: int = 3600
    first_user_admin: bool = False
    # Limits
    max_upload_bytes: int = 25 * 1024 * 1024
    max_json_bytes: int = 4 * 1024 * 1024
    cpu_threads: int = field(default_factory=lambda: max(2, os.cpu_count() or 2))
    # Agent and tasks
    offline_tokens_per_s: float = 50.0
    agent_executor: str = "process"
    agent_processes: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    llm_model: str = "gpt-4o-mini"
    openai_base_url: str = ""
    openai_api_key: str = field(default="", repr=False)
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 2
    task_concurrency: int = 2
    run_lease_s: float = 15.0  # a process renews its runs' leases every third of this; expired: it is gone
    task_lease_s: float = 60.0  # the same for background tasks
    max_tasks_per_user: int = 8  # queued or running at once; more answer 429
    max_runs_per_user: int = 8  # chat replies streaming or queued at once; more answer 429
    max_sockets_per_user: int = 50  # open websockets of one user per server process; more answer 429
    # Filled by load_secrets(); never logged.
    secret_key: bytes = field(default=b"", repr=False)

    @property
    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to the SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'chatsvc.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from CHATSVC_* (and OPENAI_*) variables; explicit overrides win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "secret_key":  # several hosts must sign cookies with one key
                key = env.get("CHATSVC_SECRET_KEY", "").strip()
                if key:
                    if not re.fullmatch(r"[0-9a-fA-F]{64}", key):
                        raise ValueError("CHATSVC_SECRET_KEY must be 64 hex digits (32 random bytes), like the "
                                         f"data dir's {SECRET_FILE}: python -c 'import secrets; "
                                         "print(secrets.token_hex(32))'")
                    values["secret_key"] = bytes.fromhex(key)
                continue
            raw = env.get(f"CHATSVC_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _convert(f.name, raw)
        if "OPENAI_BASE_URL" in env and "openai_base_url" not in values:
            values["openai_base_url"] = env["OPENAI_BASE_URL"]
        if "OPENAI_API_KEY" in env and "openai_api_key" not in values:
            values["openai_api_key"] = env["OPENAI_API_KEY"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Reject settings that cannot work, with a sentence a person can act on."""
        if self.llm not in {"offline", "openai"}:
            raise ValueError(f"llm must be 'offline' or 'openai', not {self.llm!r}")
        if self.agent_executor not in {"process", "thread"}:
            raise ValueError("agent_executor must be 'process' or 'thread'")
        if not 4 <= self.bcrypt_rounds <= 16:
            raise ValueError("bcrypt_rounds must be between 4 and 16")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if self.run_lease_s < 1 or self.task_lease_s < 1:
            raise ValueError("run_lease_s and task_lease_s must be at least 1 second")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"CHATSVC_TRUSTED_PROXIES: {entry!r} is not an address or network") from None
        if self.llm == "openai" and not self.openai_api_key:
            raise ValueError("--llm openai needs OPENAI_API_KEY (any value works for a local server such as "
                             "vLLM, llama.cpp or Ollama) and usually OPENAI_BASE_URL")

    def with_secrets(self) -> Settings:
        """Return settings carrying the secret key, generating it into the data dir on first run."""
        if self.secret_key:
            return self
        return self.replace(secret_key=load_or_create_secret(self.data_dir))

    def public_dsn(self) -> str:
        """Return the database URL with any password hidden, for logs."""
        from sqlalchemy.engine import make_url

        return make_url(self.resolved_database_url).render_as_string(hide_password=True)


def _convert(name: str, raw: str) -> Any:
    field_type = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    kind = str(field_type)
    if kind.startswith("bool"):
        return None if raw == "" and "None" in kind else _bool(raw)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind.startswith("tuple"):
        return _tuple(raw)
    if kind == "Path":
        return Path(raw)
    return raw


def load_or_create_secret(data_dir: Path) -> bytes:
    """Read the 32-byte server secret, creating it (mode 0600) when missing."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    if path.exists():
        key = bytes.fromhex(path.read_text().strip())
        if len(key) != 32:
            raise ValueError(f"{path} must hold 32 bytes as hex; delete it to generate a new one")
        return key
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    return key
