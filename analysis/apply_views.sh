#!/bin/sh
# apply_views.sh DB: (re)create the views of analysis/views.sql in DB, for the scripts that read them
# (figures.sh, report.sh). With elms built, `elms db views` does it and first migrates an older database to the
# current schema version; without it, the file is applied as it is (a database at the current version).
set -eu
cd "$(dirname "$0")/.."
if [ -x "${ELMS:-bin/elms}" ]; then
    "${ELMS:-bin/elms}" db views "$1" >/dev/null
else
    sqlite3 -batch "$1" < analysis/views.sql
fi
