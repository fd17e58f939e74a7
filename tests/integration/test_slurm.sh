#!/bin/bash
# test_slurm.sh - scale-out on Slurm (suite slurm): a one-node Slurm cluster
# in a temp folder (its own munged socket, ports, spool and state), the job
# array of conf/slurm/crowdsky-worker.sbatch submitted against the test stack,
# and checks that
#   - every pending job (4 chunks of simulated frames uploaded through the
#     script API and finalized) is stacked by a Slurm task (the jobs' holder is
#     the array's worker token; the stacks are on WebDAV);
#   - each task ran with its scratch on node-local disk and removed it;
#   - the tasks exit by themselves (exit 0) once the queue is empty;
#   - the cluster is torn down (trap), whatever happens.
# Uses Debian's slurmctld, slurmd, munge, slurm-client (script/packages.txt);
# installs nothing. Needs root (SlurmUser=root). Exit 77 without a stack.
set -u

if [ -z "${CS_TEST_URL:-}" ]; then
	echo "CS_TEST_URL is not set: no test stack, skipping"
	exit 77
fi
fails=0
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { # check "message" command...
	local msg=$1
	shift
	if "$@"; then ok "$msg"; else fail "$msg"; fi
}
die() {
	echo "FAIL - $*"
	exit 1
}

for p in slurmctld slurmd sbatch squeue scontrol munged curl jq mariadb; do
	command -v "$p" >/dev/null || die "'$p' is missing (apt-get install slurmctld slurmd slurm-client munge curl jq)"
