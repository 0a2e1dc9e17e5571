#!/bin/sh
# Restore drill: prove a backup comes back as a working Borderflow database.
#
#   BORDERFLOW_DATABASE_URL=postgresql+psycopg://... deploy/backup/restore-drill.sh DUMP [--keep]
#
# BORDERFLOW_DATABASE_URL names the server to drill on (any database there the user may
# connect to; it is only used to create and drop the scratch database). The drill:
#   1. checks the dump's SHA-256 against the .sha256 written with it;
#   2. restores it into a new database borderflow_drill_<UTC time> on that server;
#   3. upgrades the schema to this release (`borderflow db upgrade`: an old backup must
#      migrate);
#   4. verifies the audit log's hash chain (`borderflow audit verify`);
#   5. compares the rows of the key tables with the .counts written with the dump;
#   6. drops the scratch database (unless --keep) and prints DRILL PASSED, or exits non-zero
#      with DRILL FAILED and the step that failed.
# Run it monthly and after every upgrade; keep its output with the backup's records.
set -eu

dump="${1:?usage: restore-drill.sh DUMP [--keep]}"
keep="${2:-}"
here="$(dirname "$0")"
borderflow="${BORDERFLOW:-borderflow}"
: "${BORDERFLOW_DATABASE_URL:?set BORDERFLOW_DATABASE_URL to the server to drill on}"
base="${dump%.dump}"
server="$("$here/libpq-url.sh" "$BORDERFLOW_DATABASE_URL")"
scratch="borderflow_drill_$(date -u +%Y%m%d%H%M%S)_$$"
# the same server, the scratch database, no search_path option
target="$(printf '%s\n' "$server" | sed -E "s#^(postgresql://[^/]*)/[^?]*(\?.*)?\$#\1/$scratch#")"

fail() { echo "DRILL FAILED: $*" >&2; exit 1; }
cleanup() {
    if [ "$keep" != "--keep" ]; then
        psql --no-psqlrc --quiet "$server" -c "DROP DATABASE IF EXISTS \"$scratch\"" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

echo "1/5 checksum"
(cd "$(dirname "$dump")" && sha256sum --check --status "$(basename "$base").sha256") \
    || fail "the dump does not match $(basename "$base").sha256"
echo "2/5 restore into $scratch"
psql --no-psqlrc --quiet "$server" -c "CREATE DATABASE \"$scratch\"" >/dev/null \
    || fail "cannot create the scratch database"
pg_restore --no-owner --exit-on-error --dbname="$target" "$dump" || fail "pg_restore"
drill_url="$(printf '%s\n' "$target" | sed 's#^postgresql://#postgresql+psycopg://#')"
echo "3/5 schema upgrade"
BORDERFLOW_DATABASE_URL="$drill_url" "$borderflow" db upgrade || fail "borderflow db upgrade"
echo "4/5 audit chain"
BORDERFLOW_DATABASE_URL="$drill_url" "$borderflow" audit verify || fail "the audit chain is broken"
echo "5/5 rows"
"$here/counts.sh" "$target" | while read -r table restored; do
    recorded="$(awk -v t="$table" '$1 == t {print $2}' "$base.counts")"
    echo "  $table: $restored restored, $recorded recorded"
    [ -n "$recorded" ] || fail "$table is not in $(basename "$base").counts"
    [ "$restored" -le "$recorded" ] || fail "$table has more rows than recorded"
    if [ "$recorded" -gt 0 ] && [ "$restored" -eq 0 ]; then fail "$table came back empty"; fi
done
[ "$keep" = "--keep" ] && echo "kept: $drill_url"
echo "DRILL PASSED: $dump"
