#!/bin/sh
# The libpq form of a Borderflow database URL: postgresql+psycopg://... -> postgresql://...
# (pg_dump, pg_restore and psql do not know SQLAlchemy's driver suffix; the search_path
# option, if any, is kept).
set -eu
printf '%s\n' "$1" | sed -E 's#^postgres(ql)?(\+[a-z0-9]+)?://#postgresql://#'
