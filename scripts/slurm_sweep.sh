#!/bin/bash
# Run a vgg_sweep on a SLURM allocation: Ray's documented pattern (ray start --head on the first node, ray start --address on
# the others, each as a blocking srun step in the background), then vgg_sweep --address on the head. Arguments go to vgg_sweep:
#
#   sbatch scripts/slurm_sweep.sh --grid all --profile full --dataset cifar100 --runs_dir /shared/vgg/runs --data_dir /shared/vgg/data
#
# Needs: this project installed in the same place on every node (a venv on the shared filesystem, activated below), and
# --runs_dir / --data_dir on a filesystem every node sees with working flock (README, "On a Ray cluster").
# Not tested here: the project's machines have no SLURM. tests/test_cluster.py runs the same head / worker / --address steps
# on one machine.
#SBATCH --job-name=vgg_sweep
#SBATCH --nodes=3
#SBATCH --exclusive
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=16
#SBATCH --gpus-per-task=1
#SBATCH --time=24:00:00
#SBATCH --output=vgg_sweep-%j.out
set -euo pipefail
cd "$SLURM_SUBMIT_DIR"
source .venv/bin/activate

# One token for head, workers and vgg_sweep (Ray's token authentication), in a file only you can read; srun passes the
# environment to every step.
export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$SLURM_SUBMIT_DIR/.ray_token_$SLURM_JOB_ID"
(umask 077; python -c 'import secrets; print(secrets.token_hex(32))' > "$RAY_AUTH_TOKEN_PATH")
trap 'rm -f "$RAY_AUTH_TOKEN_PATH"' EXIT

nodes=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))
head=${nodes[0]}
head_ip=$(srun --nodes=1 --ntasks=1 -w "$head" hostname --ip-address | awk '{print $1}')
port=6379
gpus=${SLURM_GPUS_PER_TASK:-0}

srun --nodes=1 --ntasks=1 -w "$head" ray start --head --node-ip-address="$head_ip" --port=$port \
    --num-cpus="$SLURM_CPUS_PER_TASK" --num-gpus="$gpus" --disable-usage-stats --block &
sleep 10                                      # the head must be up before a worker joins
for node in "${nodes[@]:1}"; do
    srun --nodes=1 --ntasks=1 -w "$node" ray start --address="$head_ip:$port" \
        --num-cpus="$SLURM_CPUS_PER_TASK" --num-gpus="$gpus" --disable-usage-stats --block &
    sleep 5
done

# A worker node lost during the sweep costs its row's current epoch: the row is retried on another node (--retries, 3 by default).
vgg_sweep --address "$head_ip:$port" "$@"
