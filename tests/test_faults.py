"""Issue: reliability. Every fault is provoked for real (signals, damaged files, resource limits, held locks) on smoke-sized
synthetic runs, and the outcome is asserted: no work lost, no wrong result left behind, one clear line for what the user must fix."""
import json, os, resource, shutil, signal, subprocess, sys, time
import pandas as pd, pytest
from conftest import BIN, ROOT, SMOKE_CFG as CFG, run_cli, call_cli, one_error_line, run_notebook_here, same
from vgg_report.runset import load_run_set
from vgg_report.report import write_report_files
from vgg_report.rundir import RunDir, read_json, write_json, load_checkpoint, CHECKPOINT, PREVIOUS
from vgg_report.config import RunConfig
from vgg_report.train import train_run

CLI_CFG = ['--model', 'vgg08', '--epochs', '3', '--n_train', '300', '--n_val', '100', '--n_test', '100', '--dataset', 'synthetic', '--device', 'cpu']

def assert_like_reference(out, reference):
    ref_out, ref = reference
    assert same(read_json(out/'metrics.json'), ref)
    cols = ['epoch', 'lr', 'train_loss', 'train_acc', 'val_loss', 'val_acc']
    pd.testing.assert_frame_equal(pd.read_csv(out/'history.csv')[cols], pd.read_csv(ref_out/'history.csv')[cols])
    pd.testing.assert_frame_equal(pd.read_csv(out/'grad_flow.csv'), pd.read_csv(ref_out/'grad_flow.csv'))

