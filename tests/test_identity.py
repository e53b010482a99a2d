"""Issue 22: one configuration, one result: defaults hash as one, and no command trips a new user (read-only folders, a typo in a
path, a file where a folder should be, a dry run, the papermill path, `make lab` as root). That the run sets its own thread count
is test_sweep.py's: a row swept on Ray under OMP_NUM_THREADS=2 (the paper fixture), swept under 1, resumed by vgg_run with it unset."""
import json, os, subprocess, sys
from dataclasses import replace
from pathlib import Path
import pytest
from conftest import ROOT, BIN, call_cli, one_error_line
from vgg_report.core import UserError
from vgg_report.process import FileLock
from vgg_report.config import RunConfig
from vgg_report.rundir import read_json

SMOKE = ['--profile', 'smoke', '--dataset', 'synthetic']

def test_defaults_and_their_explicit_values_hash_as_one():
    assert RunConfig(n_train=47_500, n_val=2_500, n_test=10_000).validate().hash == RunConfig().validate().hash
    assert RunConfig(threads=1).validate().hash == RunConfig().validate().hash != RunConfig(threads=2).validate().hash
    with pytest.raises(UserError, match="--profile 'nonsense' is not a run's profile"): RunConfig(profile='nonsense').validate()

def test_a_lock_check_never_takes_the_lock(tmp_path):
    """Another process checking a row's lock in a loop (vgg_status, the report) never makes an attempt to take it fail: the check
    used to hold the lock for a moment, and refused about one attempt in six here."""
    path = tmp_path/'.row.lock'
    path.write_text('')
    code = (f"import time\nfrom vgg_report.process import FileLock\nl = FileLock({str(path)!r}); print(1, flush=True)\n"
            f"t = time.time()\nwhile time.time() - t < 3: l.locked_elsewhere()\n")
    p = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == '1'
    lock, refused, tries = FileLock(path), 0, 0
    while p.poll() is None:
        refused += not lock.acquire()
        lock.release(); tries += 1
    assert p.returncode == 0 and refused == 0 and tries > 100, (refused, tries)

def test_a_grid_row_never_takes_a_built_in_rows_folder(tmp_path):
    (tmp_path/'g.csv').write_text('name,model,lr\nBN RC,vgg38_bn_rc,1e-3\n')
    r = call_cli('vgg_sweep', '--grid', tmp_path/'g.csv', *SMOKE, '--runs_dir', tmp_path/'runs', '--dry_run')
    assert r.returncode == 2 and "would share the folder 'bn-rc' of the built-in row 'BN+RC'" in one_error_line(r)

def test_paths_that_are_files_or_missing_are_one_line(tmp_path):
    f = tmp_path/'afile'; f.write_text('x')
    r = call_cli('vgg_sweep', *SMOKE, '--only', 'VGG_08', '--runs_dir', f)
    assert r.returncode == 2 and f'--runs_dir {f}: {f} is a file, not a folder' in one_error_line(r)
    r = call_cli('vgg_sweep', *SMOKE, '--only', 'VGG_08', env={'VGG_REPORT_RUNS': f})
    assert r.returncode == 2 and one_error_line(r).startswith(f'error: $VGG_REPORT_RUNS {f}: ')
    r = call_cli('vgg_status', *SMOKE, '--runs_dir', tmp_path/'runz')
    assert r.returncode == 2 and f'--runs_dir {tmp_path/"runz"} does not exist' in one_error_line(r)
    r = call_cli('vgg_build_report', *SMOKE, '--runs_dir', tmp_path/'runz', '--out', f)
    assert r.returncode == 2 and f'--out {f}' in one_error_line(r) and 'is a file' in one_error_line(r)

def test_a_dry_run_writes_nothing(tmp_path):
    r = call_cli('vgg_sweep', *SMOKE, '--only', 'VGG_08', '--runs_dir', tmp_path/'new', '--dry_run')
    assert r.returncode == 0 and 'VGG_08' in r.stdout and not (tmp_path/'new').exists(), r.stdout + r.stderr

def test_the_experiment_notebook_checks_its_profile_and_says_where_results_go(tmp_path, monkeypatch):
    from vgg_report.runner import notebook_run
    from vgg_report.config import PROFILES
    monkeypatch.setenv('VGG_REPORT_RUNS', str(tmp_path))
    cfg, out = notebook_run(dict(profile='quick', epochs=2, n_train=200))
    assert (cfg.epochs, cfg.n_train, cfg.n_val) == tuple(PROFILES['quick'][k] for k in ('epochs', 'n_train', 'n_val'))    # -p profile quick is the profile
    assert out == tmp_path/'quick-synthetic'/'vgg08-lr0.001-bs100-seed0' and out.is_dir()
    cfg, out = notebook_run(dict(row='BN-Baseline', model='vgg38_bn', profile='custom'), str(tmp_path/'mine'))
    assert out == tmp_path/'mine' and cfg.epochs == 2                                           # custom keeps its own sizes
    assert notebook_run(dict(row='BN-Baseline', profile='smoke'))[1].name == 'bn-baseline'

