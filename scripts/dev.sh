#!/usr/bin/env bash
# One entry point for a fresh Debian machine with only Python:
#   bash scripts/dev.sh demo   set everything up, then run the demo (SQLite, sample survey, sample scans)
#   bash scripts/dev.sh test   set everything up, start PostgreSQL, then ruff + mypy + the whole test suite
#   bash scripts/dev.sh setup  set-up only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
APT_PACKAGES=(tesseract-ocr tesseract-ocr-vie libzbar0 poppler-utils fonts-dejavu-core chromium postgresql postgresql-client redis-server)

log() { printf '\033[1m== %s\033[0m\n' "$*"; }

install_system_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing system packages: ${missing[*]}"
  local SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment in .venv"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
      # Debian's own python3 ships venv/ensurepip separately
      rm -rf "$VENV"
      local APT_PACKAGES=(python3-venv)  # bash locals are seen by the function called
      install_system_packages
      python3 -m venv "$VENV"
    fi
  fi
  log "installing phieu and its Python dependencies"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"
  # Bytecode for our own packages now: where PYTHONDONTWRITEBYTECODE is set, every command would
  # otherwise compile them again at start (~0.15 s in each process).
  "$VENV/bin/python" -m compileall -q core formgen scanner recognition storage pipeline results review_ui phieu fieldwork >/dev/null
}

setup() {
  install_system_packages
  install_python
}

# A private PostgreSQL cluster on a free port, for the tests that need a real server.
start_postgres() {
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$bindir" ] || { echo "PostgreSQL binaries not found"; return 1; }
  PGDIR=$(mktemp -d /tmp/phieu-pg.XXXXXX)
  PGPORT=${PHIEU_PG_PORT:-55432}
  local RUN=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$PGDIR"
    RUN=(runuser -u postgres --)
  fi
  "${RUN[@]}" "$bindir/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 >/dev/null
  "${RUN[@]}" "$bindir/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
    -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  export PHIEU_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"
  trap 'stop_postgres' EXIT
  log "PostgreSQL running on port $PGPORT"
}

stop_postgres() {
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$bindir/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true
  else
    "$bindir/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PGDIR"
}

run_tests() {
  start_postgres
  log "ruff"
  "$VENV/bin/ruff" check .
  log "mypy"
  "$VENV/bin/mypy"
  log "pytest"
  "$VENV/bin/python" -m pytest "$@"
}

cmd=${1:-}
shift || true
case "$cmd" in
  setup) setup ;;
  demo) setup; exec "$VENV/bin/phieu" demo "$@" ;;
  test) setup; run_tests "$@" ;;
  *) echo "usage: bash scripts/dev.sh demo|test|setup"; exit 2 ;;
esac
