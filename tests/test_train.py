"Issue: training engine, result files, exact resume, divergence, and vgg_run's parameter checks."
import math, os, signal, subprocess, time
import pandas as pd, pytest, torch
from conftest import BIN, ROOT, SMOKE_CFG as SMOKE, run_cli, call_cli, one_error_line, same
from vgg_report.config import RunConfig
from vgg_report.train import train_run
from vgg_report.rundir import read_json, load_checkpoint
from vgg_report.models import count_params, create_model

METRIC_KEYS = {'status', 'row', 'model', 'dataset', 'profile', 'config_hash', 'best_epoch', 'train_loss', 'train_acc', 'val_loss',
               'val_acc', 'test_loss', 'test_acc', 'final_epoch', 'final_train_loss', 'final_train_acc', 'final_val_loss',
               'final_val_acc', 'final_test_loss', 'final_test_acc', 'epochs_to_40', 'epochs_to_45', 'params', 'wall_seconds'}

def test_result_files_and_schema(reference):
    out, m = reference
    assert {p.name for p in out.iterdir() if not p.name.startswith('.')} == {'params.json', 'history.csv', 'grad_flow.csv', 'checkpoint.pt', 'checkpoint.prev.pt', 'metrics.json', 'tb'}
    assert set(m) == METRIC_KEYS and read_json(out/'metrics.json') == m
    assert m['status'] == 'complete' and m['params'] == count_params(create_model('vgg08')) and m['final_epoch'] == 3
    for k in ('train_acc', 'val_acc', 'test_acc', 'final_val_acc', 'final_test_acc'): assert 0 <= m[k] <= 1
    h = pd.read_csv(out/'history.csv')
    assert list(h.columns) == ['epoch', 'lr', 'train_loss', 'train_acc', 'val_loss', 'val_acc', 'seconds'] and h.epoch.tolist() == [1, 2, 3]
    best = h.loc[h.val_acc.idxmax()]                                  # idxmax: the earliest on ties
    assert m['best_epoch'] == best.epoch and m['val_acc'] == pytest.approx(best.val_acc) and m['train_loss'] == pytest.approx(best.train_loss)
    assert m['final_val_acc'] == pytest.approx(h.val_acc.iloc[-1])
    assert h.lr.iloc[0] == pytest.approx(1e-3) and h.lr.is_monotonic_decreasing
    g = pd.read_csv(out/'grad_flow.csv')
    assert list(g.columns) == ['epoch', 'layer', 'last_batch', 'epoch_mean'] and len(g) == 3 * 9
    assert g.layer.iloc[0] == 'input_conv_conv_0' and (g.epoch_mean > 0).all()
    p = read_json(out/'params.json')
    assert p['config_hash'] == m['config_hash'] == RunConfig(**SMOKE).hash
    for k in ('model', 'lr', 'batch_size', 'seed', 'epochs', 'dataset', 'n_train', 'precision', 'device', 'profile'): assert k in p
    assert {'torch', 'torchvision', 'python', 'vgg_report'} <= set(p['versions']) and p['git_commit'] and 'CPU' in p['device_name']
    import torchvision
    assert p['versions']['torchvision'] == torchvision.__version__ and p['versions']['torch'] == torch.__version__
    assert p['sizes'] == dict(train=300, val=100, test=100)

def test_same_seed_same_metrics_and_seed_matters(reference, tmp_path):
    _, m = reference
    assert same(train_run(RunConfig(**SMOKE), tmp_path/'again', progress='none'), m)
    other = train_run(RunConfig(**{**SMOKE, 'seed': 1}), tmp_path/'seed1', progress='none')
    assert other['config_hash'] != m['config_hash'] and other['final_train_loss'] != m['final_train_loss']

def test_finished_run_is_read_not_retrained(reference):
    out, m = reference
    before = (out/'checkpoint.pt').stat().st_mtime_ns
    assert train_run(RunConfig(**SMOKE), out, progress='none') == m
    assert (out/'checkpoint.pt').stat().st_mtime_ns == before


