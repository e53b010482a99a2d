"""Issue 30, the rest of trust: every engine choice in a run's identity (compile mode, threads, precision and TF32, the kind of
device, the copy of the data), `vgg_run --name` through a grid file's folder check, a cluster sweep named by its workers' device, a
lock check that never makes a row busy on a network filesystem, the GPU check's logic on a CPU, and bf16 autocast left however a
fit ends."""
import json, os, signal, subprocess, sys
from dataclasses import replace
from pathlib import Path
import pytest
import torch
from conftest import ROOT, BIN, call_cli, one_error_line, same, SMOKE_CFG
from vgg_report.core import UserError
from vgg_report.config import RunConfig, build_config, run_set_name
from vgg_report.rundir import RunDir, read_json, write_json
from vgg_report.train import train_run

SMOKE = ['--profile', 'smoke', '--dataset', 'synthetic']

def _finished(job, **params):
    "A finished run of `job` in its folder, as a run of the engine its set names wrote it (`params` override)."
    c = job.cfg
    job.folder.mkdir(parents=True)
    write_json(job.folder/'params.json', dict(config_hash=c.hash, profile=c.profile, dataset=c.dataset, precision=c.precision,
                                              compile=c.compile, threads=c.threads, resolved_device='cpu', tf32=False, **params))
    write_json(job.folder/'metrics.json', dict(config_hash=c.hash, status='complete', val_acc=0.5, test_acc=0.5, best_epoch=1,
                                               wall_seconds=1.0))

# 1. Every engine choice decides the run set, or is refused when it would mix; a run never changes engine when it resumes.

def test_engine_choices_name_the_run_set_and_the_study_keeps_its_names_and_hashes():
    assert run_set_name('quick', 'synthetic') == 'quick-synthetic'
    assert run_set_name('full', 'cifar100', 'fp32', 'cuda', 'default') == 'full-cifar100-cuda-compiled'
    assert run_set_name('full', 'cifar100', 'bf16', 'cuda', 'reduce-overhead') == 'full-cifar100-bf16-cuda-compiled-reduce-overhead'
    assert run_set_name('quick', 'synthetic', threads=2) == 'quick-synthetic-2threads'
    # hashes computed before the compile mode was hashed: the study's finished runs keep theirs
    assert RunConfig().hash == 'c5acc559c08f' and RunConfig(threads=2).hash == '1dc013867cd0'
    old_quick = dict(epochs=5, n_train=3000, n_val=1000, n_test=1000)          # BN-Baseline at the quick profile of 2026-12
    assert RunConfig(model='vgg38_bn', dataset='synthetic', device='cpu', **old_quick).hash == '212da8ce74cf'
    assert build_config(row='BN-Baseline', profile='quick', dataset='synthetic', device='cpu',
                        precision='fp32')[0].hash == 'c44c21706d68'            # the quick profile since: 2500/500
    assert len({RunConfig(compile=m).hash for m in ('off', 'default', 'reduce-overhead')}) == 3
    with pytest.raises(UserError, match='max-autotune picks kernels by timing them in each process'): RunConfig(compile='max-autotune')

def test_another_thread_count_is_another_run_set_and_sets_nothing_aside(tmp_path):
    "`vgg_sweep --threads 2` used to find every finished one-thread row stale (and set it aside); it is a set of its own."
    from vgg_report.runset import plan
    [job] = plan('paper', ['VGG_08'], 'smoke', 'synthetic', tmp_path, device='cpu')
    _finished(job)
    assert plan('paper', ['VGG_08'], 'smoke', 'synthetic', tmp_path, device='cpu', threads=2)[0].folder == \
        tmp_path/'smoke-synthetic-2threads'/'vgg_08'                           # where `vgg_sweep --threads 2` trains it
    rows = {t: json.loads(call_cli('vgg_status', *SMOKE, '--runs_dir', tmp_path, '--threads', t, '--json').stdout) for t in ('1', '2')}
    assert {t: next(d['status'] for d in rows[t] if d['row'] == 'VGG_08') for t in rows} == {'1': 'complete', '2': 'missing'}
    assert sorted(p.name for p in (tmp_path/'smoke-synthetic').iterdir() if not p.name.startswith('.')) == ['vgg_08']

def test_a_compiled_sweep_is_a_set_of_its_own_that_status_and_report_read(tmp_path):
    r = call_cli('vgg_sweep', *SMOKE, '--only', 'VGG_08', '--compile', 'default', '--runs_dir', tmp_path, '--dry_run')
    assert r.returncode == 0 and str(tmp_path/'smoke-synthetic-compiled'/'vgg_08') in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    st = call_cli('vgg_status', *SMOKE, '--runs_dir', tmp_path, '--compile', 'default', '--json')
    assert st.returncode == 0 and {Path(d['folder']).parent.name for d in json.loads(st.stdout)} == {'smoke-synthetic-compiled'}, st.stderr
    r = call_cli('vgg_build_report', *SMOKE, '--runs_dir', tmp_path, '--compile', 'default', '--out', tmp_path/'out')
    assert r.returncode == 2 and 'smoke-synthetic-compiled has no finished run' in one_error_line(r)

