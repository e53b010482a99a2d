#!/bin/bash
# Run a vgg_sweep on a SLURM allocation: Ray's documented pattern (ray start --head on the first node, ray start --address on
# the others, each as a blocking srun step in the background), then vgg_sweep --address on the head. Arguments go to vgg_sweep:
#
#   sbatch scripts/slurm_sweep.sh --grid all --profile full --dataset cifar100 --runs_dir /shared/vgg/runs --data_dir /shared/vgg/data
#
# Submit it from the project's folder: this project installed in the same place on every node (its .venv, or $VGG_VENV, on the
# shared filesystem), and --runs_dir / --data_dir on a filesystem every node sees with working flock (docs_site/guide/cluster.md, "On SLURM").
# Options given to sbatch override the lines below (one node: sbatch --nodes 1; no GPU: sbatch --gpus-per-task 0).
# The time limit: SLURM warns this script 120 s before it (--signal); the sweep's running rows then stop at their next batch and
# save exactly where they are, and the same sbatch command resumes them. scancel, or a limit without the warning, costs each
# running row at most its epoch in progress. tests/test_slurm.py runs all of this on a one-host SLURM cluster.
#SBATCH --job-name=vgg_sweep
#SBATCH --nodes=3
#SBATCH --exclusive
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=16
#SBATCH --gpus-per-task=1
#SBATCH --time=24:00:00
#SBATCH --signal=B:TERM@120
#SBATCH --output=vgg_sweep-%j.out
set -euo pipefail
cd "$SLURM_SUBMIT_DIR"
source "${VGG_VENV:-$SLURM_SUBMIT_DIR/.venv}/bin/activate"
say() { echo "[slurm $(date +%H:%M:%S)] $*"; }

# One token for head, workers and vgg_sweep (Ray's token authentication), in the environment that srun passes to every step:
# nothing is written to disk, and no file of another job is picked up.
export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=$(python -c 'import secrets; print(secrets.token_hex(32))')
unset RAY_AUTH_TOKEN_PATH

nodes=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))
head=${nodes[0]}
head_ip=$(srun --nodes=1 --ntasks=1 -w "$head" hostname --ip-address | awk '{print $1}')
port=${VGG_RAY_PORT:-6379}                    # Ray's head port: set VGG_RAY_PORT when jobs share a node
gpus=${SLURM_GPUS_PER_TASK:-0}
cpus=${SLURM_CPUS_PER_TASK:-1}
say "job $SLURM_JOB_ID: ${#nodes[@]} node(s) (${nodes[*]}), $cpus CPUs and $gpus GPUs each; Ray head at $head_ip:$port"

steps=()
srun --nodes=1 --ntasks=1 -w "$head" ray start --head --node-ip-address="$head_ip" --port="$port" \
    --num-cpus="$cpus" --num-gpus="$gpus" --include-dashboard=false --disable-usage-stats --block &
steps+=($!)
for i in $(seq 60); do                        # the head must answer before a worker joins or the sweep connects
    ray health-check --address "$head_ip:$port" >/dev/null 2>&1 && break
    kill -0 "${steps[0]}" 2>/dev/null || { say "the Ray head did not start"; exit 1; }
    sleep 1
done
for node in "${nodes[@]:1}"; do
    srun --nodes=1 --ntasks=1 -w "$node" ray start --address="$head_ip:$port" \
        --num-cpus="$cpus" --num-gpus="$gpus" --disable-usage-stats --block &
    steps+=($!)
done

# SIGTERM (SLURM's warning before the time limit, or scancel) goes on to vgg_sweep, whose running rows then save where they are.
# A worker node lost during the sweep costs its row's current epoch: the row is retried on another node (--retries, 3 by default).
set +e
vgg_sweep --address "$head_ip:$port" "$@" &
sweep=$!
trap 'say "SIGTERM: stopping the sweep; its running rows save where they are"; kill -TERM $sweep 2>/dev/null' TERM
trap 'say "SIGINT: stopping the sweep"; kill -INT $sweep 2>/dev/null' INT
while :; do
    wait "$sweep"; status=$?
    kill -0 "$sweep" 2>/dev/null || break     # wait returns early when a trapped signal arrives: wait again
done
trap - TERM INT
say "vgg_sweep exited with $status; stopping Ray"
for step in $(squeue --steps --jobs "$SLURM_JOB_ID" --noheader --format=%i); do
    case $step in *.batch|*.extern) ;; *) scancel --signal=KILL "$step" 2>/dev/null ;; esac   # the sweep is over: Ray holds nothing to save
done
wait "${steps[@]}" 2>/dev/null
exit "$status"
