#!/usr/bin/env bash
# test_e2e_faults.sh - the job queue under faults (issue 5), on a private stack
# of its own (script/lib/stack.sh in a temp folder, lease_seconds = 6, no
# stack worker), because it kills workers, takes WebDAV away and restarts
# MariaDB, which the shared test stack's other tests must not see:
#   1. kill -9 a worker mid-stack -> the lease expires -> another worker
#      completes the job; nothing lost (raws gone only after the stack is stored)
#   2. WebDAV down during the upload -> retries, then a retryable failure,
#      then success once it is back
#   3. MariaDB restarted under the running responder pool -> clean 503s, then
#      recovery without restarting the pool
#   4. SIGTERM while downloading -> the job is handed back (retryable) at once
# Skipped (77) when CS_TEST_URL is unset, like every integration test.
set -u
[ -n "${CS_TEST_URL:-}" ] || { echo "CS_TEST_URL is not set: no test stack, skipping"; exit 77; }

CS_ROOT=${CS_SOURCE_ROOT:?}
CS_BUILD_DIR=${CS_BUILD_ROOT:?}
export CS_ROOT CS_BUILD_DIR
# shellcheck source=script/lib/stack.sh
. "$CS_ROOT/script/lib/stack.sh"

FAILS=0
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
check() { # check "message" command...
	local msg=$1
	shift
	if "$@"; then ok "$msg"; else fail "$msg"; fi
}

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

D=$(mktemp -d /tmp/cs-faults.XXXXXX)
PORT=$(free_port)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	stack_stop "$D" >/dev/null 2>&1
	if [ "${CS_TEST_KEEP_STACK:-0}" = 1 ]; then echo "kept $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT

export CROWDSKY_LEASE_SECONDS=6 STACK_WORKERS=0
if ! stack_start "$D" "$PORT" >"$D.start.log" 2>&1; then
	# no worker is asked for; anything else failing is fatal
	stack_status "$D" | grep -v '^worker' | grep -q stopped && { cat "$D.start.log"; fail "private stack starts"; exit 1; }
fi
rm -f "$D.start.log"
stack__paths "$D"
. "$D/stack.env"
URL=http://127.0.0.1:$PORT
TOKEN=$(cat "$S_CONF/worker_token")
W=$S_WORKER_BIN
db() { stack__db_admin -N -B "$DB_NAME" -e "$1"; }
ok "private stack on 127.0.0.1:$PORT (lease_seconds 6)"

USERPW="fault tolerant pw"
echo "$USERPW" | "$S_FCGI_BIN" user create faulty faulty@example.org --config "$S_CONFIG" >/dev/null 2>&1 ||
	{ fail "user create"; exit 1; }

# upload FILE... -> prints the job id of the one chunk they make
upload() {
	local tok f
	tok=$(curl -fsS -u "faulty:$USERPW" -X POST "$URL/api/raw_upload?action=start" | jq -r .session_token)
	for f in "$@"; do
		curl -fsS -u "faulty:$USERPW" -F session_token="$tok" -F file=@"$f" "$URL/api/raw_upload?action=file" >/dev/null ||
			return 1
	done
	curl -fsS -u "faulty:$USERPW" -F session_token="$tok" -F overwrite=1 "$URL/api/raw_upload?action=finalize" |
		jq -r '.job_ids[0]'
}

