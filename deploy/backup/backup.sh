#!/bin/sh
# Nightly logical backup of the Borderflow database (docs/deploy.md, "Backups").
#
#   BORDERFLOW_DATABASE_URL=postgresql+psycopg://... BORDERFLOW_BACKUP_DIR=/var/backups/borderflow \
#       deploy/backup/backup.sh
#
# Writes borderflow-<UTC time>.dump (pg_dump's custom format, compressed), a .counts file with
# the rows of the tables that must come back (the restore drill compares them) and a .sha256;
# deletes backups older than BORDERFLOW_BACKUP_KEEP_DAYS (default 14). Exits non-zero on any
# failure, leaving no partial dump behind. WAL archiving (point-in-time recovery) is set up
# in PostgreSQL itself; this file is the daily, portable copy.
set -eu

: "${BORDERFLOW_DATABASE_URL:?set BORDERFLOW_DATABASE_URL}"
dir="${BORDERFLOW_BACKUP_DIR:-/var/backups/borderflow}"
keep="${BORDERFLOW_BACKUP_KEEP_DAYS:-14}"
here="$(dirname "$0")"
url="$("$here/libpq-url.sh" "$BORDERFLOW_DATABASE_URL")"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
name="$dir/borderflow-$stamp"

mkdir -p "$dir"
trap 'rm -f "$name.dump.part" "$name.counts.part"' EXIT
# The counts are read just after the dump: on a live system they may be a few rows higher
# than the dump holds (the drill accepts fewer rows back, never more, and none missing from a
# table that had rows).
pg_dump --format=custom --compress=6 --no-owner --file="$name.dump.part" "$url"
"$here/counts.sh" "$url" > "$name.counts.part"
mv "$name.dump.part" "$name.dump"
mv "$name.counts.part" "$name.counts"
(cd "$dir" && sha256sum "borderflow-$stamp.dump" > "borderflow-$stamp.sha256")
find "$dir" -name 'borderflow-*' -type f -mtime "+$keep" -delete
echo "backup written: $name.dump ($(du -h "$name.dump" | cut -f1))"
