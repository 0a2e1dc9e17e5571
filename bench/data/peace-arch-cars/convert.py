"""Convert the Cascade Gateway Peace Arch northbound car export into the history format.

Reads the source CSV committed in bcgov/cascade_border_data
(`data/peacearch_N_cars_20180101_2020-03-31.csv`, see README.md here) and writes
`history.csv` beside this script: `date,crossing,direction,trucks`, one row per day and series.

Usage: python convert.py SOURCE_CSV
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

CROSSING = "Peace Arch (Blaine WA - Surrey BC)"
# Northbound is entering Canada: `export` seen from the US side, as in the other
# Cascade Gateway histories.
DIRECTION = "export"
SERIES = (
    # (crossing name, source volume columns summed; empty when any of them is empty)
    (
        CROSSING,
        ("Sum - Volume (Peace Arch North Cars)", "Sum - Volume (Peace Arch North NEXUS)"),
    ),
    (f"{CROSSING} general lanes", ("Sum - Volume (Peace Arch North Cars)",)),
    (f"{CROSSING} NEXUS lanes", ("Sum - Volume (Peace Arch North NEXUS)",)),
)


def convert(source: Path, target: Path) -> int:
    with source.open(newline="") as f:
        rows = list(csv.DictReader(f))
    written = 0
    with target.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["date", "crossing", "direction", "trucks"])
        for name, columns in SERIES:
            for row in rows:
                day = row["Group Starts"][:10]
                cells = [row[c].strip() for c in columns]
                missing = any(c == "" for c in cells)
                value = "" if missing else str(sum(round(float(c)) for c in cells))
                out.writerow([day, name, DIRECTION, value])
                written += 1
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    n = convert(Path(sys.argv[1]), Path(__file__).with_name("history.csv"))
    print(f"{n} rows written")
