#!/usr/bin/env bash
# Submit the benchmark as a Slurm array of SHARDS elements and the merge as a job that starts
# when every element has succeeded. Run from the repository root after
# `dotnet build Mmg.sln -c Release`:
#   SHARDS=8 MMG_OUT=runs/bench examples/slurm/submit.sh
#   MMG_BENCH_ARGS="--tasks all --estimators ksg,cca --seeds 5" examples/slurm/submit.sh
# Prints the two job ids.
set -euo pipefail
here=$(dirname "$0")
SHARDS=${SHARDS:-8}
export MMG_OUT=${MMG_OUT:-runs/bench}
mkdir -p "$MMG_OUT/logs"
array=$(sbatch --parsable --array=0-$((SHARDS - 1)) --output="$MMG_OUT/logs/shard-%a.log" "$here/bench-array.sbatch")
merge=$(sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=yes --output="$MMG_OUT/logs/merge.log" "$here/merge.sbatch")
echo "array $array, merge $merge (starts after every element succeeds)"
