"""Valid request bodies to start from; tests change one thing at a time."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

from tests.conftest import TODAY

ENTERPRISE_TAX = "0100109106"  # the seeded "enterprise" account
OTHER_TAX = "0101245486"  # the seeded "enterprise2" account
DRIVER_DOC = "001089012345"  # the seeded "driver" account
OPEN_DAY = TODAY + timedelta(days=2)  # a Wednesday with regular hours

_BASE: dict[str, Any] = {
    "direction": "export",
    "enterprise": {"tax_code": ENTERPRISE_TAX, "name": "Cong ty TNHH Xuat nhap khau Demo"},
    "requested_gate": "huu-nghi",
    "requested_date": OPEN_DAY.isoformat(),
    "goods": [
        {
            "hs_code": "8471.30",
            "description": "Laptop computers",
            "quantity": "400",
            "unit": "carton",
            "net_weight_kg": 6000,
            "value_usd": "180000.00",
        }
    ],
    "vehicles": [
        {
            "plate": "29C-123.45",
            "trailer_plate": None,
            "vehicle_type": "container_truck",
            "payload_tonnes": "18",
            "container": "40ft",
            "driver": {
                "name": "Nguyen Van Tai",
                "document_type": "vn_citizen_id",
                "document_number": DRIVER_DOC,
                "phone": "0912345678",
            },
        }
    ],
}

FRUIT_LINE: dict[str, Any] = {
    "hs_code": "08109000",
    "description": "Fresh dragon fruit",
    "quantity": "1200",
    "unit": "carton",
    "net_weight_kg": 15000,
    "value_usd": "21000.50",
}

PLANT_CERT: dict[str, Any] = {"kind": "plant", "certificate_number": "KDTV-2026-001234"}


def declaration(**overrides: Any) -> dict[str, Any]:
    body = copy.deepcopy(_BASE)
    for key, value in overrides.items():
        body[key] = value
    return body


def fruit_declaration(**overrides: Any) -> dict[str, Any]:
    body = declaration(goods=[copy.deepcopy(FRUIT_LINE)], quarantine=[dict(PLANT_CERT)])
    body.update(overrides)
    return body


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def iso(d: date) -> str:
    return d.isoformat()
