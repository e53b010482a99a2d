"Issue: the sweep (cached, resumable, locked, on Ray) and vgg_status."
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import BIN, ROOT, run_cli, call_cli, one_error_line, same
from test_faults import _hold                 # a process holding a lock until killed
from vgg_report.process import FileLock
from vgg_report.rundir import RunDir
from vgg_report.study import PAPER_GRID
from vgg_report.rundir import read_json, write_json, load_checkpoint, save_checkpoint

SMOKE = ['--profile', 'smoke', '--dataset', 'synthetic']

def metrics(runs, slug): return read_json(runs/'smoke-synthetic'/slug/'metrics.json')
def status(runs, *extra):
    r = call_cli('vgg_status', *SMOKE, '--runs_dir', runs, '--json', *extra)
    assert r.returncode == 0, r.stderr
    return {d['row']: d for d in json.loads(r.stdout)}

@pytest.mark.slow
def test_smoke_sweep_completes_every_row(paper):
    """The paper fixture's sweep (a real `vgg_sweep` from nothing, on a local Ray at the sweep's default width: two slots of one
    core each, started with OMP_NUM_THREADS=2): its 11 rows complete, with an estimate and an ETA, each with its executed
    notebook and TensorBoard's files, written on the Ray workers; the output is the sweep's own lines (none of Ray's), and
    ~/.ray is left as it was. That a sequential sweep ends with its metrics is the killed sweep's check (below)."""
    runs, out = paper
    st, stdout = status(runs), out['stdout']
    assert list(st) == [row.name for row in PAPER_GRID] and {d['status'] for d in st.values()} == {'complete'}
    assert '11 complete' in stdout and 'ETA' in stdout and '2 at a time on Ray' in stdout, stdout
    assert 'on the CPU: 11 rows of the paper grid' in stdout and 'estimated' in stdout
    rows = [row.name for row in PAPER_GRID]
    assert not out['stderr'].strip() and all(l.startswith(('profile smoke', '[sweep ', 'sweep: ', ' ')) or l in ('', *rows)
                                             or l.split()[0] in rows for l in stdout.splitlines()), stdout + out['stderr']
    assert out['ray_token_kept']
    m = metrics(runs, 'vgg_38')
    assert m['status'] == 'complete' and m['row'] == 'VGG_38' and m['profile'] == 'smoke'
    assert (runs/'smoke-synthetic'/'bn-x1_10'/'experiment.ipynb').exists()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    for slug in ('vgg_08', 'vgg_38', 'bn-baseline'):
        acc = EventAccumulator(str(runs/'smoke-synthetic'/slug/'tb')); acc.Reload()
        assert [s.step for s in acc.Scalars('loss/train')] == [1, 2] and [i.step for i in acc.Images('grad_flow/heatmap')] == [2], slug