def test_a_run_never_changes_engine_when_it_resumes(tmp_path):
    cfg = RunConfig(**SMOKE_CFG)
    assert train_run(cfg, tmp_path/'r', progress='none', stop_after=1) is None
    p = read_json(tmp_path/'r/params.json')
    assert p['tf32'] is False and p['compile'] == 'off'
    before = (tmp_path/'r/checkpoint.pt').read_bytes()
    with pytest.raises(UserError, match='another configuration'):           # the compile mode is hashed now
        train_run(replace(cfg, compile='default'), tmp_path/'r', progress='none')
    for old, was, now in ((dict(compile='reduce-overhead'), r'compiled \(reduce-overhead\)', 'eager'),   # begun compiled, same hash then
                          (dict(threads=2), 'on 2 threads', 'on 1 thread'), (dict(tf32=True), 'with TF32', 'without TF32')):
        write_json(tmp_path/'r/params.json', {**p, **old})
        with pytest.raises(UserError, match=f'was started {was}[^:]* and cannot go on {now}[^:]*: a run never changes its engine'):
            train_run(cfg, tmp_path/'r', progress='none')
    assert (tmp_path/'r/checkpoint.pt').read_bytes() == before and not (tmp_path/'r/metrics.json').exists()
    write_json(tmp_path/'r/params.json', p)
    assert train_run(cfg, tmp_path/'r', progress='none')['status'] == 'complete'        # on its own engine it goes on

def test_a_partial_run_never_resumes_on_another_copy_of_the_data(tmp_path):
    import vgg_report.data as D
    D.write_cifar_like(tmp_path/'a', n_train=200, n_test=50)
    D.write_cifar_like(tmp_path/'b', n_train=200, n_test=50, seed=1)                  # another copy in the same format
    cfg = RunConfig(model='vgg08', epochs=2, n_train=100, n_val=10, n_test=50, dataset='cifar100', device='cpu')
    assert train_run(cfg, tmp_path/'r', data_dir=tmp_path/'a', progress='none', stop_after=1) is None
    with pytest.raises(UserError, match=r'was started on a CIFAR-format copy \(md5 .*\) and cannot go on on a CIFAR-format copy'):
        train_run(cfg, tmp_path/'r', data_dir=tmp_path/'b', progress='none')
    p = read_json(tmp_path/'r/params.json')
    write_json(tmp_path/'r/params.json', {**p, 'dataset_info': {**p['dataset_info'], 'official': True}})   # begun on the official one
    with pytest.raises(UserError, match='was started on the official CIFAR-100 and cannot go on on a CIFAR-format copy'):
        train_run(cfg, tmp_path/'r', data_dir=tmp_path/'a', progress='none')
    assert not (tmp_path/'r/metrics.json').exists()

def test_a_run_set_never_mixes_engines_or_copies_of_the_data(tmp_path):
    "A run begun compiled before the compile mode named its set sits in the eager set with the eager hash: refused, not used."
    from vgg_report.runset import plan, load_run_set
    jobs = plan('paper', ['VGG_08', 'VGG_38'], 'smoke', 'synthetic', tmp_path, device='cpu')
    for j in jobs: _finished(j)
    recs = load_run_set('smoke', 'synthetic', tmp_path, device='cpu', files=False)
    assert (recs['VGG_08'].status, recs['VGG_38'].status) == ('complete', 'complete')
    p0, p = read_json(jobs[0].folder/'params.json'), read_json(jobs[1].folder/'params.json')
    write_json(jobs[1].folder/'params.json', {**p, 'compile': 'reduce-overhead'})
    with pytest.raises(UserError, match=r"vgg_38 holds a run trained compiled \(reduce-overhead\) inside the smoke-synthetic set \(eager\)"):
        load_run_set('smoke', 'synthetic', tmp_path, device='cpu', files=False)
    r = call_cli('vgg_sweep', *SMOKE, '--only', 'VGG_08', 'VGG_38', '--runs_dir', tmp_path, '--dry_run')   # refused before any work
    assert r.returncode == 2 and 'a run set never mixes engines' in one_error_line(r)
    write_json(jobs[1].folder/'params.json', {**p, 'dataset_info': dict(dataset='cifar100', official=True)})
    write_json(jobs[0].folder/'params.json', {**p0, 'dataset_info': dict(dataset='cifar100', official=False,
                                                                          member_md5=dict(train='0123456789'))})
    with pytest.raises(UserError, match='a run set never mixes two copies of the data'):
        load_run_set('smoke', 'synthetic', tmp_path, device='cpu', files=False)

