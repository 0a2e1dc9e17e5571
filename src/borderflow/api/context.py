"""What a running application holds: settings, database, its admission limits, clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from borderflow.account.remembered import Remembered
from borderflow.api.admission import Admission
from borderflow.clock import Clock
from borderflow.config import Settings


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    clock: Clock
    secret_key: str
    admission: Admission
    callers: Remembered = field(default_factory=Remembered)
    """Who a credential is, remembered for a moment (account/remembered.py)."""
