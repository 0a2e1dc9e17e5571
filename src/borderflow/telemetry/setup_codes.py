"""Set-up codes for drivers' phones: what configures Traccar Client or OwnTracks in one scan
or one tap, with the platform's address and the token binding gave the device.

- **Traccar Client** reads a code scanned from its settings as an address: the scheme, host
  and path become its server URL, and the parameters its settings (``id``: the device
  identifier, ``accuracy``, ``interval`` in seconds, ``distance`` in metres, ``buffer``). The
  same settings open the app from a link on the phone through its own scheme
  (``org.traccar.client://``), whose ``url`` parameter is the server URL.
- **OwnTracks** takes its configuration as ``owntracks:///config?inline=<base64 of the JSON
  configuration>`` (OwnTracks' booklet, "Remote configuration"): mode HTTP (3), the URL, and
  HTTP Basic credentials, the user being the device's id (its part before a slash for an
  OwnTracks-style ``user/device`` id) and the password the token; the OwnTracks endpoint
  checks them (:func:`borderflow.telemetry.directory.DeviceDirectory.abasic`).
- **OwnTracks in MQTT mode** takes the same kind of link: mode MQTT (0), the broker's public
  host and port (``BORDERFLOW_MQTT_PUBLIC_URL``), TLS, and the device's own MQTT account
  (:mod:`borderflow.telemetry.mqtt_accounts`: its user is its token's hash, its password
  derived from it), publishing under its own topic, which the broker's ACL allows it alone.

Pure: strings in, strings out (the QR codes are drawn here as inline SVG, nothing fetched).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from urllib.parse import urlencode

import segno

OSMAND_PATH = "/api/v1/telemetry/osmand"
OWNTRACKS_PATH = "/api/v1/telemetry/owntracks"
TRACCAR_SETTINGS = {"accuracy": "high", "interval": "30", "distance": "0", "buffer": "true"}
"""What the docs advise for a truck: high accuracy, a fix every 30 seconds whatever the
distance, positions kept while offline."""
OWNTRACKS_MODE_HTTP = 3
OWNTRACKS_MOVE = 2
"""OwnTracks' monitoring mode "move": a fix every few seconds while moving."""


@dataclass(frozen=True)
class SetupCodes:
    traccar_url: str
    """The code Traccar Client scans (its server URL with the settings)."""
    traccar_link: str
    """The same settings as a link that opens Traccar Client on the phone."""
    owntracks_link: str
    """OwnTracks' configuration link (scanned or opened on the phone)."""
    owntracks_user: str
    owntracks_device: str


def owntracks_identity(device_id: str) -> tuple[str, str]:
    """OwnTracks' user and device for a bound device: its own ``user/device`` when its id has
    a slash, else its id and ``phone``."""
    user, slash, device = device_id.partition("/")
    return (user, device) if slash and user and device else (device_id, "phone")


def tracker_id(user: str) -> str:
    """OwnTracks' two-character Tracker ID (shown on its map): the user's last two letters or
    digits."""
    letters = "".join(c for c in user if c.isalnum())
    return letters[-2:].upper() or "BF"


def owntracks_configuration(base_url: str, device_id: str, token: str) -> dict[str, object]:
    user, device = owntracks_identity(device_id)
    return {"_type": "configuration", "mode": OWNTRACKS_MODE_HTTP,
            "url": base_url.rstrip("/") + OWNTRACKS_PATH, "auth": True, "username": user,
            "password": token, "deviceId": device, "tid": tracker_id(user),
            "monitoring": OWNTRACKS_MOVE}


def codes(base_url: str, device_id: str, token: str) -> SetupCodes:
    """The set-up codes of a device just bound (``base_url``: the platform's public
    address)."""
    server = base_url.rstrip("/") + OSMAND_PATH
    settings = {"id": token, **TRACCAR_SETTINGS}
    config = json.dumps(owntracks_configuration(base_url, device_id, token),
                        ensure_ascii=False, separators=(",", ":"))
    user, device = owntracks_identity(device_id)
    return SetupCodes(
        traccar_url=f"{server}?{urlencode(settings)}",
        traccar_link=f"org.traccar.client://setup?{urlencode({'url': server, **settings})}",
        owntracks_link="owntracks:///config?inline="
        + base64.b64encode(config.encode()).decode(),
        owntracks_user=user, owntracks_device=device)


OWNTRACKS_MODE_MQTT = 0


@dataclass(frozen=True)
class MqttSetup:
    link: str
    """OwnTracks' configuration link for MQTT mode (scanned or opened on the phone)."""
    host: str
    port: int
    tls: bool
    device: str

    @property
    def server(self) -> str:
        """``host:port`` as a person types it (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def owntracks_mqtt_configuration(device_id: str, *, host: str, port: int, tls: bool,
                                 username: str, password: str, topic: str
                                 ) -> dict[str, object]:
    """OwnTracks' configuration for MQTT mode with a device's MQTT account (its user, password
    and topic, :func:`borderflow.telemetry.mqtt_accounts.account`). The app publishes to
    ``pubTopicBase``, which is the account's topic (``owntracks/<user>/<device>``); it reads
    nothing of the others (``sub`` off: the broker would give it nothing anyway)."""
    user, device = owntracks_identity(device_id)
    return {"_type": "configuration", "mode": OWNTRACKS_MODE_MQTT, "host": host,
            "port": port, "tls": tls, "auth": True, "username": username,
            "password": password, "deviceId": device, "tid": tracker_id(user),
            "pubTopicBase": topic, "sub": False, "monitoring": OWNTRACKS_MOVE}


def mqtt_setup(device_id: str, *, host: str, port: int, tls: bool, username: str,
               password: str, topic: str) -> MqttSetup:
    """The MQTT set-up code of a device just bound."""
    config = json.dumps(owntracks_mqtt_configuration(
        device_id, host=host, port=port, tls=tls, username=username, password=password,
        topic=topic), ensure_ascii=False, separators=(",", ":"))
    return MqttSetup("owntracks:///config?inline=" + base64.b64encode(config.encode()).decode(),
                     host, port, tls, owntracks_identity(device_id)[1])


def qr_svg(content: str, title: str) -> str:
    """``content`` as an inline SVG QR code, sized by the page (it fills its box: a phone's
    screen 390 pixels wide shows it whole), named for screen readers."""
    svg: str = segno.make(content, error="l").svg_inline(
        scale=1, border=4, omitsize=True, light="#fff", title=title)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(title)}" ', 1)
