"""The set-up codes of a phone just bound, as the pages show them: the driver's page after
the driver links a phone, the admin's devices page after an admin binds one. Drawn with the
page's language and the platform's public address; the template macro
``_setup_codes.html`` lays them out the same on both pages.

What the codes hold (the token, the MQTT password) is shown on the answer to the binding form
only: the pages call this with the token binding has just given and never keep it, and that
answer is marked not to be stored (:data:`NOT_STORED`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from borderflow.config import Settings
from borderflow.errors import N_
from borderflow.telemetry import mqtt_accounts, setup_codes
from borderflow.telemetry import service as telemetry
from borderflow.web.pages import formatter

NOT_STORED = {"Cache-Control": "no-store"}
"""The headers of an answer that shows a secret once: no browser or proxy keeps a copy (the
back button asks the server again, which shows it no more)."""


def shown(
    request: Request, settings: Settings, device_id: str | None, token: str | None
) -> dict[str, Any] | None:
    """The set-up codes of a device just bound (shown with its token, that once): Traccar
    Client's and OwnTracks' QR codes and links, with the platform's public address; and
    OwnTracks' MQTT set-up with the device's own MQTT account when the broker's public
    address is configured (``BORDERFLOW_MQTT_PUBLIC_URL``; its password, like the token,
    shown on this answer only, in the code and the link, never as text)."""
    if not device_id or not token:
        return None
    fmt = formatter(request)
    found = setup_codes.codes(settings.public_base_url, device_id, token)
    codes: dict[str, Any] = {
        "codes": found,
        "traccar_qr": setup_codes.qr_svg(
            found.traccar_url, fmt.gettext(N_("Set-up code for Traccar Client"))
        ),
        "owntracks_qr": setup_codes.qr_svg(
            found.owntracks_link, fmt.gettext(N_("Set-up code for OwnTracks"))
        ),
        "mqtt": None,
    }
    broker = settings.mqtt_public_broker
    if broker is not None:
        host, port, tls = broker
        account = mqtt_accounts.account(
            settings.resolved_secret_key(), device_id, telemetry.token_hash(token)
        )
        mqtt = setup_codes.mqtt_setup(
            device_id,
            host=host,
            port=port,
            tls=tls,
            username=account.username,
            password=account.password,
            topic=account.topic,
        )
        codes["mqtt"] = {
            "setup": mqtt,
            "qr": setup_codes.qr_svg(
                mqtt.link, fmt.gettext(N_("Set-up code for OwnTracks in MQTT mode"))
            ),
        }
    return codes