done
[ "$(id -u)" = 0 ] || die "the one-node cluster runs as root (SlurmUser=root); run the test as root"
[ -x "${CS_WORKER:-}" ] || die "CS_WORKER is not set or not executable"
[ -x "${CS_FCGI:-}" ] || die "CS_FCGI is not set or not executable"
SRC=${CS_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
SBATCH_FILE=$SRC/conf/slurm/crowdsky-worker.sbatch
[ -r "$SBATCH_FILE" ] || die "no $SBATCH_FILE"

T=$(mktemp -d /tmp/cs-slurm-XXXXXX)
chmod 700 "$T"
export SLURM_CONF=$T/slurm.conf
STOPPED_WORKERS=()
ARRAY_ID=

teardown() {
	[ -n "$ARRAY_ID" ] && scancel "$ARRAY_ID" >/dev/null 2>&1
	for f in "$T"/run/slurmd.pid "$T"/run/slurmctld.pid "$T"/run/munged.pid; do
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	done
	[ -n "${tname:-}" ] && "$CS_FCGI" token revoke "$tname" --config "$CS_TEST_CONF" >/dev/null 2>&1
	# the stack's own workers were paused so that only Slurm tasks take jobs
	for pid in "${STOPPED_WORKERS[@]}"; do kill -CONT "$pid" 2>/dev/null; done
	if [ "${KEEP_SLURM_TMP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap teardown EXIT
trap 'exit 1' TERM INT HUP

free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		ss -ltn 2>/dev/null | awk '{print $4}' | grep -q ":$p\$" || { echo "$p"; return; }
	done
}

# ---- the cluster ----
mkdir -p "$T"/{munge,run,log,spool,state,logs}
chmod 700 "$T/munge"
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge/munge.key"
munged --force --key-file="$T/munge/munge.key" --socket="$T/munge/munge.sock" \
	--pid-file="$T/run/munged.pid" --log-file="$T/log/munged.log" --seed-file="$T/munge/seed" ||
	die "munged did not start: $(tail -3 "$T/log/munged.log" 2>/dev/null)"

host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
ctld_port=$(free_port)
slurmd_port=$(free_port)
[ "$ctld_port" != "$slurmd_port" ] || slurmd_port=$((ctld_port + 1))
cat >"$SLURM_CONF" <<EOF
ClusterName=cstest
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/run/slurmctld.pid
SlurmdPidFile=$T/run/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
InactiveLimit=0
KillWait=5
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=cstest Nodes=$host Default=YES MaxTime=60 State=UP
EOF
slurmctld -f "$SLURM_CONF" -c || die "slurmctld did not start: $(tail -5 "$T/log/slurmctld.log")"
slurmd -f "$SLURM_CONF" || die "slurmd did not start: $(tail -5 "$T/log/slurmd.log")"
up=0
for _ in $(seq 150); do
	state=$(sinfo -h -N -o '%t' 2>/dev/null | head -1)
	case $state in idle | mix | alloc) up=1; break ;; esac
	sleep 0.2
done
[ $up = 1 ] || die "the node did not come up (state '$state'): $(tail -5 "$T/log/slurmd.log")"
ok "one-node cluster up: $host, $cpus CPUs, ports $ctld_port/$slurmd_port"

# ---- the stack: pause its workers, a worker token for the array ----
if [ -n "${CS_TEST_STACK:-}" ]; then
	for f in "$CS_TEST_STACK"/run/worker-*.pid; do
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q crowdsky-worker; then
			kill -STOP "$pid" && STOPPED_WORKERS+=("$pid")
		fi
	done
fi
tname=slurm-$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
wtok=$("$CS_FCGI" token create "$tname" --config "$CS_TEST_CONF" 2>"$T/log/token.err" | awk '{print $NF}')
[[ $wtok == cswt_* ]] || die "token create failed: $(cat "$T/log/token.err")"
conf_get() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$CS_TEST_CONF" | tail -1; }
cat >"$T/worker.conf" <<EOF
api_url = $CS_TEST_URL
worker_token = $wtok
webdav_url = $(conf_get webdav_url)
webdav_user = $(conf_get webdav_user)
webdav_password = $(conf_get webdav_password)
poll_interval_seconds = 1
poll_max_seconds = 2
log_level = info
EOF
chmod 600 "$T/worker.conf"

sqlq() {
	mariadb --no-defaults -N -B --socket="$CS_TEST_DB_SOCKET" -u "${CS_TEST_DB_USER:-crowdsky}" \
		"$CS_TEST_DB_NAME" -e "$1"
}
export MYSQL_PWD=${CS_TEST_DB_PASSWORD:-$(conf_get db_password)}

# ---- pending jobs: 4 chunks of simulated frames through the script API ----
user=slurm$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
pw=pw-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
code=$(curl -s -o "$T/signup.json" -w '%{http_code}' --data-urlencode "username=$user" \
	--data-urlencode "email=$user@example.org" --data-urlencode "password=$pw" "$CS_TEST_URL/signup")
[ "$code" = 201 ] || die "sign up: HTTP $code $(cat "$T/signup.json")"
i=0
for ra in 10 60 120 200; do
	i=$((i + 1))
	"$CS_WORKER" simulate --out "$T/sim$i" --frames 4 --seed $i --width 256 --height 192 --threads 1 \
		--ra $ra --dec 30 --start 2025-01-10T20:0$i:00 >/dev/null 2>"$T/log/sim.err" ||
		die "simulate failed: $(tail -2 "$T/log/sim.err")"
done
tok=$(curl -s -u "$user:$pw" -X POST "$CS_TEST_URL/api/raw_upload?action=start" | jq -r .session_token)
[ ${#tok} = 64 ] || die "no upload session"
n=0
for f in "$T"/sim*/*.fit; do
	code=$(curl -s -o "$T/up.json" -w '%{http_code}' -u "$user:$pw" -F "session_token=$tok" \
		-F "file=@$f;filename=$(basename "$(dirname "$f")")-$(basename "$f")" \
		"$CS_TEST_URL/api/raw_upload?action=file")
	[ "$code" = 200 ] && n=$((n + 1))
done
check "16 simulated frames uploaded ($n)" [ "$n" = 16 ]
curl -s -u "$user:$pw" -d "session_token=$tok" "$CS_TEST_URL/api/raw_upload?action=finalize" >"$T/fin.json"
jobs=$(jq -r '.job_ids | join(",")' "$T/fin.json")
check "finalize makes 4 pending jobs ($jobs)" [ "$(jq '.jobs' "$T/fin.json")" = 4 ]
[ -n "$jobs" ] || die "no jobs: $(cat "$T/fin.json")"
pending_before=$(sqlq "SELECT COUNT(*) FROM stacking_jobs WHERE state = 'pending'")

# ---- the array ----
t0=$(date +%s)
mkdir -p "$T/node-local"
ARRAY_ID=$(cd "$T" && CROWDSKY_CONFIG=$T/worker.conf CROWDSKY_WORKER=$CS_WORKER CROWDSKY_MAX_JOBS=3 \
	CROWDSKY_IDLE_EXIT=8 TMPDIR=$T/node-local sbatch --parsable --array=0-2 --cpus-per-task=1 --mem=256M \
	--time=10 --output="$T/logs/task-%A_%a.log" "$SBATCH_FILE" 2>"$T/log/sbatch.err")
[[ $ARRAY_ID =~ ^[0-9]+$ ]] || die "sbatch failed: $(cat "$T/log/sbatch.err")"
ok "submitted array job $ARRAY_ID (3 tasks, --max-jobs 3, --idle-exit 8)"

done_jobs=0
for _ in $(seq 300); do
	done_jobs=$(sqlq "SELECT COUNT(*) FROM stacking_jobs WHERE id IN ($jobs) AND state IN ('completed', 'failed')")
	[ "$done_jobs" = 4 ] && break
	sleep 1
done
t1=$(date +%s)
check "the 4 jobs finished within $((t1 - t0)) s" [ "$done_jobs" = 4 ]
check "all 4 completed" [ "$(sqlq "SELECT COUNT(*) FROM stacking_jobs WHERE id IN ($jobs) AND state = 'completed'")" = 4 ]
check "all 4 were held by the array's token ($tname)" \
	[ "$(sqlq "SELECT COUNT(*) FROM stacking_jobs WHERE id IN ($jobs) AND holder = '$tname'")" = 4 ]

# the stacks are on WebDAV
nstacks=0
while read -r path; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -I -u "$(conf_get webdav_user):$(conf_get webdav_password)" \
		"$(conf_get webdav_url | sed 's,/*$,,')/$path")
	[ "$code" = 200 ] && nstacks=$((nstacks + 1))
done < <(sqlq "SELECT webdav_path FROM stacked_frames WHERE job_id IN ($jobs)")
check "4 stacks stored on WebDAV ($nstacks)" [ "$nstacks" = 4 ]

# the tasks leave by themselves once the queue is empty
gone=0
for _ in $(seq 120); do
	if [ -z "$(squeue -h -j "$ARRAY_ID" 2>/dev/null)" ]; then gone=1; break; fi
	sleep 0.5
done
t2=$(date +%s)
check "every task left the queue by itself ($((t2 - t1)) s after the last job)" [ $gone = 1 ]
states=$(scontrol show job "$ARRAY_ID" 2>/dev/null | grep -o 'JobState=[A-Z]* .*\|ExitCode=[0-9:]*' | tr '\n' ' ')
ntasks_ok=$(scontrol -o show job "$ARRAY_ID" 2>/dev/null | grep -c 'JobState=COMPLETED .*ExitCode=0:0')
check "3 tasks COMPLETED with exit code 0 ($ntasks_ok)" [ "$ntasks_ok" = 3 ]
total=0
idle=0
scratch_ok=0
for f in "$T"/logs/task-"$ARRAY_ID"_*.log; do
	[ -f "$f" ] || continue
	j=$(sed -n 's/.*event=stop jobs=\([0-9]*\).*/\1/p' "$f" | tail -1)
	total=$((total + ${j:-0}))
	# a task ends when the queue stayed empty for --idle-exit, or after --max-jobs
	if grep -q 'event=idle_exit' "$f" || [ "${j:-0}" = 3 ]; then idle=$((idle + 1)); fi
	sdir=$(sed -n 's/.*scratch \([^,]*\),.*/\1/p' "$f" | head -1)
	[[ $sdir == "$T/node-local/crowdsky-$ARRAY_ID-"* ]] && [ ! -e "$sdir" ] && scratch_ok=$((scratch_ok + 1))
done
check "the tasks' logs add up to the 4 jobs ($total)" [ "$total" -ge 4 ]
check "every task ended by itself: --idle-exit or --max-jobs ($idle of 3)" [ "$idle" = 3 ]
check "every task used node-local scratch (\$TMPDIR) and removed it ($scratch_ok of 3)" [ "$scratch_ok" = 3 ]
# (the tasks' idle exits show the queue was empty for them; other tests may
# leave jobs held by other tokens, so the whole table is not asserted on)
left=$(sqlq "SELECT COUNT(*) FROM stacking_jobs WHERE state = 'pending' AND not_before <= UTC_TIMESTAMP(6)")
check "no claimable pending job is left ($left; $pending_before were pending before)" [ "$left" = 0 ]
echo "timings: submit->all stacked $((t1 - t0)) s, last job->tasks gone $((t2 - t1)) s"
if [ $fails -gt 0 ]; then
	echo "--- task logs"
	tail -n 20 "$T"/logs/*.log
	echo "--- slurmctld"
	tail -n 20 "$T/log/slurmctld.log"
	echo "$states"
fi
echo "$fails failure(s)"
[ $fails = 0 ]
