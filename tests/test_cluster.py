"Issue: sweeps on a real multi-node Ray cluster (a head and two worker nodes on this machine) survive the loss of a node."
import json, os, secrets, signal, socket, subprocess, tempfile, time
from contextlib import contextmanager
from pathlib import Path
import psutil
import pytest
from conftest import BIN, same, one_error_line

pytestmark = pytest.mark.slow

def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _cluster_processes(tmpd: str) -> dict:
    "Every process of the cluster whose session lives in `tmpd`: its daemons (they name the folder) and their children (workers)."
    roots = [p for p in psutil.process_iter(['cmdline']) if any(tmpd in a for a in (p.info['cmdline'] or []))]
    procs = {}
    for r in roots:
        try: procs.update({p.pid: p for p in (r, *r.children(recursive=True))})
        except psutil.NoSuchProcess: pass
    return procs

@contextmanager
def ray_cluster(workers: int = 2, gpu_workers: int = 0):
    """A head (no CPU, so rows run on the workers) and `workers` one-CPU worker nodes, started with `ray start` on free ports
    in a session folder of their own, with one token for all (whatever `~/.ray/auth_token` holds) and one log monitor (the
    head's: they share this host), and every process of it killed on the way out, whatever happened. The last `gpu_workers`
    of them declare one GPU each (`--num-gpus 1`, a resource Ray takes as declared). Yields (address, environment, each
    worker's node-manager port)."""
    tmpd = tempfile.mkdtemp(prefix='vr', dir='/tmp')    # short: Ray's socket paths must fit in 107 characters
    env = dict(os.environ, RAY_AUTH_MODE='token', RAY_AUTH_TOKEN=secrets.token_hex(16), RAY_USAGE_STATS_ENABLED='0')
    port, nm = _free_port(), [_free_port() for _ in range(workers)]
    common = ['--node-ip-address', '127.0.0.1', '--disable-usage-stats']
    try:
        subprocess.run([BIN/'ray', 'start', '--head', '--port', str(port), '--num-cpus', '0', '--temp-dir', tmpd, '--include-dashboard', 'false',
                        *common], env=env, check=True, capture_output=True, timeout=60)
        for i, p in enumerate(nm):
            gpu = ['--num-gpus', '1'] if i >= workers - gpu_workers else []
            subprocess.run([BIN/'ray', 'start', '--address', f'127.0.0.1:{port}', '--num-cpus', '1', '--node-manager-port', str(p), *common,
                            '--include-log-monitor', 'false', *gpu],        # one log monitor per host, as Ray advises: the head's
                           env=env, check=True, capture_output=True, timeout=60)
        yield f'127.0.0.1:{port}', env, nm
    finally:
        procs = list(_cluster_processes(tmpd).values())
        for p in procs:
            try: p.kill()
            except psutil.NoSuchProcess: pass
        psutil.wait_procs(procs, timeout=20)
        subprocess.run(['rm', '-rf', tmpd])
        assert not _cluster_processes(tmpd), 'a process of the cluster survived'

def _lose_node(node_manager_port: int):
    "SIGKILL a worker node whole, as a machine that goes away: its raylet and every process under it (Ray's workers, their kernels)."
    raylet = next(p for p in psutil.process_iter(['cmdline']) if (p.info['cmdline'] or [''])[0].endswith('/raylet')
                  and f'--node_manager_port={node_manager_port}' in p.info['cmdline'])
    for p in [raylet, *raylet.children(recursive=True)]:
        try: p.kill()
        except psutil.NoSuchProcess: pass