def _kill_after_first_checkpoint(cmd, out, timeout=240, **kw):
    p = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    t0 = time.time()
    while not (out/'history.csv').exists():                             # written just after the first checkpoint
        assert p.poll() is None, f'run ended before its first checkpoint: {p.stderr.read().decode()[-2000:]}'
        assert time.time() - t0 < timeout; time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    assert not (out/'metrics.json').exists()
    return len(pd.read_csv(out/'history.csv'))

def test_divergence_is_recorded_not_raised(tmp_path):
    m = train_run(RunConfig(**{**SMOKE, 'lr': 1e12}), tmp_path/'div', progress='none')
    assert m['status'] == 'diverged'
    h = pd.read_csv(tmp_path/'div/history.csv')
    last = h.iloc[-1][['train_loss', 'val_loss']].astype(float)
    assert len(h) >= 1 and not last.apply(math.isfinite).all()          # the history keeps the epoch that diverged
    assert m['best_epoch'] is None or m['best_epoch'] < len(h)
    assert read_json(tmp_path/'div/metrics.json')['status'] == 'diverged'

def test_bf16_is_an_option_recorded_with_the_run(tmp_path):
    m = train_run(RunConfig(**{**SMOKE, 'epochs': 2, 'precision': 'bf16'}), tmp_path/'bf16', progress='none')
    assert m['status'] == 'complete' and read_json(tmp_path/'bf16/params.json')['precision'] == 'bf16'
    assert m['config_hash'] != RunConfig(**{**SMOKE, 'epochs': 2}).hash

LEFT_OUT_STOPS = {'MetricsCB', 'DivergenceCB', 'ScheduleCB', 'GradFlowCB', 'HistoryCB', 'BestEpochCB', 'CheckpointCB',
                  'ResultsCB'}   # HParamsCB reads the metrics ResultsCB writes

def test_each_study_callback_left_out_ends_or_says_what_is_missing(tmp_path):
    """A fit of the study's callbacks with any one left out either ends its epochs with a best epoch and test metrics (no
    silent None), or stops before it starts, having written nothing, in one line naming the field a callback reads and the
    callback that writes it (VGG_08 on 64 synthetic images, two epochs)."""
    import re
    from vgg_report.train import study_callbacks
    from vgg_report.callbacks import Record, _loss
    from vgg_report.learner import Learner, MissingInput
    from vgg_report.data import load_data, batches
    from vgg_report.rundir import RunDir
    from vgg_report.core import seed_everything
    data, cpu = load_data('synthetic', None, 64, 32, 32), torch.device('cpu')
    cfg = RunConfig(model='vgg08', epochs=2, batch_size=16, n_train=64, n_val=32, n_test=32, device='cpu')
    stopped = set()
    for i in range(len(study_callbacks(cfg, RunDir(tmp_path/'all'), data, torch.Generator(), 'none', cpu))):
        folder, g = tmp_path/f'without-{i}', torch.Generator().manual_seed(0)
        cbs = study_callbacks(cfg, RunDir(folder), data, g, 'none', cpu)
        left_out = cbs.pop(i)
        seed_everything(0)
        model = create_model('vgg08')
        learn = Learner(model, lambda: batches(data.x_train, data.y_train, 16, g, train=True),
                        lambda: batches(data.x_val, data.y_val, 1000), _loss, torch.optim.Adam(model.parameters(), 1e-3),
                        cbs, Record())
        try: learn.fit(2)
        except MissingInput as e:
            said = re.fullmatch(r"(\w+) reads record\.(\w+), which no callback of this fit writes: add (\w+)", str(e))
            assert said and said[3] == type(left_out).__name__ and said[2] in left_out.writes, str(e)
            assert said[2] in next(cb for cb in cbs if type(cb).__name__ == said[1]).reads, str(e)
            assert learn.epoch == 0 and not folder.exists(), str(e)             # stopped before anything started
            stopped.add(said[3])
            continue
        m = learn.record.metrics
        assert learn.epoch == 2 and m['best_epoch'] in (1, 2) and m['test_acc'] is not None and m['status'] == 'complete'
    assert stopped == LEFT_OUT_STOPS

