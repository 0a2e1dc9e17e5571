"""API shapes for accounts, tokens, API keys and the audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from borderflow.domain.access import Role
from borderflow.fieldtypes import Code, Day


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the token expires.")


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: Literal["user", "client"]
    username: str
    display_name: str
    roles: list[Role]
    enterprise_tax_code: str | None
    driver_document: str | None
    gate_scope: list[str]
    yard_scope: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    username: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._@-]+$")
    display_name: str = Field(default="", max_length=200)
    kind: Literal["user", "client"] = "user"
    password: str | None = Field(default=None, min_length=1, max_length=200,
                                 description="Users only; at least 10 characters.")
    roles: list[Role] = Field(min_length=1, max_length=len(Role))
    enterprise_tax_code: str | None = Field(default=None, max_length=14)
    driver_document: str | None = Field(default=None, max_length=40)
    gate_scope: list[Code] = Field(default_factory=list, max_length=50)
    yard_scope: list[Code] = Field(default_factory=list, max_length=50)


class AccountPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    display_name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, min_length=1, max_length=200)
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=len(Role))
    enterprise_tax_code: str | None = Field(default=None, max_length=14)
    driver_document: str | None = Field(default=None, max_length=40)
    gate_scope: list[Code] | None = Field(default=None, max_length=50)
    yard_scope: list[Code] | None = Field(default=None, max_length=50)
    active: bool | None = None


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120, description="What uses this key.")


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    account_id: int
    prefix: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The full key. It is shown only once: store it now.")


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    action: str
    target_type: str
    target_id: str
    before: Any
    after: Any
    request_id: str | None


class AuditPage(BaseModel):
    items: list[AuditOut]
    total: int
    page: int
    page_size: int


class EnterpriseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    aeo: bool = Field(default=False, description="Authorised economic operator.")
    aeo_valid_until: Day | None = Field(default=None, description="Last day of AEO status.")


class EnterpriseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    tax_code: str
    name: str
    aeo: bool
    aeo_valid_until: date | None
    updated_at: datetime


# --- accounts that serve themselves ---------------------------------------------------------


class RegistrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enterprise_name: str = Field(max_length=200)
    tax_code: str = Field(max_length=20, description="Vietnamese tax code (MST): 10 digits, "
                          "or 10 and a 3-digit branch suffix; checked, and not registered yet.")
    contact_name: str = Field(max_length=200, description="The person the account is for.")
    phone: str = Field(max_length=30, description="Where the outcome is sent by SMS; national "
                       "numbers are read as Vietnamese.")
    username: str = Field(max_length=80)
    password: str = Field(max_length=200, description="The platform's password policy: at "
                          "least 12 characters, not a common password, not the username.")
    language: Literal["vi", "en", "zh"] = Field(default="vi",
                                                description="Language of the SMS.")


class RegistrationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    status: Literal["pending", "confirmed", "refused"]
    tax_code: str
    enterprise_name: str
    contact_name: str
    username: str
    created_at: datetime
    decided_at: datetime | None
    reason: str | None
    account_id: int | None


class RegistrationAdminOut(RegistrationOut):
    phone: str
    language: str
    decided_by: str | None


class RefusalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=500, description="Why; sent to the applicant by SMS.")


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=200)
    new_password: str = Field(max_length=200)


class PasswordChanged(BaseModel):
    sessions: int = Field(description="Your browser sessions ended")
    api_tokens: bool = Field(description="API tokens issued so far are revoked (this one "
                             "too): log in again")


class ResetRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=80)


class ResetRequestedOut(BaseModel):
    message: str = Field(description="The same whether or not the username exists")


class ResetCompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=80)
    code: str = Field(max_length=20, description="The code of the SMS")
    new_password: str = Field(max_length=200)