def test_make_lab_works_as_root():
    r = subprocess.run(['make', '-s', '-o', 'install', 'lab', 'JUPYTER=echo'], capture_output=True, text=True, cwd=ROOT,
                       timeout=600)   # `-o install`: the recipe only (a settings.ini newer than the venv's stamp reinstalls it)
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip().splitlines()[-1]
    assert line.split()[0] == 'lab' and (('--allow-root' in line) == (os.geteuid() == 0)), line

@pytest.mark.slow
def test_papermill_by_hand_refuses_a_bad_profile(tmp_path):
    """The notebook's first cell stops: of what the kernel reports, papermill prints one line, the UserError's (IPython shows a
    UserError so), under papermill's own traceback; 62 lines in all before, 35 now (papermill 2.7)."""
    r = subprocess.run([str(BIN/'papermill'), str(ROOT/'nbs/experiment.ipynb'), str(tmp_path/'o.ipynb'), '-p', 'profile', 'nonsense',
                        '-k', 'vgg_report', '--cwd', str(ROOT/'nbs')], capture_output=True, text=True, env={**os.environ, 'VGG_REPORT_RUNS': str(tmp_path)})
    lines = (r.stdout + r.stderr).splitlines()
    kernel = [line for line in lines[next(i for i, line in enumerate(lines) if line.startswith('Exception encountered at')) + 1:] if line]
    assert r.returncode != 0 and len(kernel) == 1 and len(lines) <= 40, '\n'.join(lines)
    assert kernel[0].startswith("UserError: --profile 'nonsense' is not a run's profile; use one of full, quick"), kernel
    assert not any(tmp_path.rglob('params.json'))

@pytest.mark.slow
def test_a_retry_never_forces(tmp_path):
    """`vgg_sweep --force` forces a row's first attempt only: when the attempt on a lost node had finished it, the retry keeps that.
    On a cluster with GPUs, a CPU row books its thread and no GPU; a GPU row books its share of one."""
    from test_sweep import FakeRay, NodeDiedError, WorkerCrashedError
    from vgg_report.runset import plan
    from vgg_report.sweep import SweepProgress
    from vgg_report.ray_tasks import _ray_run
    from vgg_report.rundir import write_json
    jobs = plan('paper', ['VGG_38'], 'smoke', 'synthetic', tmp_path, device='cpu')
    def finish_then_die(job):
        job.folder.mkdir(parents=True, exist_ok=True)
        write_json(job.folder/'params.json', dict(config_hash=job.cfg.hash))
        write_json(job.folder/'metrics.json', dict(status='complete', config_hash=job.cfg.hash, val_acc=0.25, test_acc=0.5, best_epoch=2))
        raise NodeDiedError()
    class Recording(FakeRay):
        def _submit(self, f, a): self.forced = getattr(self, 'forced', []) + [a[2]]; return super()._submit(f, a)
    ray = Recording({'VGG_38': [finish_then_die]})
    progress = SweepProgress(jobs, 1)
    _ray_run(ray, jobs, None, True, 1, progress, 1)
    assert ray.forced == [True, False] and ray.booked == dict(num_cpus=1, num_gpus=0, max_retries=0)    # a CPU row books no GPU
    def crash(job): raise WorkerCrashedError()
    ray = FakeRay({'VGG_38': [crash, crash]})
    on_gpu = [replace(jobs[0], cfg=replace(jobs[0].cfg, device='cuda'), folder=tmp_path/'gpu')]     # as a cluster's GPU workers plan it
    _ray_run(ray, on_gpu, None, False, 4, SweepProgress(on_gpu, 1), 1)
    assert ray.booked == dict(num_cpus=1, num_gpus=0.25, max_retries=0)                    # a GPU row a quarter of one (packed by 4)
    res = progress.results[0]
    assert res['outcome'] == 'complete' and res['after_retry'] == 'its attempt on the lost node had finished it', res
    assert not list(tmp_path.rglob('*.old-*'))            # nothing was set aside: the finished run is the row's result

from test_report import built, rebuilt      # noqa: F401  (the paper run set's report, and a second build of it from a read-only mount)

@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason='a read-only bind mount needs root (CI and these machines run as root)')
def test_read_only_run_set_reads_and_reports_the_same(built, rebuilt):
    """vgg_status and vgg_build_report on a finished run set mounted read-only (test_report.py's `rebuilt`): exit 0, the same
    statuses as the writable runs, the same tables as the first build, nothing written there."""
    _, out, _, _ = built
    again, res = rebuilt
    assert res['read_only'] and res['returncode'] == 0, res['output']
    st = res['status']
    assert st['ro']['returncode'] == 0, st['ro']['stderr']
    rows = {k: [{**d, 'folder': Path(d['folder']).name} for d in json.loads(v['stdout'])] for k, v in st.items()}
    assert rows['ro'] == rows['rw'] and all(d['status'] in ('complete', 'diverged') for d in rows['ro']), rows['ro']
    tables = sorted((out/'report/tables').glob('*.tex'))
    assert len(tables) > 8
    for t in tables: assert (again/'report/tables'/t.name).read_text() == t.read_text(), t.name