@pytest.mark.slow
def test_compiled_run_is_a_configuration_of_its_own_close_to_eager(reference, tmp_path):
    """--compile default: the same run as eager up to rounding, but not to the last bit, so a configuration of its own (its hash,
    its run set, issue 30); saved without torch.compile's wrapper; resumed compiled, never eager."""
    from vgg_report.core import UserError
    _, ref = reference
    cfg = RunConfig(**SMOKE, compile='default')
    assert cfg.hash != ref['config_hash']                               # the engine is part of the configuration
    assert train_run(cfg, tmp_path/'c', progress='none', stop_after=2) is None
    state = load_checkpoint(tmp_path/'c'/'checkpoint.pt')
    assert set(state['model']) == set(create_model('vgg08').state_dict())   # plain keys, no `_orig_mod.` prefix
    with pytest.raises(UserError, match='another configuration'): train_run(RunConfig(**SMOKE), tmp_path/'c', progress='none')
    m = train_run(cfg, tmp_path/'c', progress='none')                   # the last epoch compiled, as it started
    assert read_json(tmp_path/'c'/'params.json')['compile'] == 'default' and m['status'] == 'complete'
    for k in ('train_loss', 'val_loss', 'test_loss', 'final_test_loss'): assert m[k] == pytest.approx(ref[k], rel=1e-3), k
    for k in ('train_acc', 'val_acc', 'test_acc'): assert m[k] == pytest.approx(ref[k], abs=0.02), k
    h, g = pd.read_csv(tmp_path/'c'/'history.csv'), pd.read_csv(tmp_path/'c'/'grad_flow.csv')
    assert h.epoch.tolist() == [1, 2, 3] and len(g) == 3 * 9 and (g.epoch_mean > 0).all()   # the hooks saw the compiled steps

@pytest.mark.slow
def test_compile_failure_is_one_line_and_exit_2(tmp_path):
    "No working C++ compiler for inductor (CXX=/bin/false, a fresh compile cache): one line naming --compile off, no traceback."
    r = call_cli('vgg_run', '--model', 'vgg08', '--compile', 'default', '--profile', 'smoke', '--dataset', 'synthetic', '--device', 'cpu',
                 '--runs_dir', tmp_path/'runs', env={'CXX': '/bin/false', 'TORCHINDUCTOR_CACHE_DIR': str(tmp_path/'inductor')})
    errs = [l for l in r.stderr.splitlines() if l.startswith('error:')]
    assert r.returncode == 2 and len(errs) == 1, r.stdout[-2000:] + r.stderr[-3000:]
    assert '--compile default failed' in errs[0] and 'compiler' in errs[0] and 'run again with --compile off' in errs[0], errs[0]
    assert 'Traceback' not in r.stderr

BAD = [
    (['--row', 'BN-x3'], '--row', 'BN-Baseline'),
    (['--model', 'vgg16'], '--model', 'vgg38_bn_rc'),
    (['--model', 'vgg08', '--lr', '0'], '--lr', '> 0'),
    (['--model', 'vgg08', '--lr=-1e-3'], '--lr', '> 0'),
    (['--model', 'vgg08', '--lr', '-1e-3'], '--lr', 'expected one argument'),
    (['--model', 'vgg08', '--bogus', '1'], '--bogus', 'unrecognized'),
    (['--model', 'vgg08', '--lr', 'fast'], '--lr', 'a number'),
    (['--model', 'vgg08', '--batch_size', '0'], '--batch_size', '≥ 1'),
    (['--model', 'vgg08', '--epochs', '0'], '--epochs', '≥ 1'),
    (['--model', 'vgg08', '--n_train', '50000'], '--n_train', '1..47500'),
    (['--model', 'vgg08', '--device', 'tpu'], '--device', 'auto, cpu, cuda'),
    (['--model', 'vgg08', '--precision', 'fp16'], '--precision', 'fp32, bf16'),
    (['--model', 'vgg08', '--compile', 'fast'], '--compile', 'off, default, reduce-overhead, max-autotune'),
    (['--model', 'vgg08', '--profile', 'huge'], '--profile', 'auto, full, quick, smoke'),
    (['--model', 'vgg08', '--dataset', 'imagenet'], '--dataset', 'auto, cifar100, synthetic'),
    (['--model', 'vgg08', '--runs_dir', '/proc/no_such_dir/runs'], '--runs_dir', 'not writable'),
]

