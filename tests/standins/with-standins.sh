#!/usr/bin/env bash
# Run a command with the AWS stand-ins up, then stop them, keeping the command's exit status.
#
#   bash tests/standins/with-standins.sh go test -count=1 ./...
#
# Installs the stand-ins when needed (fast no-op when already installed), starts them
# (tests/standins/standins.sh up), exports HERALD_TEST_* from the env file and runs the
# command. The stand-ins are stopped on exit, on failure and on Ctrl-C.
#
# When stand-ins from another run are already up in the default run dir (another
# `make test` in the same checkout), this run uses a private run dir and free ports
# instead of sharing or stopping them.
set -euo pipefail

[[ $# -gt 0 ]] || {
	echo "usage: bash tests/standins/with-standins.sh <command> [args...]" >&2
	exit 2
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STANDINS="$HERE/standins.sh"

if [[ -z "${HERALD_STANDINS_RUN_DIR:-}" ]]; then
	mkdir -p "$HERE/.run"
	# Hold a lock on the default run dir for this run's lifetime; a second concurrent
	# run (or stand-ins started by hand with `standins.sh up`) gets a private run dir.
	exec 9>"$HERE/.run/.lock"
	if ! { command -v flock >/dev/null && flock -n 9; } || bash "$STANDINS" status; then
		export HERALD_STANDINS_RUN_DIR="$HERE/.run/run-$$"
	fi
fi
RUN_DIR="${HERALD_STANDINS_RUN_DIR:-$HERE/.run}"

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	bash "$STANDINS" down || true
	if [[ "$rc" == 0 && "$RUN_DIR" == "$HERE/.run/run-$$" ]]; then
		rm -rf "$RUN_DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 9>&-: the lock stays with this script, not with the stand-ins or the command.
bash "$STANDINS" install 9>&-
bash "$STANDINS" up 9>&-
# shellcheck disable=SC1091
source "$RUN_DIR/env"

set +e
"$@" 9>&-
rc=$?
set -e
exit "$rc"
