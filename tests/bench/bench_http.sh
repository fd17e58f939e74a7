#!/usr/bin/env bash
# bench_http.sh - HTTP throughput of CrowdSky through nginx on loopback, with
# wrk (Debian's), compared with the original PHP design's figures measured on
# this machine (issue 4: nginx + php-fpm 8.2, 4 children, MariaDB 10.11, wrk 2
# threads, 64 connections).
#
#   tests/bench/bench_http.sh [--duration SECONDS] [--out FILE]
#
# Target stack: the one described by CS_TEST_URL + CS_TEST_WORKER_TOKEN (e.g.
# `eval "$(source script/lib/stack.sh; stack_test_env DIR)"`), else a private
# stack this script starts with script/lib/stack.sh in a temp folder (no
# worker, so the queue stays empty) and stops at the end. Build dir:
# CS_BUILD_DIR (default build/). Bounded in time: 5 wrk runs of --duration
# seconds (default 10) plus two upload rounds.
#
# Routes: GET /api/next_job on an empty queue (Bearer), GET /api/job_files of
# a claimed 15-file job (Bearer), GET /login (the log-in page), GET
# /static/style.css (a static file), and uploads of the 12 real M 94 frames by
# 4 parallel uploaders of one user (tests/bench/upload_bench.py, script API).
# Prints a table (markdown) and writes it to --out (default
# $CS_BUILD_DIR/bench/http.md).
set -euo pipefail

CS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CS_ROOT
CS_BUILD_DIR=${CS_BUILD_DIR:-$CS_ROOT/build}
export CS_BUILD_DIR
DURATION=10
OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--duration) DURATION=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "bench_http.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
OUT=${OUT:-$CS_BUILD_DIR/bench/http.md}
mkdir -p "$(dirname "$OUT")"
command -v wrk >/dev/null || { echo "bench_http.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench_http.sh: jq is not installed" >&2; exit 1; }

