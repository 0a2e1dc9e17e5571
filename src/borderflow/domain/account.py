"""Accounts that serve themselves, the pure rules: a registration's states, the one-time
password reset code (its alphabet, life and tries) and the SMS texts about an account in
Vietnamese, English and Chinese. No I/O, no clock: times are passed in."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from borderflow.domain.notify import Texts

PENDING, CONFIRMED, REFUSED = "pending", "confirmed", "refused"
REGISTRATION_STATES = (PENDING, CONFIRMED, REFUSED)

LANGUAGES = ("vi", "en", "zh")

RESET_CODE_DIGITS = 6
RESET_CODE_MINUTES = 10
RESET_CODE_TRIES = 5
"""Wrong codes typed against one code before it stops working (a new one must be asked)."""

REFUSAL_REASON_MAX = 500


def language_of(value: str | None) -> str:
    """A language the messages are written in (Vietnamese unless another one is known)."""
    return value if value in LANGUAGES else "vi"


def new_reset_code() -> str:
    """Six random digits (``secrets``): easy to type from an SMS."""
    return "".join(secrets.choice("0123456789") for _ in range(RESET_CODE_DIGITS))


def normal_code(typed: str) -> str:
    """A code as typed, without spaces or hyphens (``123 456`` is ``123456``)."""
    return "".join(ch for ch in typed if ch.isdigit())[:RESET_CODE_DIGITS * 2]


def reset_expiry(created_at: datetime) -> datetime:
    return created_at + timedelta(minutes=RESET_CODE_MINUTES)


def code_usable(*, expires_at: datetime, used_at: datetime | None, attempts: int,
                now: datetime) -> bool:
    """Whether a reset code may still be tried: not expired, not used, tries left."""
    return used_at is None and now < expires_at and attempts < RESET_CODE_TRIES


def reset_code_sms(code: str) -> Texts:
    minutes = RESET_CODE_MINUTES
    return Texts(
        vi=f"Borderflow: mã đặt lại mật khẩu của bạn là {code}. Mã có hiệu lực {minutes} "
           "phút và chỉ dùng được một lần. Đừng đưa mã này cho bất kỳ ai.",
        en=f"Borderflow: your password reset code is {code}. It is valid for {minutes} "
           "minutes and works once. Never give it to anyone.",
        zh=f"Borderflow：您的密码重置验证码是 {code}，{minutes} 分钟内有效，仅可使用一次。"
           "请勿告诉任何人。",
    )


def registration_confirmed_sms(enterprise: str, username: str) -> Texts:
    return Texts(
        vi=f"Borderflow: đăng ký của {enterprise} đã được xác nhận. Bạn có thể đăng nhập "
           f"với tên đăng nhập {username}.",
        en=f"Borderflow: the registration of {enterprise} is confirmed. You can now log in "
           f"as {username}.",
        zh=f"Borderflow：{enterprise} 的注册已确认。您现在可以用户名 {username} 登录。",
    )


def registration_refused_sms(enterprise: str, reason: str) -> Texts:
    return Texts(
        vi=f"Borderflow: đăng ký của {enterprise} bị từ chối. Lý do: {reason}",
        en=f"Borderflow: the registration of {enterprise} was refused. Reason: {reason}",
        zh=f"Borderflow：{enterprise} 的注册被拒绝。原因：{reason}",
    )