# 2. `vgg_run --name` through the folder check of a grid file's rows.

def test_a_name_of_your_own_never_takes_a_built_in_rows_folder(tmp_path):
    r = call_cli('vgg_run', '--name', 'BN-Baseline', '--model', 'vgg38_bn', '--lr', '0.01', *SMOKE, '--runs_dir', tmp_path)
    assert r.returncode == 2 and "--name: 'BN-Baseline' is a row of the built-in grid with another configuration" in one_error_line(r)
    r = call_cli('vgg_run', '--name', 'BN RC', '--model', 'vgg38_bn_rc', *SMOKE, '--runs_dir', tmp_path)
    assert r.returncode == 2 and "would share the folder 'bn-rc' of the built-in row 'BN+RC'" in one_error_line(r)
    assert not list(tmp_path.iterdir())
    cfg, slug = build_config(model='vgg38_bn', lr='1e-3', name='BN-Baseline', profile='smoke', dataset='synthetic')   # the row itself
    assert slug == 'bn-baseline' and cfg.hash == build_config(row='BN-Baseline', profile='smoke', dataset='synthetic')[0].hash

# 3. A sweep on a cluster is named by its workers' device.

def test_a_cluster_sweep_takes_its_workers_device(tmp_path, monkeypatch):
    "From this CPU-only machine, rows sent to a cluster with GPUs go to a GPU run set at the GPU's `auto` profile."
    import vgg_report.sweep as S
    from vgg_report.ray_tasks import workers_device
    class Cluster:
        def __init__(self, resources): self.resources = resources
        def cluster_resources(self): return self.resources
    assert (workers_device(Cluster({'CPU': 8.0, 'GPU': 2.0})), workers_device(Cluster({'CPU': 8.0}))) == ('cuda', 'cpu')
    monkeypatch.setattr(S, 'cluster_device', lambda address, device: 'cuda', raising=False)
    r = call_cli('vgg_sweep', '--dataset', 'synthetic', '--only', 'VGG_08', '--address', 'head:6379', '--runs_dir', tmp_path, '--dry_run')
    assert r.returncode == 0 and str(tmp_path/'full-synthetic-cuda'/'vgg_08') in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    assert "profile auto -> full on CUDA of the cluster's workers" in r.stdout and 'not estimated' in r.stdout, r.stdout

# (A real Ray cluster whose worker declares a GPU, seen from this CPU-only machine: test_cluster.py, on the cluster it starts.)

# 4. On a network filesystem the lock check never makes a row busy.

def _checker(path, seconds=3):
    "Another process checking the lock of `path` in a loop, through the network filesystem's path (forced: no NFS here)."
    code = (f"import time\nimport vgg_report.process as P\nP._filesystem = lambda p: 'nfs4'\nl = P.FileLock({str(path)!r})\n"
            f"print(1, flush=True)\nt = time.time()\nwhile time.time() - t < {seconds}: l.locked_elsewhere()\n")
    p = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == '1'
    return p

def test_the_network_filesystem_lock_check_never_makes_a_row_busy(tmp_path):
    "A row attempted with lock_wait=0 while another process checks its lock, on the network filesystem's path: never busy."
    from vgg_report.runset import plan
    from vgg_report.runner import run_row
    [job] = plan('paper', ['VGG_08'], 'smoke', 'synthetic', tmp_path, device='cpu')
    _finished(job)
    job.run.lock.path.write_text('')
    p, outcomes = _checker(job.run.lock.path), []
    while p.poll() is None: outcomes.append(run_row(job.cfg, job.folder, stream=False, lock_wait=0)['outcome'])
    assert p.returncode == 0 and len(outcomes) > 100 and set(outcomes) == {'skipped'}, (len(outcomes), outcomes.count('busy'))

