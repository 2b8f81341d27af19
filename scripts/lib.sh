# shellcheck shell=bash
# Shared helpers for scripts/test, scripts/bench and scripts/demo. Source it, don't run it.
#
# After sourcing, REPO_ROOT is the absolute path of the repository and the
# current directory is REPO_ROOT, so callers work from any cwd.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT" || exit 1

VENV_DIR="$REPO_ROOT/.venv"

# ---------------------------------------------------------------- logging ---

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# -------------------------------------------------------------------- apt ---

# CI runs with no stdin: never let apt or dpkg ask anything.
export DEBIAN_FRONTEND=noninteractive

_APT_UPDATED=0

# Refresh the package lists at most once per run. A failure is not fatal:
# the cached lists may still be good enough for the install that follows.
apt_update_once() {
    ((_APT_UPDATED)) && return 0
    _APT_UPDATED=1
    log "apt-get update"
    timeout 300 apt-get -qq -o DPkg::Lock::Timeout=120 update >/dev/null ||
        warn "apt-get update failed (continuing with cached package lists)"
}

# apt_install PKG... — root only; returns non-zero instead of exiting so the
# caller can decide whether a missing package is fatal.
apt_install() {
    is_root || return 1
    command -v apt-get >/dev/null || return 1
    apt_update_once
    log "apt-get install $*"
    timeout 1200 apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=120 "$@" >/dev/null
}

# ------------------------------------------------------------------- venv ---

# Print the path of a Python 3.11–3.13 interpreter (pyproject's
# requires-python), preferring 3.11, which is what we deploy on.
find_python() {
    local candidate
    for candidate in python3.11 python3 python3.12 python3.13; do
        command -v "$candidate" >/dev/null || continue
        if "$candidate" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 14)))' \
            2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

_create_venv() {
    local python
    if ! python="$(find_python)"; then
        # A bare Debian 12 image may lack python3 entirely; its python3 is 3.11.
        apt_install python3 python3-venv || die "no Python 3.11+ found (install python3.11)"
        python="$(find_python)" || die "no Python 3.11+ found (install python3.11)"
    fi
    log "creating $VENV_DIR with $python ($("$python" --version 2>&1))"
    if ! "$python" -m venv "$VENV_DIR"; then
        # Debian splits ensurepip out of the interpreter into python3-venv.
        rm -rf "$VENV_DIR"
        apt_install python3-venv || die "'$python -m venv' failed; install python3-venv"
        "$python" -m venv "$VENV_DIR" || die "'$python -m venv' failed"
    fi
}

# ensure_venv [EXTRAS] — create .venv if needed and `pip install -e .[EXTRAS]`,
# skipping pip when pyproject.toml is unchanged since the last successful
# install with the same extras (the stamp stores its sha256). Puts the venv on
# PATH so plain `pytest`, `ruff`, `govhall`, `gunicorn` resolve to it.
ensure_venv() {
    local extras="${1:-}"
    local spec=".${extras:+[$extras]}"
    local stamp="$VENV_DIR/.govhall-install-${extras:-base}.sha256"
    local want

    # A venv whose interpreter vanished (e.g. a pyenv version was removed)
    # is useless; rebuild it rather than failing with a confusing error.
    if [[ -d $VENV_DIR ]] && ! "$VENV_DIR/bin/python" -c '' 2>/dev/null; then
        warn "$VENV_DIR is broken; recreating it"
        rm -rf "$VENV_DIR"
    fi
    [[ -x $VENV_DIR/bin/python ]] || _create_venv

    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
        log "pip install -e '$spec'"
        "$VENV_DIR/bin/python" -m pip install -q --disable-pip-version-check -e "$spec"
        printf '%s\n' "$want" >"$stamp"
    fi

    export VIRTUAL_ENV="$VENV_DIR"
    export PATH="$VENV_DIR/bin:$PATH"
}

# Print a TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).
free_port() {
    python3 - <<'EOF'
import socket

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
EOF
}

# ------------------------------------------------------------- postgresql ---

# A throwaway PostgreSQL server for scripts/test and scripts/bench: initdb into a temp folder as an
# unprivileged OS user (PostgreSQL refuses to run as root), start it on 127.0.0.1:<free port>,
# create PG_ROLE and PG_DB. Callers set PG_BINDIR, PG_DB (and may set PG_OS_USER, PG_ROLE) and
# install `trap cleanup_pg EXIT` so the server stops on every way out.

PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
PG_OS_USER="${PG_OS_USER:-govhall-pg}" # PostgreSQL refuses to run as root
PG_ROLE="${PG_ROLE:-govhall}"
PG_DB="${PG_DB:-govhall}"

PG_TMP=""  # throwaway dir: data/, unix socket, server log; deleted on exit
PG_PORT=""
PG_SKIP_REASON=""

# Run a command as the PostgreSQL OS user (or as ourselves when not root).
# Runs from PG_TMP because the server user may not be able to read our cwd.
as_pg() {
    (
        cd "$PG_TMP" || exit 1
        if ! is_root; then
            "$@"
        elif command -v runuser >/dev/null; then
            runuser -u "$PG_OS_USER" -- "$@"
        elif command -v setpriv >/dev/null; then
            setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups -- "$@"
        else
            su -s /bin/bash "$PG_OS_USER" -c "$(printf '%q ' "$@")"
        fi
    )
}