def test_a_run_started_on_another_kind_of_device_is_one_line(tmp_path):
    "A partial run begun on a GPU and continued on a CPU (its generator state cannot move across): one line naming it, nothing lost."
    from vgg_report.train import train_run
    from vgg_report.rundir import write_json
    cfg = RunConfig(model='vgg08', epochs=2, n_train=100, n_val=50, n_test=50, device='cpu')
    assert train_run(cfg, tmp_path/'r', progress='none', stop_after=1) is None
    p = read_json(tmp_path/'r/params.json'); p['resolved_device'] = 'cuda:0'; write_json(tmp_path/'r/params.json', p)
    before = (tmp_path/'r/checkpoint.pt').read_bytes()
    with pytest.raises(UserError, match=r"was started on cuda:0 and cannot go on on cpu: .* \(--device cuda\)"):
        train_run(cfg, tmp_path/'r', progress='none')
    assert (tmp_path/'r/checkpoint.pt').read_bytes() == before and not (tmp_path/'r/metrics.json').exists()

def test_precision_and_device_kind_name_the_run_set(tmp_path):
    "bf16 and GPU runs live in run sets of their own; a GPU run set is read (status, report plan) on a machine without a GPU."
    from vgg_report.config import run_set_name
    from vgg_report.runset import plan
    assert [run_set_name('quick', 'synthetic'), run_set_name('smoke', 'synthetic', 'bf16'), run_set_name('full', 'cifar100', 'fp32', 'cuda:1'),
            run_set_name('full', 'cifar100', 'bf16', 'mps')] == ['quick-synthetic', 'smoke-synthetic-bf16', 'full-cifar100-cuda',
                                                                  'full-cifar100-bf16-mps']
    jobs = plan('paper', None, 'smoke', 'synthetic', tmp_path, device='cuda', reading=True)
    assert {j.folder.parent for j in jobs} == {tmp_path/'smoke-synthetic-cuda'}
    done = jobs[0].folder
    (tmp_path/'smoke-synthetic'/done.name).mkdir(parents=True)          # a finished CPU run of the same row: another set
    from vgg_report.rundir import write_json
    write_json(tmp_path/'smoke-synthetic'/done.name/'params.json', dict(config_hash=jobs[0].cfg.hash))
    write_json(tmp_path/'smoke-synthetic'/done.name/'metrics.json', dict(config_hash=jobs[0].cfg.hash, status='complete', val_acc=0.5, test_acc=0.5, wall_seconds=1.0))
    r = call_cli('vgg_status', *SMOKE, '--runs_dir', tmp_path, '--device', 'cuda', '--json')
    assert r.returncode == 0 and r.stdout, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    assert {d['status'] for d in json.loads(r.stdout)} == {'missing'}, r.stderr
    assert {Path(d['folder']).parent.name for d in json.loads(r.stdout)} == {'smoke-synthetic-cuda'}
    r = call_cli('vgg_status', *SMOKE, '--runs_dir', tmp_path, '--device', 'cpu', '--json')
    assert {d['row']: d['status'] for d in json.loads(r.stdout)}[jobs[0].name] == 'complete'
    r = call_cli('vgg_status', *SMOKE, '--runs_dir', tmp_path, '--device', 'tpu')
    assert r.returncode == 2 and "--device 'tpu' is not a device" in one_error_line(r)

def test_a_cifar_format_copy_that_is_not_the_official_one_is_labelled_so(tmp_path):
    "A run on CIFAR-format files that are not the official CIFAR-100: its report says so and compares none of its numbers."
    import vgg_report.data as D
    from vgg_report.rundir import RunDir
    from vgg_report.runset import RunRecord
    from vgg_report.tables import paper_vs_ours, comparability, unofficial, UNOFFICIAL
    from vgg_report.prose import numbers_tex, study_scope
    from vgg_report.study import ROWS
    from vgg_report.train import train_run
    D.write_cifar_like(tmp_path/'data', n_train=200, n_test=50)
    cfg = RunConfig(row='BN-Baseline', model='vgg08', epochs=1, n_train=100, n_val=10, n_test=50, dataset='cifar100', profile='full')
    train_run(cfg, tmp_path/'r', data_dir=tmp_path/'data', progress='none')
    rec = RunRecord(ROWS['BN-Baseline'], 'complete', tmp_path/'r')
    rec.metrics, rec.params, rec.history, rec.grad_flow = RunDir(tmp_path/'r').results()
    assert rec.params['dataset'] == 'cifar100' and rec.params['dataset_info']['official'] is False
    recs = {'BN-Baseline': rec}
    assert unofficial(recs) and comparability('full', 'cifar100', official=False) == UNOFFICIAL
    assert set(paper_vs_ours(recs, 'full', 'cifar100').verdict) == {'not comparable'}
    assert 'no number here is comparable' in study_scope('full', 'cifar100', official=False)
    tex = numbers_tex(recs, 'full', 'cifar100', 'full-cifar100', [], paper_vs_ours(recs, 'full', 'cifar100'))
    assert '\\newcommand{\\RunDataset}{a CIFAR-format copy that is not the official CIFAR-100}' in tex, tex[:3000]
