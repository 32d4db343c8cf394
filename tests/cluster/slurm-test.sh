#!/usr/bin/env bash
# The real-cluster test (docs/cluster.md): a single-node Slurm cluster on this machine runs
# examples/slurm/bench-array.sbatch as 4 shards of a quick bench (ksg, cca and a short-budget
# MMG), one element is cancelled mid-run and resubmitted, the merge runs as a dependent job, and
# the merged results must hold every (task, estimator, seed) exactly once and equal a
# single-process run of the same plan. Installs Slurm from Debian packages when absent; no Slurm
# and no apt is a failure, never a skip. Needs root. Stops the daemons it started by pid file.
#
#   bash tests/cluster/slurm-test.sh            # from the repository root
#   MMG_DLL=path/to/mmg.dll bash tests/cluster/slurm-test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
T0=$SECONDS
fail() { echo "slurm-test: FAIL: $*" >&2; exit 1; }
step() { echo "slurm-test: [$((SECONDS - T0)) s] $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (it installs Slurm and starts munged, slurmctld and slurmd)."

# ---- the mmg build under test ---------------------------------------------------------------
if [ -z "${MMG_DLL:-}" ]; then   # the newest build (CI's `dotnet test` leaves a Debug one)
  MMG_DLL=$(ls -t src/Mmg.Cli/bin/{Release,Debug}/net10.0/mmg.dll 2>/dev/null | head -n 1 || true)
fi
if [ -z "${MMG_DLL:-}" ]; then
  step "building mmg (Release)"
  dotnet build src/Mmg.Cli -c Release -v quiet -nologo >/dev/null
  MMG_DLL=src/Mmg.Cli/bin/Release/net10.0/mmg.dll
fi
MMG_DLL=$(realpath "$MMG_DLL")
export MMG="dotnet $MMG_DLL"

# ---- Slurm and munge from Debian ------------------------------------------------------------
missing=()
for b in sbatch slurmctld slurmd munged; do command -v "$b" >/dev/null || missing+=("$b"); done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "Slurm is not installed (${missing[*]} missing) and there is no apt-get to install it."
  step "installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null; } \
    || fail "apt-get could not install slurmctld slurmd slurm-client munge."
  for b in sbatch slurmctld slurmd munged; do command -v "$b" >/dev/null || fail "$b still missing after apt-get install."; done
fi

# ---- a private single-node cluster: own config, spool, logs, pid files and ports -------------
WORK=$(mktemp -d /tmp/mmg-slurm-test.XXXXXX)
chmod 755 "$WORK"
export SLURM_CONF=$WORK/slurm.conf
OUR_MUNGED=
stop_pid() {   # stop_pid PIDFILE: TERM, wait up to 10 s, then KILL; only that pid
  local p; p=$(cat "$1" 2>/dev/null) || return 0
  kill "$p" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$p" 2>/dev/null || true
}
teardown() {
  local rc=$?
  set +e
  if [ -f "$WORK/slurmctld.pid" ]; then
    scancel --user=root >/dev/null 2>&1
    for _ in $(seq 40); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  stop_pid "$WORK/slurmd.pid"
  stop_pid "$WORK/slurmctld.pid"
  [ -n "$OUR_MUNGED" ] && stop_pid /run/munge/munged.pid
  for f in slurmd slurmctld; do
    p=$(cat "$WORK/$f.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null && { echo "slurm-test: $f (pid $p) still running" >&2; rc=1; }
  done
  if [ "$rc" -ne 0 ]; then
    echo "---- logs (last lines) ----" >&2
    tail -n 30 "$WORK"/logs/*.log "$WORK"/slurmctld.log "$WORK"/slurmd.log 2>/dev/null >&2
  else
    rm -rf "$WORK"
  fi
  echo "slurm-test: daemons stopped; total $((SECONDS - T0)) s; $([ "$rc" -eq 0 ] && echo PASS || echo FAIL)"
  exit "$rc"
}
trap teardown EXIT

[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
if ! munge -n >/dev/null 2>&1; then
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  OUR_MUNGED=1
fi
munge -n | unmunge >/dev/null || fail "munge does not work."

for comm in /proc/[0-9]*/comm; do   # no procps on a minimal Debian
  case "$(cat "$comm" 2>/dev/null)" in
    slurmctld|slurmd) fail "a $(cat "$comm") (pid $(basename "$(dirname "$comm")")) is already running; this test runs its own cluster (stop it first)." ;;
  esac
done
mkdir -p "$WORK/spool/ctld" "$WORK/spool/d" "$WORK/logs"
cat >"$SLURM_CONF" <<EOF
ClusterName=mmgtest
SlurmctldHost=localhost
SlurmctldPort=6917
SlurmdPort=6918
SlurmUser=root
StateSaveLocation=$WORK/spool/ctld
SlurmdSpoolDir=$WORK/spool/d
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/jobcomp.log
MailProg=/bin/true
AuthInfo=cred_expire=10
SchedulerParameters=sched_interval=2
MinJobAge=600
KillWait=30
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$(awk '/^MemTotal:/{print int($2 / 1024 * 0.9)}' /proc/meminfo) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld
slurmd -N localhost
for _ in $(seq 60); do [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break; sleep 0.5; done
[ "$(sinfo -h -o %T)" = idle ] || fail "the node did not become idle: $(sinfo -h -o '%T %E')"
step "cluster up: 1 node, $(nproc) CPUs"

# ---- the plan: 4 tasks x 2 seeds x (ksg, cca, short MMG), 4 shards ----------------------------
export MMG_OUT=$WORK/bench
export MMG_BENCH_ARGS="--tasks 1v1-normal-0.75,multinormal-dense-2-2-0.5,student-identity-2-2-1,multinormal-dense-3-3-0.5 --estimators ksg,cca,mmg-orthogonal --seeds 2 --profile quick --steps 200"
PLANNED=24
state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n 1 | cut -d= -f2; }
rows() { if [ -f "$1/results.csv" ]; then tail -n +2 "$1/results.csv" | grep -c . || true; else echo 0; fi; }
wait_gone() {   # wait_gone SECONDS JOBID...: until none of them is in the queue
  local limit=$1; shift
  for _ in $(seq $((limit * 2))); do [ -z "$(squeue -h -j "$(IFS=,; echo "$*")" 2>/dev/null)" ] && return 0; sleep 0.5; done
  fail "jobs $* still queued after $limit s: $(squeue -h -o '%i %T %r' | paste -sd';')"
}

ARRAY=$(sbatch --parsable --array=0-3 --output="$WORK/logs/shard-%a.log" examples/slurm/bench-array.sbatch)
step "submitted array $ARRAY (4 shards)"

# cancel element 1 once it has written a row and still has jobs to run
VICTIM=1
for _ in $(seq 600); do
  n=$(rows "$MMG_OUT/shard-$VICTIM")
  [ "$n" -ge 1 ] && [ "$(state "${ARRAY}_$VICTIM")" = RUNNING ] && break
  [ "$(state "${ARRAY}_$VICTIM")" = COMPLETED ] && fail "element $VICTIM completed before it could be cancelled"
  sleep 0.2
done
[ "$(state "${ARRAY}_$VICTIM")" = RUNNING ] || fail "element $VICTIM never ran (state $(state "${ARRAY}_$VICTIM"))"
scancel "${ARRAY}_$VICTIM"
wait_gone 60 "${ARRAY}_$VICTIM"
CUT=$(rows "$MMG_OUT/shard-$VICTIM")
step "cancelled element $VICTIM ($(state "${ARRAY}_$VICTIM")) with $CUT of its jobs done"
grep -q "SIGTERM received" "$WORK/logs/shard-$VICTIM.log" || fail "element $VICTIM's log does not show SIGTERM handling: $(cat "$WORK/logs/shard-$VICTIM.log")"
grep -q "exited 75" "$WORK/logs/shard-$VICTIM.log" || fail "element $VICTIM did not exit 75: $(tail -n 5 "$WORK/logs/shard-$VICTIM.log")"
[ -z "$(tail -c 1 "$MMG_OUT/shard-$VICTIM/results.csv")" ] || fail "element $VICTIM left a half row"
[ ! -e "$MMG_OUT/shard-$VICTIM/.mmg.lock" ] || fail "element $VICTIM left its lock file"
mv "$WORK/logs/shard-$VICTIM.log" "$WORK/logs/shard-$VICTIM-cancelled.log"

# resubmit that element alone: the array's count comes from MMG_SHARD_COUNT now
RESUB=$(sbatch --parsable --array=$VICTIM --export=ALL,MMG_SHARD_COUNT=4 --output="$WORK/logs/shard-%a.log" examples/slurm/bench-array.sbatch)
MERGE=$(sbatch --parsable --dependency=afterany:"$ARRAY",afterok:"$RESUB" --kill-on-invalid-dep=yes --output="$WORK/logs/merge.log" examples/slurm/merge.sbatch)
step "resubmitted element $VICTIM as $RESUB; merge $MERGE depends on both"
wait_gone 400 "$ARRAY" "$RESUB" "$MERGE"
step "queue empty"

for i in 0 2 3; do [ "$(state "${ARRAY}_$i")" = COMPLETED ] || fail "element $i ended $(state "${ARRAY}_$i"): $(tail -n 5 "$WORK/logs/shard-$i.log")"; done
[ "$(state "${RESUB}_$VICTIM")" = COMPLETED ] || fail "the resubmitted element ended $(state "${RESUB}_$VICTIM")"
grep -q "$CUT already in" "$WORK/logs/shard-$VICTIM.log" || fail "the resubmitted element did not resume from $CUT rows: $(head -n 3 "$WORK/logs/shard-$VICTIM.log")"
[ "$(state "$MERGE")" = COMPLETED ] || fail "the merge job ended $(state "$MERGE"): $(cat "$WORK/logs/merge.log")"

# ---- checks -------------------------------------------------------------------------------
merged=$MMG_OUT/merged/results.csv
[ "$(rows "$MMG_OUT/merged")" = "$PLANNED" ] || fail "merged results have $(rows "$MMG_OUT/merged") rows, planned $PLANNED"
[ "$(tail -n +2 "$merged" | cut -d, -f1-3 | sort -u | wc -l)" = "$PLANNED" ] || fail "a (task, estimator, seed) appears twice in $merged"
for i in 0 1 2 3; do
  [ "$(rows "$MMG_OUT/shard-$i")" -ge 1 ] || fail "shard $i wrote no rows"
done
step "merged: $PLANNED rows, each (task, estimator, seed) once; running the same plan in one process"
# shellcheck disable=SC2086
$MMG bench $MMG_BENCH_ARGS --threads 1 --out "$WORK/single" >"$WORK/logs/single.log" 2>&1 || fail "the single-process run failed: $(tail -n 5 "$WORK/logs/single.log")"
# every column but the seconds (7): same estimates, standard errors, truths and status
key() { tail -n +2 "$1" | cut -d, -f1-6,8- | sort; }
if ! diff <(key "$merged") <(key "$WORK/single/results.csv") >"$WORK/diff.txt"; then
  fail "merged results differ from the single-process run: $(head -n 10 "$WORK/diff.txt")"
fi
step "merged results equal the single-process run ($PLANNED rows)"
echo "slurm-test: array of 4 + 1 resubmitted element + merge on a single-node Slurm $(sinfo -V | cut -d' ' -f2): cancelled element had $CUT rows, resumed; merged == single-process"