def test_the_network_filesystem_lock_check_still_sees_a_holder(tmp_path, monkeypatch):
    "A holder on this host (its flock, in Linux's lock table) and one the lock server reports (a POSIX lock: F_GETLK) are seen."
    import vgg_report.process as P
    monkeypatch.setattr(P, '_filesystem', lambda p: 'nfs4')
    path = tmp_path/'.row.lock'
    path.write_text('')
    for how in ('fcntl.flock(f, fcntl.LOCK_EX)', 'fcntl.lockf(f, fcntl.LOCK_EX)'):
        holder = subprocess.Popen([sys.executable, '-c', f'import fcntl, time\nf = open({str(path)!r}, "a+")\n{how}\nprint(1, flush=True)\n'
                                   'time.sleep(60)'], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == '1'
            assert P.FileLock(path).locked_elsewhere(), how
        finally: holder.kill(); holder.wait()
        assert not P.FileLock(path).locked_elsewhere(), how

# 5. GPU: TF32 off under fp32, recorded; bf16 sets are not compared with the paper; the GPU check's logic on a CPU.

def test_fp32_never_runs_in_tf32_on_a_gpu_and_bf16_is_not_compared_with_the_paper():
    from vgg_report.train import reproducible, uses_tf32
    from vgg_report.tables import comparability, paper_vs_ours
    from vgg_report.prose import study_scope
    from vgg_report.runset import RunRecord
    from vgg_report.study import ROWS
    b = torch.backends
    before = (b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32)
    with reproducible(torch.device('cuda')):        # the flags are set without a GPU: what a GPU run trains with
        assert (b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32, uses_tf32(torch.device('cuda'))) == (False, False, False)
    assert (b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32) == before
    assert comparability('full', 'cifar100') == '' and 'bf16' in comparability('full', 'cifar100', precision='bf16')
    one = {'BN-Baseline': RunRecord(ROWS['BN-Baseline'], 'complete', Path('.'), metrics=dict(status='complete', train_loss=1.5,
                                    val_acc=0.50, test_acc=0.49), params=dict(dataset='cifar100', precision='bf16'))}
    assert set(paper_vs_ours(one, 'full', 'cifar100').verdict) == {'not comparable'}
    assert 'comparable with' not in study_scope('full', 'cifar100', precision='bf16')

@pytest.mark.slow
@pytest.mark.long
def test_the_gpu_check_runs_its_checks_on_a_cpu(tmp_path):
    """scripts/gpu_train_check.py with --device cpu, as small as it goes (VGG_08, two epochs of 200 images; 50-90 s here, most of
    it starting seven Python processes, two of which compile): a repeat, a pause and a Ctrl-C mid-epoch each resumed in a new
    process, a compiled run repeated in a new process and set against eager; the record says it ran on a CPU."""
    out = tmp_path/'check.json'
    r = subprocess.run([sys.executable, 'scripts/gpu_train_check.py', '--device', 'cpu', '--rows', 'VGG_08', '--row', 'VGG_08',
                        '--epochs', '2', '--n_train', '200', '--n_eval', '100', '--out', out], capture_output=True, text=True, cwd=ROOT,
                       timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rec = json.loads(out.read_text())
    assert rec['on_a_gpu'] is False and rec['device_kind'] == 'cpu' and rec['tf32'] is False and rec['passed'] is True
    checks = {c['check']: c for c in rec['checks']}
    assert [c['identical'] for c in checks.values() if c['must_be_identical']] == [True] * 4, checks
    assert any('Ctrl-C in epoch 2, saved before batch 2' in k for k in checks) and any('against eager' in k for k in checks)
    assert set(rec['compiled_minus_eager']) == {'val_acc', 'test_acc', 'val_loss', 'train_loss'} and 'VGG_08 compiled (default)' in rec['runs']

# 6. bf16 autocast never stays on after a fit ends, however it ends.

def test_an_interrupted_bf16_fit_leaves_no_autocast_behind(tmp_path, reference):
    """A bf16 fit stopped mid-batch in this process (the run's own stop, then a Ctrl-C), then an fp32 fit: identical to a clean
    one (the suite's `reference`, the same configuration trained in a fresh process's first fit)."""
    from vgg_report.learner import Callback
    from vgg_report.callbacks import EngineCB
    from vgg_report.saving import RunInterrupted
    cfg = RunConfig(**SMOKE_CFG)
    clean = reference[1]
    class Stop(Callback):
        "In the second training batch, after the engine entered autocast: a first Ctrl-C (saved) or a KeyboardInterrupt."
        order = EngineCB.order + 1
        def __init__(self, signal_first): self.signal_first = signal_first
        def before_batch(self, learn):
            if not (learn.training and learn.iter == 1): return
            if self.signal_first: os.kill(os.getpid(), signal.SIGINT)
            else: raise KeyboardInterrupt
    for i, signal_first in enumerate((True, False)):
        with pytest.raises(RunInterrupted if signal_first else KeyboardInterrupt):
            train_run(replace(cfg, precision='bf16'), tmp_path/f'bf16-{i}', progress='none', cbs=[Stop(signal_first)])
        assert not torch.is_autocast_enabled('cpu')
        train_run(cfg, tmp_path/f'after-{i}', progress='none')
        assert same(read_json(tmp_path/f'after-{i}'/'metrics.json'), clean)