def _bad_run(run, args, tmp_path):
    "vgg_run with `args`, on the smoke profile, the synthetic data and a fresh runs folder unless `args` says otherwise."
    defaults = {'--dataset': 'synthetic', '--profile': 'smoke', '--runs_dir': tmp_path/'runs'}
    r = run('vgg_run', *args, *[x for k, v in defaults.items() if k not in args for x in (k, v)])
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    assert not any((tmp_path/'runs').rglob('params.json'))              # nothing was started
    return one_error_line(r)

@pytest.mark.parametrize('args,param,valid', BAD, ids=[' '.join(a[1:]) for a, _, _ in BAD])
def test_bad_parameters_one_line_exit_2(args, param, valid, tmp_path):
    "Every bad flag, through vgg_run's entry point in this process: one `error:` line naming the flag and what is valid, exit 2."
    err = _bad_run(call_cli, args, tmp_path)
    assert param in err and valid in err, err

def test_bad_parameter_in_a_real_process(tmp_path):
    "The same outcome from a real vgg_run process: what a shell sees is one line and exit status 2."
    err = _bad_run(run_cli, ['--model', 'vgg08', '--lr', 'fast'], tmp_path)
    assert '--lr' in err and 'a number' in err, err

@pytest.mark.slow
@pytest.mark.long
def test_vgg_run_end_to_end_kill_resume_and_force(tmp_path, reference):
    "vgg_run through papermill: killed after its first checkpoint, run again to the same metrics; finished runs are kept."
    args = ['--model', 'vgg08', '--epochs', '3', '--n_train', '300', '--n_val', '100', '--n_test', '100', '--dataset', 'synthetic',
            '--device', 'cpu', '--runs_dir', str(tmp_path), '--name', 'k']
    out = tmp_path/'custom-synthetic'/'k'
    _kill_after_first_checkpoint([str(BIN/'vgg_run'), *args], out, cwd=ROOT)
    time.sleep(2.5)                                                     # the orphaned kernel notices and exits
    h_before = (out/'history.csv').read_bytes()
    time.sleep(2); assert (out/'history.csv').read_bytes() == h_before   # nothing writes there any more
    r = run_cli('vgg_run', *args)
    assert r.returncode == 0 and 'resuming' in r.stdout + r.stderr, r.stdout + r.stderr
    m = read_json(out/'metrics.json')
    _, ref = reference
    assert same({**m, 'row': ref['row'], 'profile': ref['profile']}, ref)   # same numbers as the in-process reference
    assert (out/'experiment.ipynb').exists()
    r = call_cli('vgg_run', *args)                    # in this process from here: the real one above showed what a shell sees
    assert r.returncode == 0 and 'already complete' in r.stdout
    r = call_cli('vgg_run', *args, '--force')
    assert r.returncode == 0 and len(list(out.parent.glob('k.old-*'))) == 1 and same(read_json(out/'metrics.json'), m)

@pytest.mark.slow
def test_vgg_run_row_diverged_exit_0(tmp_path):
    """vgg_run of a run that diverges (lr 1e12) exits 0 and says diverged: a diverged run is a result, not an error."""
    r = call_cli('vgg_run', '--model', 'vgg08', '--lr', '1e12', '--profile', 'smoke', '--dataset', 'synthetic', '--runs_dir', tmp_path, '--name', 'div')
    assert r.returncode == 0 and 'diverged' in r.stdout, r.stdout + r.stderr
