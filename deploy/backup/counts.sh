#!/bin/sh
# Rows of the tables a restore must bring back, one "table count" per line, sorted.
set -eu
psql --no-psqlrc --quiet --tuples-only --no-align --field-separator=' ' "$1" <<'SQL'
SELECT 'accounts', count(*) FROM accounts
UNION ALL SELECT 'audit_log', count(*) FROM audit_log
UNION ALL SELECT 'declarations', count(*) FROM declarations
UNION ALL SELECT 'invoices', count(*) FROM invoices
UNION ALL SELECT 'payments', count(*) FROM payments
UNION ALL SELECT 'trip_events', count(*) FROM trip_events
UNION ALL SELECT 'trips', count(*) FROM trips
ORDER BY 1;
SQL