# Make sure initdb/pg_ctl exist, installing postgresql-15 if we may.
find_pg_binaries() {
    [[ -x $PG_BINDIR/initdb && -x $PG_BINDIR/pg_ctl ]] && return 0

    if [[ $PG_BINDIR != /usr/lib/postgresql/15/bin ]]; then
        PG_SKIP_REASON="no initdb/pg_ctl in $PG_BINDIR"
        return 1
    fi
    if ! is_root; then
        PG_SKIP_REASON="no PostgreSQL 15 in $PG_BINDIR and not root to apt-get install postgresql-15"
        return 1
    fi
    # Debian's postinst would otherwise create and start a "main" cluster on
    # port 5432 that nobody asked for; createcluster.conf includes this dir.
    mkdir -p /etc/postgresql-common/createcluster.d
    printf 'create_main_cluster = false\n' \
        >/etc/postgresql-common/createcluster.d/govhall-no-main-cluster.conf
    if ! apt_install postgresql-15; then
        PG_SKIP_REASON="apt-get install postgresql-15 failed"
        return 1
    fi
    [[ -x $PG_BINDIR/initdb && -x $PG_BINDIR/pg_ctl ]] && return 0
    PG_SKIP_REASON="postgresql-15 installed but no initdb/pg_ctl in $PG_BINDIR"
    return 1
}

ensure_pg_os_user() {
    is_root || return 0
    id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
    log "creating system user $PG_OS_USER"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$PG_OS_USER"
}

# C.UTF-8 keeps non-ASCII text (Chinese names, addresses) behaving like
# production; fall back to the plain C locale where it doesn't exist.
initdb_locale_args() {
    if command -v locale >/dev/null && locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
        echo "--locale=C.UTF-8"
    else
        echo "--no-locale"
    fi
}

# Stop our server (if any) and delete its directory. Safe to call twice;
# callers install it as the EXIT trap so it also runs on failure and Ctrl-C.
cleanup_pg() {
    [[ -n $PG_TMP && -d $PG_TMP ]] || return 0
    local pidfile="$PG_TMP/data/postmaster.pid" pid
    if [[ -f $pidfile ]]; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$PG_TMP/data" -m fast -w -t 30 -s stop >/dev/null 2>&1 || true
        # pg_ctl failed to stop it: kill our postmaster by its recorded pid.
        if [[ -f $pidfile ]]; then
            pid="$(head -n1 "$pidfile")"
            if [[ $pid =~ ^[0-9]+$ ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
            sleep 1
        fi
    fi
    rm -rf "$PG_TMP"
    PG_TMP=""
}

# shellcheck disable=SC2034 # PG_SKIP_REASON is read by the caller
# Start a throwaway server on 127.0.0.1:<free port> + a unix socket in
# PG_TMP, then create the test role and database.
start_pg() {
    local data attempt locale_arg opts
    # /tmp explicitly (not $TMPDIR): the server user must be able to reach
    # it, and the unix socket path must stay under ~100 characters.
    PG_TMP="$(mktemp -d /tmp/govhall-pg.XXXXXX)"
    data="$PG_TMP/data"
    is_root && chown "$PG_OS_USER:" "$PG_TMP"

    locale_arg="$(initdb_locale_args)"
    log "initdb $data"
    if ! as_pg "$PG_BINDIR/initdb" -D "$data" -U postgres --auth=trust -E UTF8 "$locale_arg" \
        >"$PG_TMP/initdb.log" 2>&1; then
        tail -n 20 "$PG_TMP/initdb.log" >&2
        PG_SKIP_REASON="initdb failed"
        return 1
    fi

    # The free port can be grabbed by someone else before the server binds
    # it, so retry with a new one a few times.
    for attempt in 1 2 3; do
        PG_PORT="$(free_port)"
        log "starting PostgreSQL on 127.0.0.1:$PG_PORT (attempt $attempt)"
        # pg_ctl hands -o to /bin/sh: keep it on one line (PG_TMP has no spaces).
        # Durability is pointless for a throwaway test server: turn it off.
        opts="-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_TMP"
        opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        if as_pg "$PG_BINDIR/pg_ctl" -D "$data" -l "$PG_TMP/postgres.log" -w -t 60 -s start -o "$opts"; then
            break
        fi
        as_pg "$PG_BINDIR/pg_ctl" -D "$data" -m immediate -w -s stop >/dev/null 2>&1 || true
        PG_PORT=""
    done
    if [[ -z $PG_PORT ]]; then
        tail -n 20 "$PG_TMP/postgres.log" >&2 || true
        PG_SKIP_REASON="pg_ctl start failed (see log above)"
        return 1
    fi

    # A superuser is fine for tests; it can create extra databases too.
    if ! "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
        -c "CREATE ROLE $PG_ROLE LOGIN SUPERUSER" \
        -c "CREATE DATABASE $PG_DB OWNER $PG_ROLE" >/dev/null; then
        PG_SKIP_REASON="could not create role/database"
        return 1
    fi
}