# start_worker NAME [ENV=VALUE...]: a worker in the background, its log in $D/log/NAME.log
start_worker() {
	local name=$1
	shift
	mkdir -p "$D/scratch/$name"
	env CROWDSKY_SCRATCH_DIR="$D/scratch/$name" CROWDSKY_POLL_INTERVAL_SECONDS=1 CROWDSKY_POLL_MAX_SECONDS=1 "$@" \
		"$W" run --config "$S_CONFIG" >"$D/log/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# wait_for SECONDS CMD...: until CMD succeeds
wait_for() {
	local n=$(($1 * 10))
	shift
	while ((n-- > 0)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

job_state() { db "SELECT state FROM stacking_jobs WHERE id = $1"; }
is_state() { [ "$(job_state "$1")" = "$2" ]; }
stop_worker() {
	kill -TERM "$1" 2>/dev/null
	wait_for 30 bash -c "! kill -0 $1"
}

M94=("${CS_SHARED_DATA:?}"/m94-s50-2025-03-27/*.fit) # names hold spaces: an array

# ---- 1. kill -9 a worker mid-stack ------------------------------------------------
J=$(upload "${M94[@]}")
check "12 real frames -> job $J" test -n "$J"
start_worker wA
A=$LAST_PID
# the worker logs event=downloaded just before the engine starts
if wait_for 120 grep -q "job=$J .*event=downloaded" "$D/log/wA.log"; then
	kill -9 "$A"
	wait "$A" 2>/dev/null
	check "worker A killed -9 mid-stack (job still processing)" is_state "$J" processing
	LEASE_A=$(db "SELECT lease_id FROM stacking_jobs WHERE id = $J")
	check "the raws are still in the buffer" test "$(db "SELECT COUNT(*) FROM raw_files WHERE job_id = $J")" = 12
	start_worker wB
	B=$LAST_PID
	check "the lease expires and worker B completes the job" wait_for 180 is_state "$J" completed
	check "attempt 2, under a new lease" test "$(db "SELECT CONCAT(attempts, IF(lease_id <> '$LEASE_A', ' new', ' same')) FROM stacking_jobs WHERE id = $J")" = "2 new"
	check "worker B logged the claim and the completion" grep -q "job=$J .*event=completed" "$D/log/wB.log"
	check "one stack stored, raws deleted" test "$(db "SELECT CONCAT((SELECT COUNT(*) FROM stacked_frames WHERE job_id = $J), '/', (SELECT COUNT(*) FROM raw_files WHERE job_id = $J))")" = "1/0"
	P=$(db "SELECT webdav_path FROM stacked_frames WHERE job_id = $J")
	check "the FITS is on WebDAV" test -s "$D/dav/$P"
	# the dead worker's lease is stale: a late heartbeat from it changes nothing
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		-d "{\"job_id\":$J,\"lease\":\"$LEASE_A\"}" "$URL/api/heartbeat")
	check "a late heartbeat with the dead worker's lease: 409" test "$code" = 409
	stop_worker "$B"
else
	fail "worker A never started stacking job $J"
	tail -5 "$D/log/wA.log"
fi

# ---- 2. WebDAV down during the upload -----------------------------------------------
# the worker reaches WebDAV through a TCP relay that this test switches off and on
RELAY_PORT=$(free_port)
relay_on() {
	/usr/bin/python3 - "$RELAY_PORT" "$PORT" <<'EOF' &
import socket, sys, threading
lp, tp = int(sys.argv[1]), int(sys.argv[2])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", lp)); srv.listen(16)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", tp))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
EOF
	RELAY=$!
	PIDS+=("$RELAY")
	wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RELAY_PORT"
}
SIM=$D/sim
"$W" simulate --out "$SIM" --frames 4 --width 480 --height 360 --stars 250 --start 2025-05-01T22:05:00 --threads 1 \
	>/dev/null 2>&1
J2=$(upload "$SIM"/*.fit)
check "simulated chunk -> job $J2" test -n "$J2"
start_worker wC CROWDSKY_WEBDAV_URL="http://127.0.0.1:$RELAY_PORT/dav/"
C=$LAST_PID
check "WebDAV unreachable: the PUT is retried with backoff" wait_for 60 grep -q "event=webdav_retry" "$D/log/wC.log"
check "then a retryable failure hands the job back" wait_for 60 grep -q "job=$J2 .*event=failed retryable=yes state=pending" "$D/log/wC.log"
check "the job is pending again with the error shown" test "$(db "SELECT CONCAT(state, ':', last_error LIKE '%WebDAV%') FROM stacking_jobs WHERE id = $J2")" = "pending:1"
relay_on
check "WebDAV back: the job completes on its next attempt" wait_for 120 is_state "$J2" completed
check "attempts: 2" test "$(db "SELECT attempts FROM stacking_jobs WHERE id = $J2")" = 2
check "the raws were deleted only after the stack was stored" test "$(db "SELECT COUNT(*) FROM raw_files WHERE job_id = $J2")" = 0
stop_worker "$C"
kill "$RELAY" 2>/dev/null

# ---- 3. MariaDB restarted under the running responder pool ----------------------------
FCGI_PID=$(cat "$S_RUN/fcgi.pid")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/api/next_job")
check "before: next_job answers ($code)" test "$code" = 204
stack__stop_pid "$S_RUN/mysql.pid" mariadbd
# An idle poller's "nothing to do" may be answered from memory for up to
# CS_JOBS_IDLE_CACHE_SECONDS (0.2 s, jobs.h) after the last probe: allow 1 s
# of 204s, then it must be 503 + JSON.
for _ in 1 2 3 4 5 6 7 8 9 10; do
	out=$(curl -s -w ' %{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/api/next_job")
	[[ "$out" == ' 204' ]] || break
	sleep 0.1
done
check "MariaDB down: next_job fails cleanly with 503 + JSON ($out)" bash -c "[[ '$out' == *' 503' && '$out' == '{\"error\"'* ]]"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "faulty:$USERPW" "$URL/api/my_stacks")
check "MariaDB down: my_stacks 503 ($code)" test "$code" = 503
check "the responder pool is still running" kill -0 "$FCGI_PID"
stack_start_db >/dev/null 2>&1
check "MariaDB back: next_job answers again, same pool" wait_for 30 bash -c \
	"[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $TOKEN' '$URL/api/next_job')\" = 204 ]"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "faulty:$USERPW" "$URL/api/my_stacks")
check "MariaDB back: my_stacks 200 ($code)" test "$code" = 200
check "same responder pool (pid $FCGI_PID)" test "$(cat "$S_RUN/fcgi.pid")" = "$FCGI_PID"

# ---- 4. SIGTERM while downloading: handed back at once ---------------------------------
J3=$(upload "${M94[@]}")
check "12 real frames again -> job $J3" test -n "$J3"
start_worker wD CROWDSKY_LOG_LEVEL=info
DW=$LAST_PID
if wait_for 60 grep -q "job=$J3 .*event=claimed" "$D/log/wD.log"; then
	kill -TERM "$DW"
	check "SIGTERM: the worker exits" wait_for 60 bash -c "! kill -0 $DW"
	if grep -q "job=$J3 .*event=completed" "$D/log/wD.log"; then
		check "SIGTERM late in the job: it was finished" is_state "$J3" completed
	else
		check "SIGTERM early in the job: handed back (pending, retryable)" is_state "$J3" pending
		check "its log says so" grep -q "job=$J3 .*event=failed retryable=yes" "$D/log/wD.log"
	fi
	check "its scratch folder is clean" bash -c "! ls -d '$D/scratch/wD'/job-* 2>/dev/null"
else
	fail "worker D never claimed job $J3"
fi

echo "$FAILS failure(s)"
[ "$FAILS" = 0 ]