log() { printf 'bench_http: %s\n' "$*" >&2; }
WORK=$(mktemp -d /tmp/cs-bench-http.XXXXXX)
OWN_STACK=
cleanup() {
	if [ -n "$OWN_STACK" ]; then
		log "stopping the private stack"
		(source "$CS_ROOT/script/lib/stack.sh"; stack_stop "$OWN_STACK") >/dev/null 2>&1 || true
		rm -rf "$OWN_STACK"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${CS_TEST_URL:-}" ] || [ -z "${CS_TEST_WORKER_TOKEN:-}" ]; then
	port=18600
	while (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
	OWN_STACK=$(mktemp -d /tmp/cs-bench-stack.XXXXXX)
	log "starting a private stack in $OWN_STACK on port $port (build: $CS_BUILD_DIR)"
	(
		source "$CS_ROOT/script/lib/stack.sh"
		STACK_WORKERS=0 stack_start "$OWN_STACK" "$port"
	) >"$WORK/stack.log" 2>&1 || { cat "$WORK/stack.log" >&2; exit 1; }
	eval "$(source "$CS_ROOT/script/lib/stack.sh"; stack_test_env "$OWN_STACK")"
fi
URL=${CS_TEST_URL%/}
TOKEN=$CS_TEST_WORKER_TOKEN
log "target $URL"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- set-up: a user with a claimed 15-file job --------------------------------
USER_NAME=bench$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
PASSWORD=bench-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
CJ=$WORK/cookies
csrf=$(curl -fsS -c "$CJ" -H 'Accept: application/json' --data-urlencode "username=$USER_NAME" \
	--data-urlencode "email=$USER_NAME@example.org" --data-urlencode "password=$PASSWORD" "$URL/signup" | jq -r .csrf_token)

# the queue must be empty for the next_job figure: say so if it is not
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/api/next_job")
if [ "$code" != 204 ]; then
	log "warning: next_job answered $code, not 204: the queue was not empty (a job was claimed)"
fi
# next_job on the empty queue, before the 15-file job exists
wrk_run() { # NAME PATH [header]
	local name=$1 path=$2 hdr=${3:-}
	log "wrk $name: $path (${DURATION}s, 2 threads, 64 connections)"
	if [ -n "$hdr" ]; then
		wrk -t2 -c64 -d"${DURATION}s" --latency -H "$hdr" "$URL$path" >"$WORK/$name.txt"
	else
		wrk -t2 -c64 -d"${DURATION}s" --latency "$URL$path" >"$WORK/$name.txt"
	fi
}
wrk_run next_job /api/next_job "Authorization: Bearer $TOKEN"

WORKER_BIN=${CS_WORKER:-$CS_BUILD_DIR/worker/crowdsky-worker}
"$WORKER_BIN" simulate --out "$WORK/frames" --frames 15 --width 256 --height 192 --threads 1 >/dev/null 2>&1
tok=$(curl -fsS -b "$CJ" -H "X-CSRF-Token: $csrf" -d action=start "$URL/upload" | jq -r .session_token)
for f in "$WORK"/frames/*.fit; do
	curl -fsS -o /dev/null -b "$CJ" -H "X-CSRF-Token: $csrf" -F action=file -F "session_token=$tok" \
		-F "file=@$f" "$URL/upload"
done
job=$(curl -fsS -b "$CJ" -H "X-CSRF-Token: $csrf" -d "session_token=$tok" "$URL/finalize" | jq -r '.jobs[0].job_id')
claimed=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$URL/api/next_job" | jq -r .job_id)
[ "$claimed" = "$job" ] || log "warning: claimed job $claimed, expected $job"
nfiles=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$URL/api/job_files?job_id=$claimed" | jq '.files | length')
log "job $claimed holds $nfiles files"
wrk_run job_files "/api/job_files?job_id=$claimed" "Authorization: Bearer $TOKEN"
# hand the job back so a worker of a shared stack is not left waiting for its lease
curl -s -o /dev/null -b "$CJ" -H "X-CSRF-Token: $csrf" -d "id=$job" "$URL/api/jobs/delete" || true

wrk_run login_page /login
wrk_run static /static/style.css

# ---- uploads: the 12 real frames, 4 parallel uploaders of one user ------------
log "uploads: 12 real frames x 4 parallel uploaders x 2 rounds (upload_bench.py)"
/usr/bin/python3 "$CS_ROOT/tests/bench/upload_bench.py" "$URL" "$USER_NAME" "$PASSWORD" 4 2 >"$WORK/upload4.txt" 2>&1 ||
	{ cat "$WORK/upload4.txt" >&2; exit 1; }
log "uploads: the same, 1 uploader (is one user's upload parallel?)"
/usr/bin/python3 "$CS_ROOT/tests/bench/upload_bench.py" "$URL" "$USER_NAME" "$PASSWORD" 1 2 >"$WORK/upload1.txt" 2>&1 ||
	{ cat "$WORK/upload1.txt" >&2; exit 1; }

# ---- the table ----------------------------------------------------------------
rps() { awk '/^Requests\/sec:/ {print $2}' "$WORK/$1.txt"; }
p99() { awk '$1 == "99%" {print $2}' "$WORK/$1.txt"; }
non2xx() { awk '/Non-2xx or 3xx responses:/ {print $5}' "$WORK/$1.txt"; }
mbs() { sed -n 's/.*: \([0-9.]*\) MB\/s.*/\1/p' "$WORK/$1.txt"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
{
	# "vs static": each route's rate as a share of the static file's rate on the
	# same run, over the same share for PHP (88,098 req/s static). nginx serving
	# a file involves no CrowdSky code, so this corrects for a loaded machine.
	st=$(rps static)
	printf '| route | CrowdSky | p99 | original PHP | ratio | ratio vs static | target |\n'
	printf '|---|---:|---:|---:|---:|---:|---:|\n'
	for row in "next_job:GET /api/next_job (empty queue):3031" "job_files:GET /api/job_files (15 files):3472" \
		"login_page:GET /login (page):6079" "static:GET /static/style.css:88098"; do
		IFS=: read -r name label php <<<"$row"
		r=$(rps "$name")
		bad=$(non2xx "$name")
		norm=$(awk -v r="$r" -v s="$st" -v p="$php" 'BEGIN { if (s > 0 && p > 0) printf "%.1fx", (r / s) / (p / 88098); else print "-" }')
		printf '| %s | %s req/s%s | %s | %s req/s | %s | %s | 5x |\n' "$label" "$(printf '%.0f' "$r")" \
			"${bad:+ ($bad non-2xx)}" "$(p99 "$name")" "$php" "$(ratio "$r" "$php")" "$norm"
	done
	u4=$(mbs upload4)
	u1=$(mbs upload1)
	printf '| POST uploads, 12 real frames, 4 parallel | %s MB/s | - | 355 MB/s | %s | - | 1.5x |\n' "$u4" "$(ratio "$u4" 355)"
	printf '| POST uploads, 12 real frames, 1 at a time | %s MB/s | - | - | 4 vs 1: %s | - | - |\n' "$u1" "$(ratio "$u4" "$u1")"
	printf '\n%s, %s CPUs, load average before %s, after %s; wrk -t2 -c64 -d%ss.\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" \
		"$(nproc)" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" "$DURATION"
} >"$OUT"
cat "$OUT"
log "raw wrk output: see the commands above; table written to $OUT"
