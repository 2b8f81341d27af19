# shellcheck shell=bash
# Shared helpers for scripts/test and scripts/demo. Source it, don't run it.
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
