#!/usr/bin/env bash
# Cross-validation on a real (one-node) Slurm cluster, checked against a local run.
#
# Starts munged, slurmctld and slurmd on this machine (Debian's munge and slurm-wlm,
# installed if missing; no systemd), all state, sockets, logs and results in one
# temporary folder; submits a 2-repeat x 2-fold x 1-epoch cv on a 2,000-image slice with
# scripts/slurm/submit-cv.sh (one array task per fold, then the merge job); runs the
# same cv locally (--jobs 1) with the same seed and thread count; and checks that both
# cv.json files hold the same accuracies, losses and final weight digests. The daemons
# are stopped by their PIDs at the end, also when a step fails. Needs root (or sudo).
#
#   scripts/slurm-test.sh            (TRAINER=path overrides the binary; default: a debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
log() { printf '[slurm-test] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

if [ -z "${TRAINER:-}" ]; then
  log "building the trainer"
  cargo build -q -p trainer
  TRAINER=$PWD/target/debug/trainer
fi
[ -x "$TRAINER" ] || die "no trainer binary at $TRAINER"
export TRAINER
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || die "needs root (it starts munged, slurmctld and slurmd)"
  exec sudo --preserve-env=TRAINER "$0" "$@"
fi

missing=()
for p in slurm-wlm munge jq; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

tmp=$(mktemp -d /tmp/slurm-test.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$status" != 0 ]; then
    for f in "$tmp"/*.log "$tmp"/cluster/logs/*.log; do
      [ -f "$f" ] || continue
      log "--- last lines of $f"
      tail -n 20 "$f" >&2
    done
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# munge: its own key, socket and files in $tmp, run as the munge user in the foreground.
# The key's folder is private to munge; the socket's folder must be open to all users.
install -d -o munge -g munge -m 700 "$tmp/munge"
install -d -o munge -g munge -m 755 "$tmp/munge-run"
mungekey --create --keyfile="$tmp/munge/munge.key"
chown munge:munge "$tmp/munge/munge.key"
socket=$tmp/munge-run/munge.socket
setpriv --reuid=munge --regid=munge --clear-groups /usr/sbin/munged --foreground \
  --socket="$socket" --key-file="$tmp/munge/munge.key" --log-file="$tmp/munge/munged.log" \
  --pid-file="$tmp/munge/munged.pid" --seed-file="$tmp/munge/munged.seed" \
  >"$tmp/munged.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  munge -n -S "$socket" 2>/dev/null | unmunge -S "$socket" >/dev/null 2>&1 && break
  sleep 0.2
done
munge -n -S "$socket" | unmunge -S "$socket" >/dev/null || die "munged did not start"
log "munged up (pid ${pids[-1]})"

# Two free TCP ports for the daemons.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
ctld_port=$(free_port)
slurmd_port=$(free_port)
[ "$slurmd_port" != "$ctld_port" ] || slurmd_port=$((ctld_port + 1))

host=$(hostname -s)
mkdir -p "$tmp/state" "$tmp/spool"
export SLURM_CONF=$tmp/slurm.conf
cat >"$SLURM_CONF" <<CONF
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

slurmctld -D -c -f "$SLURM_CONF" >"$tmp/slurmctld.out.log" 2>&1 &
pids+=($!)
sleep 1
slurmd -D -f "$SLURM_CONF" >"$tmp/slurmd.out.log" 2>&1 &
pids+=($!)
state=""
for _ in $(seq 60); do
  state=$(sinfo -h -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 1
done
[ "$state" = idle ] || die "the node did not come up (sinfo says '${state:-nothing}')"
log "one-node cluster up: slurmctld pid ${pids[1]}, slurmd pid ${pids[2]}, node $host idle"

args=(--folds 2 --repeats 2 --epochs 1 --limit 2000 --seed 3 --split-seed 5)

log "cv on the cluster: 4 array tasks (2 repeats x 2 folds) of 1 cpu each, then the merge"
scripts/slurm/submit-cv.sh --trainer "$TRAINER" --cpus 1 --wait -- "${args[@]}" --out "$tmp/cluster" >&2

log "the same cv locally, in one process, 1 thread"
"$TRAINER" cv --jobs 1 --threads 1 "${args[@]}" --out "$tmp/local" >/dev/null 2>"$tmp/local.log"

summary() {
  jq -S '{config, accuracies, mean, std, folds: [.folds[] | {repeat, fold, accuracy, seed, threads,
    initial_params, final_params, history: [.history[] | del(.train_seconds)]}]}' "$1"
}
summary "$tmp/local/cv.json" >"$tmp/local.summary"
summary "$tmp/cluster/cv.json" >"$tmp/cluster.summary"
if ! diff -u "$tmp/local.summary" "$tmp/cluster.summary" >&2; then
  die "the cluster's merged cv.json differs from the local run's"
fi
[ "$(jq '[.folds[].threads] == [1, 1, 1, 1]' "$tmp/cluster/cv.json")" = true ] || die "folds did not run with 1 thread"
log "merged on the cluster = local run: accuracies $(jq -c '.accuracies' "$tmp/cluster/cv.json"), final weight digests $(jq -r '[.folds[].final_params[0:12]] | join(" ")' "$tmp/cluster/cv.json")"

log "a failing fold: the merge job is cancelled and submit-cv.sh fails"
if scripts/slurm/submit-cv.sh --trainer "$TRAINER" --wait -- "${args[@]}" \
  --data "$tmp/no-dataset" --out "$tmp/broken" >"$tmp/broken.log" 2>&1; then
  die "submit-cv.sh succeeded although every fold failed"
fi
grep -q "did not succeed" "$tmp/broken.log" || die "submit-cv.sh failed without saying why"
grep -q "no-dataset" "$tmp/broken/logs/fold-0.log" || die "the fold's log does not name the missing dataset"
[ ! -e "$tmp/broken/cv.json" ] || die "a cv.json was written although the folds failed"
log "ok"