def assert_tensorboard_has_each_epoch_once(out, epochs=CFG['epochs']):
    """TensorBoard's own reader sees every scalar of the run (losses, accuracies, lr, seconds, each layer's gradient flow) once per epoch,
    and the results of the HParams dashboard once, at the last epoch."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from vgg_report.saving import RESULTS
    acc = EventAccumulator(str(out/'tb'), size_guidance={'scalars': 0}); acc.Reload()
    steps = {t: [s.step for s in acc.Scalars(t)] for t in acc.Tags()['scalars']}
    results = {t: steps.pop(t) for t in list(steps) if t.startswith('result/')}
    assert results == {f'result/{k}': [epochs] for k in RESULTS}, results
    layers = pd.read_csv(out/'grad_flow.csv').layer.unique()
    assert len([t for t in steps if t.startswith('grad_flow/')]) == len(layers) and {'loss/train', 'accuracy/val', 'schedule/lr'} <= set(steps)
    assert steps == {t: list(range(1, epochs + 1)) for t in steps}, steps
    h = pd.read_csv(out/'history.csv')
    assert [s.value for s in acc.Scalars('loss/val')] == pytest.approx(h.val_loss.tolist(), rel=1e-6)

def assert_readers_see_valid_files(out):
    "Every file a reader would open parses; half-written data lives only under hidden temporary names."
    read_json(out/'params.json'); pd.read_csv(out/'history.csv'); pd.read_csv(out/'grad_flow.csv')
    if (out/'metrics.json').exists(): read_json(out/'metrics.json')
    good = [p for p in (out/CHECKPOINT, out/PREVIOUS) if p.exists()]
    assert good and all(load_checkpoint(p)['config_hash'] == RunConfig(**CFG).hash for p in good)
    h = pd.read_csv(out/'history.csv')
    assert len(h) == load_checkpoint(good[0])['epoch'], 'the history runs ahead of the checkpoint'

# A training process with one fault injected at the n-th time its point is reached. The fault is real: the process kills itself
# with SIGKILL (after writing half of a file where the point is a write), or raises SIGINT at itself as Ctrl-C would.
_FAULTY = r'''
import os, signal, sys
from pathlib import Path
import torch; torch.set_num_threads(1)
import vgg_report.train as T
import vgg_report.config as C
import vgg_report.rundir as RD
cfg, out, point, n = eval(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
count = [0]
def hit():
    count[0] += 1
    return count[0] == n
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if point in ('step', 'sigint'):
    step = torch.optim.Adam.step
    def faulty_step(self, *a, **k):
        r = step(self, *a, **k)
        if hit(): die() if point == 'step' else signal.raise_signal(signal.SIGINT)
        return r
    torch.optim.Adam.step = faulty_step
elif point in ('checkpoint.pt', 'metrics.json'):
    write = RD.atomic_write
    def faulty_write(path, data, keep=None):
        if Path(path).name == point and hit():
            blob = data if isinstance(data, bytes) else data.encode()
            Path(path).with_name(f'.{Path(path).name}.tmp{os.getpid()}').write_bytes(blob[:len(blob) // 2]); die()
        return write(path, data, keep)
    RD.atomic_write = faulty_write
elif point == 'rotate':                                   # between keeping the old checkpoint and renaming the new one in
    replace = os.replace
    def faulty_replace(src, dst):
        replace(src, dst)
        if Path(dst).name == RD.PREVIOUS and hit(): die()
    os.replace = faulty_replace
T.train_run(C.RunConfig(**cfg), out, progress='none')
'''

def run_faulty(out, point, n, cfg=CFG):
    return subprocess.run([sys.executable, '-c', _FAULTY, repr(cfg), str(out), point, str(n)], capture_output=True, text=True, timeout=300)

# 1. Kills -------------------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('point,n,epochs_saved', [
    ('step', 5, 1),              # SIGKILL in the middle of epoch 2 (its second batch)
    ('checkpoint.pt', 2, 1),     # SIGKILL half-way through writing epoch 2's checkpoint
    ('rotate', 1, 1),            # SIGKILL after the old checkpoint was kept aside, before the new one was renamed in
    ('metrics.json', 1, 3),      # SIGKILL half-way through writing metrics.json, after the last epoch
], ids=['during-epoch', 'during-checkpoint-write', 'during-checkpoint-rotation', 'during-metrics-write'])
def test_sigkill_then_resume_is_exact(tmp_path, reference, point, n, epochs_saved):
    out = tmp_path/'run'
    r = run_faulty(out, point, n)
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    assert not (out/'metrics.json').exists() and RunDir(out).status(RunConfig(**CFG).hash) == 'partial'
    if point != 'rotate': assert_readers_see_valid_files(out)
    ck = out/CHECKPOINT if (out/CHECKPOINT).exists() else out/PREVIOUS
    assert load_checkpoint(ck)['epoch'] == epochs_saved
    if point in ('checkpoint.pt', 'metrics.json'): assert list(out.glob(f'.{point}.tmp*')), 'the half-written file should be there'
    train_run(RunConfig(**CFG), out, progress='none')
    assert not list(out.glob('.*.tmp*')) and not list(out.glob('*.corrupt-*'))
    assert_like_reference(out, reference)
    assert_tensorboard_has_each_epoch_once(out)

# 2. Corruption -----------------------------------------------------------------------------------------------------------------

def _partial(tmp_path, epochs=2):
    out = tmp_path/'run'
    assert train_run(RunConfig(**CFG), out, progress='none', stop_after=epochs) is None
    return out

@pytest.mark.parametrize('damage', ['truncate', 'flip-byte', 'garbage', 'empty'])
def test_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path, reference, capfd, damage):
    out = _partial(tmp_path)
    ck = out/CHECKPOINT; blob = bytearray(ck.read_bytes())
    if damage == 'truncate': ck.write_bytes(bytes(blob[:len(blob) // 3]))
    elif damage == 'flip-byte': blob[len(blob) // 2] ^= 0x01; ck.write_bytes(bytes(blob))
    elif damage == 'garbage': ck.write_bytes(os.urandom(len(blob)))
    else: ck.write_bytes(b'')
    capfd.readouterr()
    train_run(RunConfig(**CFG), out, progress='lines')
    err = capfd.readouterr().err
    warn = [l for l in err.splitlines() if l.startswith('warning:')]
    assert len(warn) == 1 and 'checkpoint.pt is corrupt' in warn[0] and f'resuming from {PREVIOUS} (epoch 1)' in warn[0], err
    aside = list(out.glob('checkpoint.pt.corrupt-*'))
    assert len(aside) == 1 and aside[0].stat().st_size == (0 if damage == 'empty' else len(blob) // 3 if damage == 'truncate' else len(blob))
    assert_like_reference(out, reference)

def test_no_good_checkpoint_starts_again_from_scratch(tmp_path, reference, capfd):
    out = _partial(tmp_path)
    for name in (CHECKPOINT, PREVIOUS): (out/name).write_bytes((out/name).read_bytes()[:-100])
    capfd.readouterr()
    train_run(RunConfig(**CFG), out, progress='lines')
    err = capfd.readouterr().err
    assert 'no good checkpoint is left, so the run starts again from scratch' in err and len(list(out.glob('*.corrupt-*'))) == 2, err
    assert_like_reference(out, reference)

@pytest.mark.slow
def test_corrupt_checkpoint_through_vgg_run(tmp_path, reference):
    "The same through the CLI and papermill: one warning line, and the run completes with the reference's metrics."
    out = tmp_path/'custom-synthetic'/'c'
    assert train_run(RunConfig(**{**CFG, 'row': 'c'}), out, progress='none', stop_after=2) is None
    (out/CHECKPOINT).write_bytes(b'VGGCKPT1' + os.urandom(100))
    r = call_cli('vgg_run', *CLI_CFG, '--runs_dir', tmp_path, '--name', 'c')     # vgg_run in this process, the kernel in its own
    assert r.returncode == 0 and 'checksum mismatch' in r.stderr and 'resuming from checkpoint.prev.pt' in r.stderr, r.stderr[-3000:]
    assert same({**read_json(out/'metrics.json'), 'row': 'custom', 'profile': 'custom'}, {**reference[1], 'profile': 'custom'})

def test_corrupt_dataset_archive_one_line_names_the_file(tmp_path):
    from vgg_report.data import write_cifar_like
    data = tmp_path/'data'; archive = write_cifar_like(data, n_train=100, n_test=20)
    archive.write_bytes(archive.read_bytes()[:len(archive.read_bytes()) // 2])
    r = call_cli('vgg_run', '--model', 'vgg08', '--profile', 'smoke', '--dataset', 'cifar100', '--data_dir', data, '--runs_dir', tmp_path/'runs')
    assert r.returncode == 2 and str(archive) in one_error_line(r), r.stderr[-2000:]
    assert not list((tmp_path/'runs').rglob('params.json')) and not list((tmp_path/'runs').rglob(CHECKPOINT))

# 3. Bad input ----------------------------------------------------------------------------------------------------------------

BAD_PARAMETERS = [
    (dict(learning_rate=0.1), ['unknown parameter learning_rate', 'lr']),
    (dict(lr='fast'), ['--lr must be a number']),
    (dict(batch_size=2.5), ['--batch_size must be an integer']),
    (dict(epochs=0), ['--epochs must be ≥ 1']),
    (dict(model='vgg16'), ['vgg16', 'vgg38_bn_rc']),
    (dict(n_train=10**6), ['--n_train', '1..47500']),
    (dict(progress='loud'), ['--progress', 'bar, lines or none']),
]

@pytest.mark.parametrize('params,names', BAD_PARAMETERS, ids=[next(iter(p)) for p, _ in BAD_PARAMETERS])
def test_bad_papermill_parameters(tmp_path, params, names):
    "Each bad parameter, injected after the experiment notebook's parameters cell as papermill does, run here: one-line UserError."
    out = tmp_path/'run'
    e = run_notebook_here(ROOT/'nbs/experiment.ipynb', dict(out_dir=str(out), **params))
    assert type(e).__name__ == 'UserError' and '\n' not in str(e) and all(n in str(e) for n in names), repr(e)
    assert not (out/'params.json').exists()

@pytest.mark.slow
def test_bad_papermill_parameter_through_papermill(tmp_path):
    "The same through papermill and a real kernel: the error reaches papermill's caller as a UserError, one line, nothing written."
    import papermill as pm
    out = tmp_path/'run'
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(ROOT/'nbs/experiment.ipynb'), str(tmp_path/'out.ipynb'), parameters=dict(out_dir=str(out), learning_rate=0.1),
                            kernel_name='vgg_report', cwd=str(ROOT/'nbs'), progress_bar=False)
    assert e.value.ename == 'UserError' and '\n' not in e.value.evalue and 'unknown parameter learning_rate' in e.value.evalue, e.value.evalue
    assert not (out/'params.json').exists()

GRID_TYPOS = [
    ('name,model,lr\nA,vgg38-bn,1e-3\n', 'line 2: model', 'vgg38_bn'),
    ('name,modle,lr\nA,vgg08,1e-3\n', "line 1: unknown column 'modle'", 'name, model, lr, batch_size, seed'),
    ('name,model,lr\nA,vgg08,1e-3x\n', 'line 2: lr must be a number', "'1e-3x'"),
    ('name,model,lr,batch_size\nA,vgg08,1e-3,0\n', 'line 2: batch_size must be ≥ 1', ''),
    ('name,model,lr\n# comment\nA,vgg08,1e-3,7\n', 'line 3: 4 values for 3 columns', ''),
    ('name,model,lr\nVGG_38,vgg38_bn,1e-3\n', "'VGG_38' is a row of the built-in grid", 'another name'),
]

@pytest.mark.parametrize('text,where,valid', GRID_TYPOS, ids=[w for _, w, _ in GRID_TYPOS])
def test_grid_file_typo(tmp_path, text, where, valid):
    "Each typo, through vgg_sweep's and vgg_status's entry points here: one line naming the file, the line and what is valid."
    grid = tmp_path/'mine.csv'; grid.write_text(text)
    for cmd in ('vgg_sweep', 'vgg_status'):
        r = call_cli(cmd, '--grid', grid, '--profile', 'smoke', '--dataset', 'synthetic', '--runs_dir', tmp_path/'runs')
        err = one_error_line(r)
        assert r.returncode == 2 and str(grid) in err and where in err and valid in err, err
    assert not (tmp_path/'runs').exists() or not any((tmp_path/'runs').rglob('*.json'))

def test_grid_file_errors_in_real_processes(tmp_path):
    """A typo (vgg_sweep) and a missing grid file (vgg_status) from real processes, as a shell sees them: one line, exit 2,
    nothing written (both errors of both commands in this process: test_grid_file_typo, and the missing file below)."""
    grid = tmp_path/'mine.csv'; grid.write_text(GRID_TYPOS[0][0])
    r = run_cli('vgg_sweep', '--grid', grid, '--profile', 'smoke', '--dataset', 'synthetic', '--runs_dir', tmp_path/'runs')
    assert r.returncode == 2 and GRID_TYPOS[0][1] in one_error_line(r)
    for run, cmd in ((run_cli, 'vgg_status'), (call_cli, 'vgg_sweep')):
        r = run(cmd, '--grid', tmp_path/'nothere.csv', '--profile', 'smoke', '--dataset', 'synthetic', '--runs_dir', tmp_path/'runs')
        assert r.returncode == 2 and 'cannot be read' in one_error_line(r), cmd
    assert not (tmp_path/'runs').exists()

@pytest.mark.parametrize('env,cmd,msg', [
    ({'VGG_REPORT_RUNS': '/proc/no/runs'}, 'vgg_sweep', 'not writable'),
    ({'VGG_REPORT_RUNS': '/proc/no/runs'}, 'vgg_run', 'not writable'),
    ({'VGG_REPORT_ROOT': '/tmp'}, 'vgg_run', 'not a vgg_report checkout'),
    ({'VGG_REPORT_DATA': '/nonexistent/data'}, 'vgg_run', 'cannot be downloaded'),
])
def test_bad_environment_variables(tmp_path, env, cmd, msg):
    ds = 'cifar100' if 'VGG_REPORT_DATA' in env else 'synthetic'
    args = ['--profile', 'smoke', '--dataset', ds] + (['--model', 'vgg08'] if cmd == 'vgg_run' else ['--only', 'VGG_08'])
    if 'VGG_REPORT_RUNS' not in env: args += ['--runs_dir', tmp_path/'runs']
    r = call_cli(cmd, *args, env=env)
    assert r.returncode == 2 and msg in one_error_line(r)
    assert not any(tmp_path.rglob('params.json'))

def _limit_file_size(nbytes):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

@pytest.mark.slow
def test_full_disk_mid_run_one_line_and_nothing_lost(tmp_path, reference):
    "A write that fails (here: a file-size limit, as a full disk would) stops the run in one line, exit 2, with its checkpoint intact."
    out = tmp_path/'custom-synthetic'/'f'
    assert train_run(RunConfig(**{**CFG, 'row': 'f'}), out, progress='none', stop_after=1) is None
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and not p.name.startswith('.')}
    limit = (out/CHECKPOINT).stat().st_size // 2
    r = subprocess.run([str(BIN/'vgg_run'), *CLI_CFG, '--runs_dir', str(tmp_path), '--name', 'f'], capture_output=True, text=True,
                       cwd=ROOT, timeout=300, preexec_fn=_limit_file_size(limit))
    err = one_error_line(r)
    assert r.returncode == 2 and 'cannot write' in err and 'File too large' in err and 'resumes' in err, err
    for name, data in before.items():
        if name not in ('experiment.ipynb', 'history.csv', 'grad_flow.csv'): assert (out/name).read_bytes() == data, name
    assert load_checkpoint(out/CHECKPOINT)['epoch'] == 1 and not list(out.glob('.*.tmp*')) and not (out/'metrics.json').exists()
    r = call_cli('vgg_run', *CLI_CFG, '--runs_dir', tmp_path, '--name', 'f')     # the resume: vgg_run in this process
    assert r.returncode == 0, r.stderr[-2000:]
    assert same({**read_json(out/'metrics.json'), 'row': 'custom', 'profile': 'custom'}, {**reference[1], 'profile': 'custom'})

# 4. Divergence ---------------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_diverged_row_is_recorded_and_the_sweep_goes_on(tmp_path):
    """A grid row whose loss becomes non-finite (lr 1e12) is recorded as diverged with its history, the sweep goes on to the
    next row and exits 0, and vgg_status says diverged and complete."""
    grid = tmp_path/'grid.csv'; grid.write_text('name,model,lr\nhuge-lr,vgg08,1e12\nfine,vgg08,1e-3\n')
    r = call_cli('vgg_sweep', '--grid', grid, '--profile', 'smoke', '--dataset', 'synthetic', '--runs_dir', tmp_path, '--jobs', '1')
    assert r.returncode == 0 and '1 diverged' in r.stdout and '1 complete' in r.stdout, r.stdout[-3000:]
    out = tmp_path/'smoke-synthetic'/'huge-lr'
    m = read_json(out/'metrics.json')
    assert m['status'] == 'diverged' and len(pd.read_csv(out/'history.csv')) >= 1
    st = call_cli('vgg_status', '--grid', grid, '--profile', 'smoke', '--dataset', 'synthetic', '--runs_dir', tmp_path, '--json')
    assert {d['row']: d['status'] for d in json.loads(st.stdout)} == {'huge-lr': 'diverged', 'fine': 'complete'}

# 5. Concurrency --------------------------------------------------------------------------------------------------------------

def _hold(path):
    "A process holding an flock on `path` (as a running sweep or kernel does) until killed."
    p = subprocess.Popen([sys.executable, '-c', f'import fcntl,os,time; f=open({str(path)!r},"a+"); fcntl.flock(f, fcntl.LOCK_EX); '
                          f'f.write(str(os.getpid())); f.flush(); print(1, flush=True); time.sleep(600)'], stdout=subprocess.PIPE)
    assert p.stdout.readline().strip() == b'1'
    return p

@pytest.mark.slow
def test_report_during_a_sweep_uses_only_finished_runs(paper, tmp_path):
    "While a sweep runs one row and another has just diverged, the report shows them as running and diverged, never as numbers."
    runs, _ = paper
    base = tmp_path/'runs'/'smoke-synthetic'
    shutil.copytree(runs/'smoke-synthetic', base)
    (base/'bn-x2'/'metrics.json').unlink()                       # BN-x2: mid-run in another process, its lock held
    holder = _hold(base/'.bn-x2.lock')
    m = read_json(base/'bn-x45'/'metrics.json')                   # BN-x45: its loss became non-finite in epoch 2
    m.update(status='diverged', val_loss=None, final_train_loss=None, final_val_loss=None, final_val_acc=None, final_test_acc=None, final_test_loss=None)
    write_json(base/'bn-x45'/'metrics.json', m)
    try: write_report_files(load_run_set('smoke', 'synthetic', tmp_path/'runs'), 'smoke', 'synthetic', tmp_path/'out')   # what the report notebook does
    finally: holder.kill(); holder.wait()
    tabs = tmp_path/'out'/'report'/'tables'
    batch = (tabs/'tab_3_batch_loss.tex').read_text(); lr = (tabs/'tab_2_lr_acc.tex').read_text()
    x2 = next(l for l in batch.splitlines() if l.startswith('BN-x2 '))
    x45 = next(l for l in lr.splitlines() if l.startswith('BN-x45 '))
    assert x2.count('running') == 3 and x45.count('diverged') >= 3, (x2, x45)
    paper_vs = (tabs/'tab_paper_vs_ours.tex').read_text()
    assert all('diverged' in l for l in paper_vs.splitlines() if l.startswith('BN-x45 '))
    assert '\\newcommand{\\NumDiverged}{1}' in (tmp_path/'out'/'report'/'numbers.tex').read_text()

# 6. Interrupts ---------------------------------------------------------------------------------------------------------------

def test_ctrl_c_mid_epoch_saves_where_it_is_and_resumes_exactly(tmp_path, reference):
    out = tmp_path/'run'
    r = run_faulty(out, 'sigint', 5)                  # Ctrl-C during the second batch of epoch 2
    assert r.returncode != 0 and 'stopped at batch 2 of epoch 2/3' in r.stderr, r.stderr[-2000:]
    saved = load_checkpoint(out/CHECKPOINT)
    assert saved['epoch'] == 1 and saved['partial']['batch'] == 2 and len(pd.read_csv(out/'history.csv')) == 1
    train_run(RunConfig(**CFG), out, progress='none')
    assert_like_reference(out, reference)
    assert_tensorboard_has_each_epoch_once(out)

def _wait(cond, p, timeout=240):
    t0 = time.time()
    while not cond():
        assert p.poll() is None, p.communicate()[0][-3000:]
        assert time.time() - t0 < timeout; time.sleep(0.05)

LONG = ['--model', 'vgg08', '--epochs', '2', '--n_train', '4000', '--n_val', '200', '--n_test', '200', '--dataset', 'synthetic', '--device', 'cpu']

@pytest.mark.slow
@pytest.mark.long
def test_ctrl_c_stops_vgg_run_within_seconds_and_it_resumes(tmp_path):
    """Ctrl-C (SIGINT to vgg_run's process group) well into an epoch: exit 130 within 15 s, the line that says how to
    resume, no kernel left training; the same command again ends with the metrics of an uninterrupted run."""
    out = tmp_path/'custom-synthetic'/'i'
    p = subprocess.Popen([str(BIN/'vgg_run'), *LONG, '--runs_dir', str(tmp_path), '--name', 'i'], cwd=ROOT, start_new_session=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait(lambda: RunDir(out).trainer_pid() is not None, p)           # the kernel trains
    time.sleep(3)                                                      # well into the first epoch
    t0 = time.time(); os.killpg(p.pid, signal.SIGINT)                  # what Ctrl-C in a terminal does
    text, _ = p.communicate(timeout=60)
    assert p.returncode == 130 and time.time() - t0 < 15, text[-3000:]
    assert 'interrupted:' in text and 'run the same command again to resume' in text, text[-3000:]
    time.sleep(1); assert RunDir(out).trainer_pid() is None and not RunDir(out).busy    # no kernel left training
    assert not (out/'metrics.json').exists()
    r = call_cli('vgg_run', *LONG, '--runs_dir', tmp_path, '--name', 'i')        # the resume: vgg_run in this process
    assert r.returncode == 0 and 'complete' in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    ref = train_run(RunConfig(model='vgg08', epochs=2, n_train=4000, n_val=200, n_test=200, device='cpu', dataset='synthetic'),
                    tmp_path/'ref', progress='none')
    assert same({**read_json(out/'metrics.json'), 'row': 'custom', 'profile': 'custom'}, {**ref, 'profile': 'custom'})
