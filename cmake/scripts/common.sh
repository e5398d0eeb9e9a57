# cmake/scripts/common.sh - shared by demo.sh and test.sh (sourced, not run).
#
# plm_ensure_packages PKG...: makes sure the Debian packages are installed.
# As root it runs apt-get itself; otherwise it prints the exact command and
# exits non-zero, so nothing happens behind the user's back. On systems
# without dpkg it only prints what is needed and carries on (the CMake
# configure step reports anything still missing).

plm_root_dir() { cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd; }

# Each argument is a Debian package, optionally "package=command": a package
# with a command counts as present when the command is on PATH (e.g. node and
# npm installed from NodeSource rather than from Debian).
plm_missing_packages() {
  local spec pkg cmd
  for spec in "$@"; do
    pkg=${spec%%=*}
    cmd=""
    [ "$spec" != "$pkg" ] && cmd=${spec#*=}
    if [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1; then
      continue
    fi
    dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q "install ok installed" || printf '%s\n' "$pkg"
  done
}

plm_ensure_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "note: no dpkg here; plm needs the equivalents of: ${*%%=*}" >&2
    return 0
  fi
  local missing
  missing=$(plm_missing_packages "$@" | tr '\n' ' ')
  missing=${missing% }
  if [ -z "$missing" ]; then
    return 0
  fi
  if [ "$(id -u)" -eq 0 ]; then
    echo "== installing: $missing"
    apt-get update
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
  else
    echo "missing Debian packages: $missing" >&2
    echo "install them as root, then run this script again:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends $missing" >&2
    exit 1
  fi
}

# Packages every build of plm needs (compiler, build tool, header-only deps,
# test and benchmark frameworks).
PLM_BASE_PACKAGES="cmake=cmake g++=g++ make=make pkg-config=pkg-config libxsimd-dev libeigen3-dev doctest-dev libbenchmark-dev"

plm_jobs() { nproc 2>/dev/null || echo 2; }
