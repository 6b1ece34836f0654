#!/usr/bin/env bash
# The demo: install what is missing, build and install fauna_fdw, then start a
# throwaway PostgreSQL cluster (pg_virtualenv) and the bundled Fauna emulator
# loaded with a small sample data set, and read it through a foreign table.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
make -s
make -s install >/dev/null
pg_virtualenv bash scripts/demo-session.sh