def test_a_lost_node_costs_a_retry_and_changes_no_metric(paper, tmp_path):
    """Two CPU rows (`--device cpu`) on a two-worker cluster whose second worker declares a GPU; the first worker node (its raylet
    and every process under it) is SIGKILLed once both rows have a checkpoint. The sweep retries that row on the other node,
    which resumes it, and exits 0; every metric equals the uninterrupted sweep's (the paper fixture's); the output has the
    sweep's own lines and none of Ray's; no process of the cluster is left. Meanwhile a sweep with another token is refused in
    one line. On the same cluster, `vgg_sweep --address` from this CPU-only machine with `--device auto` plans a GPU run set
    (its workers' device), and refuses a device no worker has (one cluster serves all: a node costs seconds of CPU)."""
    runs, _ = paper
    rows = ['VGG_38', 'BN-Baseline']
    slugs = {'VGG_38': 'vgg_38', 'BN-Baseline': 'bn-baseline'}
    out = tmp_path/'runs'/'smoke-synthetic'
    with ray_cluster(gpu_workers=1) as (address, env, nm):
        args = ['--profile', 'smoke', '--dataset', 'synthetic', '--address', address]
        sweep = subprocess.Popen([BIN/'vgg_sweep', '--only', *rows, '--runs_dir', tmp_path/'runs', '--device', 'cpu', *args], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        stranger = subprocess.Popen([BIN/'vgg_sweep', '--only', 'VGG_08', '--runs_dir', tmp_path/'elsewhere', *args], env=dict(env, RAY_AUTH_TOKEN='not-the-token'),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)   # meanwhile, with a wrong token
        try:
            deadline = time.time() + 90
            while not all((out/s/'history.csv').exists() and len((out/s/'history.csv').read_text().splitlines()) >= 2 for s in slugs.values()):
                assert sweep.poll() is None and time.time() < deadline, 'the rows did not both start an epoch'
                time.sleep(0.1)
            _lose_node(nm[0])                            # one worker node goes away in the middle of its row
            text, _ = sweep.communicate(timeout=150)
            refused = stranger.communicate(timeout=60)
        finally:
            for p in (sweep, stranger):
                if p.poll() is None: os.killpg(p.pid, signal.SIGKILL); p.wait()
        # the same cluster, whose second worker declares a GPU: a sweep from this CPU-only machine plans a GPU run set
        dry = [BIN/'vgg_sweep', '--profile', 'smoke', '--dataset', 'synthetic', '--only', 'VGG_08', '--address', address,
               '--runs_dir', tmp_path/'gpu', '--dry_run']
        gpu = subprocess.run(dry, capture_output=True, text=True, env=env, timeout=300)
        mps = subprocess.run([*dry, '--device', 'mps'], capture_output=True, text=True, env=env, timeout=300)
    print(text)
    assert sweep.returncode == 0, text
    retries = [l for l in text.splitlines() if ': its node died (NodeDiedError); retry 1/3, from its last checkpoint' in l]
    assert len(retries) == 1, text
    retried = retries[0].split()[1].rstrip(':')
    assert retried in rows and f'retried: {retried}: its node died (NodeDiedError); resumed from its last checkpoint' in text, text
    assert 'sweep: 2 complete' in text and 'resumed)' in text
    assert 'state-dump' not in text and '(raylet)' not in text and 'Raylet' not in text, text    # Ray's internals are in its logs
    assert stranger.returncode == 2 and refused[1].strip().splitlines() == [
        f"error: --address {address}: the Ray cluster refused this machine's token; head, workers and vgg_sweep need one token "
        "(RAY_AUTH_MODE=token and the same RAY_AUTH_TOKEN_PATH on all), or none (docs_site/guide/cluster.md, 'On a Ray cluster')"], refused
    assert not (tmp_path/'elsewhere'/'smoke-synthetic'/'vgg_08').exists()
    assert gpu.returncode == 0 and str(tmp_path/'gpu'/'smoke-synthetic-cuda'/'vgg_08') in gpu.stdout, gpu.stdout[-2000:] + gpu.stderr[-2000:]
    assert mps.returncode == 2 and 'no worker of the Ray cluster' in one_error_line(mps)
    for name, slug in slugs.items():
        ours, ref = (json.loads((d/slug/'metrics.json').read_text()) for d in (out, runs/'smoke-synthetic'))
        assert ours['status'] == 'complete' and same(ours, ref), (name, ours, ref)
        print(f"{name}: {len(ours) - 1} metrics identical to the uninterrupted sweep's (val acc {ours['val_acc']}, test acc {ours['test_acc']}, "
              f"train loss {ours['train_loss']:.6f}, config {ours['config_hash']})")