@pytest.mark.slow
def test_ray_and_papermill_start_without_building_an_iri_parser():
    """`make install` removes rfc3987-syntax, jsonschema's optional IRI checker: it builds an Earley parser as it is imported,
    about 1.1 s of CPU in every Ray daemon, Ray worker, vgg_run and vgg_sweep here. A process that imports Ray and papermill never
    loads it, and still validates the experiment notebook (about 1 s here)."""
    code = ("import sys, ray, papermill, nbformat; nbformat.validate(nbformat.read(sys.argv[1], as_version=4)); "
            "print(sorted(m for m in sys.modules if m.startswith('rfc3987')))")
    r = subprocess.run([sys.executable, '-c', code, str(ROOT/'nbs/experiment.ipynb')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == '[]', f"rfc3987-syntax is installed: `make install` removes it (the Makefile says why); {r.stdout}"

@pytest.mark.slow
def test_second_sweep_skips_everything(paper):
    """The same sweep again skips all 11 finished rows within a minute and touches none of their files."""
    runs, _ = paper
    nb = runs/'smoke-synthetic'/'bn-baseline'/'experiment.ipynb'
    before = nb.stat().st_mtime_ns; t0 = time.time()
    r = call_cli('vgg_sweep', *SMOKE, '--runs_dir', runs, '--jobs', '1')
    assert r.returncode == 0 and '11 skipped' in r.stdout and '0 complete' in r.stdout, r.stdout
    assert nb.stat().st_mtime_ns == before and time.time() - t0 < 60

def _sweep_until(args, cond, timeout=300):
    p = subprocess.Popen([str(BIN/'vgg_sweep'), *args], start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    t0 = time.time()
    while not cond():
        assert p.poll() is None, p.stdout.read().decode()[-3000:]
        assert time.time() - t0 < timeout; time.sleep(0.05)
    return p

@pytest.mark.slow
@pytest.mark.long
def test_killed_then_interrupted_sweep_resumes_to_the_same_metrics(paper, tmp_path):
    """A sweep SIGKILLed in its second row: vgg_status shows complete, partial and missing. `vgg_run` resumes that row with
    OMP_NUM_THREADS unset (torch would take every core; the run sets its own one thread) to the metrics the paper fixture swept
    on a local Ray under OMP_NUM_THREADS=2, to the last digit: one configuration, one result, however launched and resumed. The
    same sweep again skips the two finished rows; Ctrl-C (SIGINT to its process group) while it trains the third stops it within
    15 s, exit 130, with the line that says how to resume. The same sweep a third time resumes the third row. All three rows,
    swept here one at a time in the sweep's process under OMP_NUM_THREADS=1, end with the Ray sweep's metrics."""
    runs, _ = paper
    rows = ['VGG_08', 'BN-Baseline', 'BN-x2']
    args = [*SMOKE, '--runs_dir', str(tmp_path), '--jobs', '1', '--only', *rows]
    p = _sweep_until(args, lambda: (tmp_path/'smoke-synthetic/bn-baseline/history.csv').exists())   # written just after the first checkpoint
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    st = status(tmp_path)
    assert st['VGG_08']['status'] == 'complete' and st['BN-x2']['status'] == 'missing'
    assert st['BN-Baseline']['status'] in ('partial', 'running') and st['BN-Baseline']['epochs'] in ('1/2', '2/2')
    t0 = time.time()
    while RunDir(tmp_path/'smoke-synthetic'/'bn-baseline').busy: assert time.time() - t0 < 30; time.sleep(0.05)   # its kernel died with the sweep
    unset = {k: v for k, v in os.environ.items() if k not in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')}
    r = subprocess.run([str(BIN/'vgg_run'), '--row', 'BN-Baseline', *SMOKE, '--runs_dir', str(tmp_path)], capture_output=True,
                       text=True, env=unset, cwd=ROOT, timeout=600)
    assert r.returncode == 0 and 'resuming' in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    assert same(metrics(tmp_path, 'bn-baseline'), metrics(runs, 'bn-baseline'))
    p = _sweep_until(args, lambda: RunDir(tmp_path/'smoke-synthetic'/'bn-x2').trainer_pid() is not None)   # the third row trains
    time.sleep(1)
    t0 = time.time(); os.killpg(p.pid, signal.SIGINT)                                   # what Ctrl-C in a terminal does
    text = p.communicate(timeout=60)[0].decode()
    assert p.returncode == 130 and time.time() - t0 < 15 and 'run the same command again to resume' in text, text[-3000:]
    assert 'VGG_08: already finished' in text and 'BN-Baseline: already finished' in text, text[-3000:]
    r = call_cli('vgg_sweep', *args)
    assert r.returncode == 0 and '2 skipped' in r.stdout and '1 complete' in r.stdout, r.stdout[-3000:]
    for slug in ('vgg_08', 'bn-baseline', 'bn-x2'): assert same(metrics(tmp_path, slug), metrics(runs, slug)), slug

def test_a_second_sweep_reads_the_machine_timing_from_the_cache(tmp_path, monkeypatch):
    """The first sweep on a machine times it for its estimate (`calibrate`, seconds of training) and keeps the timing in the
    cache; the next sweep reads it, trains nothing to estimate, and says the same."""
    import vgg_report.sweep as S
    timed = []
    monkeypatch.setattr(S, 'calibrate', lambda *a, **k: timed.append(k) or 2e-10)
    monkeypatch.setenv('VGG_REPORT_CACHE', str(tmp_path/'cache'))
    said = []
    for _ in range(2):
        r = call_cli('vgg_sweep', *SMOKE, '--only', 'VGG_08', 'BN-Baseline', '--runs_dir', tmp_path/'runs', '--dry_run')
        assert r.returncode == 0 and 'estimated' in r.stdout, r.stdout + r.stderr
        said.append(r.stdout.splitlines()[0])
    assert timed == [dict(threads=1, precision='fp32')] and said[0] == said[1], (timed, said)
    assert (tmp_path/'cache'/'calibration.json').exists() and not (tmp_path/'runs').exists()

def test_a_cache_that_cannot_be_written_leaves_the_estimate_standing(tmp_path, monkeypatch):
    "Where the cache cannot be kept (here a file stands where its folder would be), each sweep times the machine and starts."
    import vgg_report.sweep as S
    timed = []
    monkeypatch.setattr(S, 'calibrate', lambda *a, **k: timed.append(k) or 2e-10)
    (tmp_path/'cache').write_text('not a folder')
    monkeypatch.setenv('VGG_REPORT_CACHE', str(tmp_path/'cache'))
    for _ in range(2):
        r = call_cli('vgg_sweep', *SMOKE, '--only', 'VGG_08', '--runs_dir', tmp_path/'runs', '--dry_run')
        assert r.returncode == 0 and 'estimated' in r.stdout and not r.stderr, r.stdout + r.stderr
    assert len(timed) == 2 and (tmp_path/'cache').read_text() == 'not a folder'

def _hold_then_die(lock: Path):
    "A lock file left behind by a holder that was SIGKILLed while it held the lock (as a killed sweep leaves it)."
    p = _hold(lock)
    p.send_signal(signal.SIGKILL); p.wait()
    assert lock.exists() and not FileLock(lock).locked_elsewhere()          # the file stays; nobody holds it

@pytest.mark.slow
def test_two_sweeps_over_rows_in_trouble_never_run_a_row_twice_and_stop_for_nothing(paper, tmp_path):
    """Two sweeps at once, over two rows in trouble. VGG_08 has a finished run whose configuration hash no longer matches
    (stale to vgg_status), and its lock file was left by a holder SIGKILLed while holding it. BN-x5's checkpoint cannot load
    (a sound checkpoint of another architecture). Sweep A (`--only VGG_08`) takes the dead holder's lock and is held inside the
    row (SIGSTOP): vgg_status says running. Sweep B, started meanwhile over both rows, counts VGG_08 busy and leaves it, and
    BN-x5 fails, with exit 1 and a pointer to its notebook, its checkpoint left as it was. A then goes on: it sets the old
    VGG_08 run aside (kept) and runs the row again, to the paper fixture's metrics."""
    runs, _ = paper
    src, bad = runs/'smoke-synthetic'/'bn-x5', tmp_path/'smoke-synthetic'/'bn-x5'
    bad.mkdir(parents=True); shutil.copy(src/'params.json', bad/'params.json')
    state = load_checkpoint(runs/'smoke-synthetic'/'vgg_08'/'checkpoint.pt')    # a sound checkpoint of another architecture
    state['config_hash'] = read_json(src/'params.json')['config_hash']; save_checkpoint(bad/'checkpoint.pt', state)
    ck = (bad/'checkpoint.pt').read_bytes()
    dst = tmp_path/'smoke-synthetic'/'vgg_08'
    shutil.copytree(runs/'smoke-synthetic'/'vgg_08', dst)
    m = read_json(dst/'metrics.json'); m['config_hash'] = '0ld0ld0ld0ld'; write_json(dst/'metrics.json', m)
    _hold_then_die(dst.parent/'.vgg_08.lock')
    assert status(tmp_path)['VGG_08']['status'] == 'stale'
    args = [*SMOKE, '--runs_dir', str(tmp_path), '--jobs', '1']
    a = _sweep_until([*args, '--only', 'VGG_08'], lambda: RunDir(dst).busy)
    os.killpg(a.pid, signal.SIGSTOP)             # A stays inside the row, holding its lock, however fast the host finishes a smoke row
    try:
        assert status(tmp_path)['VGG_08']['status'] == 'running'
        b = run_cli('vgg_sweep', *args, '--only', 'BN-x5', 'VGG_08')
    finally: os.killpg(a.pid, signal.SIGCONT)
    assert b.returncode == 1 and '1 failed' in b.stdout and '1 busy' in b.stdout, b.stdout
    assert f'failed: BN-x5: see {bad}/experiment.ipynb' in b.stderr
    assert status(tmp_path)['BN-x5']['status'] == 'failed' and (bad/'checkpoint.pt').read_bytes() == ck
    out, _ = a.communicate(timeout=300)
    assert a.returncode == 0 and b'1 complete' in out, out.decode()[-3000:]
    aside = list(dst.parent.glob('vgg_08.stale-*'))
    assert len(aside) == 1 and read_json(aside[0]/'metrics.json')['config_hash'] == '0ld0ld0ld0ld'
    assert same(metrics(tmp_path, 'vgg_08'), metrics(runs, 'vgg_08')) and status(tmp_path)['VGG_08']['status'] == 'complete'

@pytest.mark.slow
def test_status_states(paper, tmp_path):
    """vgg_status tells running (a lock held by another process), diverged, partial, failed, missing and complete apart, and
    a dead holder's lock is no longer running."""
    runs, _ = paper
    base = tmp_path/'smoke-synthetic'
    for slug in ('vgg_08', 'vgg_38', 'bn-baseline', 'bn-x5'): shutil.copytree(runs/'smoke-synthetic'/slug, base/slug)
    m = read_json(base/'vgg_38/metrics.json'); m['status'] = 'diverged'; write_json(base/'vgg_38/metrics.json', m)
    (base/'bn-baseline/metrics.json').unlink()
    (base/'bn-x5/metrics.json').unlink(); write_json(base/'bn-x5/failure.json', dict(error='x'))
    p = _hold(base/'.vgg_08.lock')
    try: st = status(tmp_path)
    finally: p.kill(); p.wait()
    assert st['VGG_08']['status'] == 'running' and st['VGG_38']['status'] == 'diverged'
    assert st['BN-Baseline']['status'] == 'partial' and st['BN-Baseline']['epochs'] == '2/2'
    assert st['BN-x5']['status'] == 'failed' and st['BN-x2']['status'] == 'missing'
    assert status(tmp_path)['VGG_08']['status'] == 'complete'           # the killed holder's lock is gone
    table = call_cli('vgg_status', *SMOKE, '--runs_dir', tmp_path)
    assert table.returncode == 0 and 'BN-seed=20' in table.stdout and 'missing' in table.stdout

SWEEP_BAD = [
    (['--grid', 'papers'], '--grid'), (['--only', 'BN-x3'], '--only BN-x3'), (['--jobs', '0'], '--jobs'),
    (['--address', 'nohostport'], '--address'), (['--runs_per_gpu', 'two'], '--runs_per_gpu'), (['--profile', 'fast'], '--profile'),
    (['--runs_per_gpu', '2', '--device', 'cpu'], 'packs runs onto GPUs, but this sweep trains on cpu'), (['--compile', 'jit'], '--compile')]

@pytest.mark.parametrize('args,msg', SWEEP_BAD, ids=[' '.join(a) for a, _ in SWEEP_BAD])
def test_sweep_bad_input_one_line_exit_2(args, msg, tmp_path):
    "Every bad flag, through vgg_sweep's entry point in this process: one line naming it, exit 2, nothing started."
    r = call_cli('vgg_sweep', '--dataset', 'synthetic', '--runs_dir', tmp_path, *args)
    assert r.returncode == 2 and msg in one_error_line(r), r.stderr
    assert not any(tmp_path.rglob('params.json'))

def test_sweep_bad_input_in_a_real_process(tmp_path):
    r = run_cli('vgg_sweep', '--dataset', 'synthetic', '--runs_dir', tmp_path, '--jobs', '0')
    assert r.returncode == 2 and '--jobs' in one_error_line(r), r.stderr
    assert not any(tmp_path.rglob('params.json'))

def test_a_row_with_an_unregistered_model_is_named(monkeypatch, tmp_path):
    "A grid whose row names a model nobody registered (a notebook not exported, a typo in the grid) fails in one line naming the row."
    from vgg_report.study import GRIDS, Row
    from vgg_report.runset import plan
    from vgg_report.core import UserError
    monkeypatch.setitem(GRIDS, 'extended', [Row('Mine', 'vgg38_mine', 1e-3)])
    with pytest.raises(UserError, match="row Mine: model 'vgg38_mine' is not a model; use one of vgg08, vgg38"):
        plan('extended', None, 'smoke', 'synthetic', tmp_path)

class _RayError(Exception): pass
class NodeDiedError(_RayError): pass
class WorkerCrashedError(_RayError): pass

class FakeRay:
    "The part of Ray that `_ray_run` uses. A task runs when its result is asked for; `fate[row]` holds, per attempt, what happens first."
    exceptions = type('exceptions', (), dict(RayError=_RayError, RayTaskError=type('RayTaskError', (_RayError,), {})))
    def __init__(self, fate): self.fate, self.tasks, self.attempts = fate, {}, []
    def cluster_resources(self): return {'CPU': 2.0, 'GPU': 2.0}        # a cluster with GPUs: CPU rows must not book them
    def remote(self, **booked):
        self.booked = booked
        return lambda f: type('Task', (), dict(remote=lambda *a: self._submit(f, a)))
    def _submit(self, f, a): ref = object(); self.tasks[ref] = (f, a); return ref
    def wait(self, refs, num_returns): return refs[:num_returns], refs[num_returns:]
    def get(self, ref):
        f, a = self.tasks.pop(ref)
        self.attempts.append((a[0].name, a[4] if len(a) > 4 else 0))   # the row, and how long it would wait for the lock
        fate = self.fate[a[0].name]
        if fate: fate.pop(0)(a[0])
        return f(*a)

def test_a_retried_row_is_counted_by_how_it_ended_not_as_a_cached_one(tmp_path, capsys):
    """A worker can outlive its raylet by seconds and finish its row before the node's death reaches the sweep: the retry then
    finds the run finished, and the row is complete ('its attempt on the lost node had finished it'), not skipped. A row whose
    worker dies on every attempt fails after the retries, and its last attempt says why."""
    from vgg_report.runset import plan
    from vgg_report.sweep import SweepProgress
    from vgg_report.ray_tasks import _ray_run, RETRY_LOCK_WAIT_S
    jobs = plan('paper', ['VGG_08', 'VGG_38'], 'smoke', 'synthetic', tmp_path, device='cpu')
    def finish_then_die(job):      # what the lost node's worker wrote before it went
        job.folder.mkdir(parents=True)
        write_json(job.folder/'params.json', dict(config_hash=job.cfg.hash))
        write_json(job.folder/'metrics.json', dict(status='complete', config_hash=job.cfg.hash, val_acc=0.25, test_acc=0.5, best_epoch=2))
        raise NodeDiedError()
    def crash(job): raise WorkerCrashedError()
    ray = FakeRay({'VGG_38': [finish_then_die], 'VGG_08': [crash, crash]})
    progress = SweepProgress(jobs, 2)
    _ray_run(ray, jobs, None, False, 1, progress, 1)
    assert ray.attempts == [('VGG_08', 0), ('VGG_38', 0), ('VGG_08', RETRY_LOCK_WAIT_S), ('VGG_38', RETRY_LOCK_WAIT_S)]
    res = {r['row']: r for r in progress.results}
    assert res['VGG_38']['outcome'] == 'complete' and res['VGG_38']['metrics']['val_acc'] == 0.25
    assert res['VGG_38']['after_retry'] == 'its attempt on the lost node had finished it'
    assert res['VGG_08']['outcome'] == 'failed' and res['VGG_08']['error'] == 'its worker process died (WorkerCrashedError), after 1 retry'
    assert res['VGG_08']['retried'] == ['its worker process died (WorkerCrashedError)'] * 2 and res['VGG_08']['after_retry'] == 'not finished'
    out = capsys.readouterr().out
    assert '[sweep] VGG_38: its node died (NodeDiedError); retry 1/1, from its last checkpoint' in out
    assert 'VGG_38: complete: val acc 0.2500, test acc 0.5000 (finished on the lost node)' in out and 'already finished' not in out
    assert not (jobs[0].folder/'metrics.json').exists()      # the crashed row never ran: nothing written, nothing faked

def test_a_kernel_that_dies_as_it_starts_is_started_once_more(tmp_path, capsys):
    "A kernel dead before it answered (nothing ran) is started again once, with a line saying so; a second death is the error."
    from vgg_report.runner import _papermill, KERNEL_START_DIED
    from vgg_report.rundir import RunDir
    class Dies:
        def __init__(self, times): self.times, self.calls = times, 0
        def execute_notebook(self, *a, **k):
            self.calls += 1
            if self.calls <= self.times: raise RuntimeError(KERNEL_START_DIED)
            return 'executed'
    once, twice, other = Dies(1), Dies(2), Dies(0)
    assert _papermill(once, RunDir(tmp_path/'r'), {}, stream=False) == 'executed' and once.calls == 2
    assert 'r: its kernel died as it started (nothing ran); starting it once more' in capsys.readouterr().err
    with pytest.raises(RuntimeError, match=KERNEL_START_DIED): _papermill(twice, RunDir(tmp_path/'r'), {}, stream=False)
    assert twice.calls == 2
    assert _papermill(other, RunDir(tmp_path/'r'), {}, stream=False) == 'executed' and other.calls == 1
