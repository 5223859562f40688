# Sourced by scripts/run and scripts/test: make .venv hold an up-to-date install of Glare Studio.
# A stamp file in .venv records the hash of pyproject.toml it was installed from, so a second run
# with nothing changed skips pip entirely.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
# Installed on its own, first: on this project's machines the pinned version resolves to the local
# CPU build for Python 3.11 (the first Python tried below; for 3.12 and 3.13, which work as well,
# there it resolves to PyPI's CUDA build); unpinned, pip could pick a multi-gigabyte CUDA build.
TORCH_SPEC="torch==2.13.0"
# Where PyTorch publishes its CPU builds; on Linux, PyPI's torch is the CUDA build.
CPU_TORCH_INDEX="https://download.pytorch.org/whl/cpu"
MIN_PYTHON="3.11"

say() { printf 'glare-setup: %s\n' "$*" >&2; }

find_python() {
    local candidate
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c "import sys; sys.exit(sys.version_info < (${MIN_PYTHON/./, }))"; then
            command -v "$candidate"
            return
        fi
    done
    say "Python $MIN_PYTHON or newer is needed (none found on PATH)"
    exit 1
}

install_stamp() {
    echo "$(sha256sum "$ROOT/pyproject.toml" | cut -d ' ' -f 1) $TORCH_SPEC"
}

# venv_usable DIR: DIR holds a Python that can run pip. A venv whose creation failed half way
# (Debian without python3-venv) holds a Python but no pip, and is no use to build on.
venv_usable() {
    [[ -x "$1/bin/python" ]] && "$1/bin/python" -m pip --version >/dev/null 2>&1
}

# ensure_venv EXTRA: EXTRA is "test" for the test tools or "" for the app alone.
# An install with the test tools also serves the app alone.
ensure_venv() {
    local extra="$1" wanted stamp
    local accepted=("$VENV/.glare-installed-test")
    [[ -n "$extra" ]] || accepted+=("$VENV/.glare-installed-app")
    wanted="$(install_stamp)"
    for stamp in "${accepted[@]}"; do
        if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
            return
        fi
    done
    if ! venv_usable "$VENV"; then
        rm -rf "$VENV"
        say "creating $VENV"
        "$(find_python)" -m venv "$VENV" || {
            rm -rf "$VENV"
            say "could not create a virtual environment; on Debian or Ubuntu: sudo apt install python3-venv"
            exit 1
        }
    fi
    say "installing $TORCH_SPEC"
    "$VENV/bin/python" -m pip install --quiet "$TORCH_SPEC"
    say "installing Glare Studio${extra:+ with its $extra tools} (editable)"
    "$VENV/bin/python" -m pip install --quiet --editable "$ROOT${extra:+[$extra]}"
    rm -f "$VENV"/.glare-installed-*
    echo "$wanted" >"$VENV/.glare-installed-${extra:-app}"
}
