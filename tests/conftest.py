"""Shared test set-up: offline, one thread, and two ways to run the project's console scripts: `run_cli` starts a real process (kept
for each command and each kind of outcome: exit 0, one-line exit 2, exit 1 with a summary, exit 130), `call_cli` runs the same
command inside the test process (argv, environment, working folder, exit status and output as the process would have them), which
saves the ~2 s that starting a Python process with torch costs every bad-input case."""
import contextlib, io, json, os, runpy, subprocess, sys, traceback
from pathlib import Path
import pytest

os.environ.setdefault('VGG_REPORT_OFFLINE', '1')   # never try a download from the tests
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')
import torch
torch.set_num_threads(1)
from vgg_report.process import FileLock

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

def run_cli(name, *args, env=None, timeout=600, cwd=None):
    "Run one of the project's console scripts in a new process; return the CompletedProcess (text, captured)."
    e = {**os.environ, **{k: str(v) for k, v in (env or {}).items()}}
    return subprocess.run([str(BIN/name), *map(str, args)], capture_output=True, text=True, env=e, timeout=timeout, cwd=cwd or ROOT)

def run_make(*args, env=None, timeout=900):
    "`make -s -o install ARGS` in the checkout, as a user types it (the venv is there already: no install); the CompletedProcess."
    e = {**os.environ, **{k: str(v) for k, v in (env or {}).items()}}
    return subprocess.run(['make', '-s', '-o', 'install', *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=e)

def call_cli(name, *args, env=None, cwd=None):
    """Run console script `name` in this process as `run_cli` would in a new one: its installed script, run as `__main__`, with the
    same argv, environment and working folder; return a CompletedProcess. An uncaught exception is exit 1 with its traceback on
    stderr, as Python prints it. Environment, argv and working folder are restored afterwards."""
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_argv, saved_cwd = dict(os.environ), sys.argv, os.getcwd()
    os.environ.update({k: str(v) for k, v in (env or {}).items()})
    sys.argv = [name, *map(str, args)]; os.chdir(cwd or ROOT)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try: runpy.run_path(str(BIN/name), run_name='__main__')
            except SystemExit as e:
                if isinstance(e.code, str): print(e.code, file=sys.stderr)
                code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
            except Exception: traceback.print_exc(); code = 1
    finally:
        os.environ.clear(); os.environ.update(saved_env); sys.argv = saved_argv; os.chdir(saved_cwd)
    return subprocess.CompletedProcess([name, *map(str, args)], code, out.getvalue(), err.getvalue())

def same(a, b):
    "Two runs' metrics agree in everything but the wall time."
    return {k: v for k, v in a.items() if k != 'wall_seconds'} == {k: v for k, v in b.items() if k != 'wall_seconds'}

def one_error_line(r):
    "The single `error:` line of a command that failed on bad input (and no traceback)."
    errs = [l for l in r.stderr.splitlines() if l.startswith('error:')]
    assert len(errs) == 1 and 'Traceback' not in r.stderr, r.stdout[-2000:] + r.stderr[-3000:]
    return errs[0]

def measured_seconds() -> dict:
    "Each test's seconds in the suite's last measurement (nbs/measured/test_costs.json, scripts/test_costs.py), setup aside."
    try: tests = json.loads((ROOT/'nbs/measured/test_costs.json').read_text())['tests']
    except (OSError, ValueError, KeyError): return {}
    return {t['test']: t['seconds'] - t.get('setup_seconds', 0) for t in tests}

def pytest_configure(config):
    """One cache of machine timings (`sweep.calibration`) for the whole test session, in a folder of its own: the first sweep
    times this machine, the others read it, and the user's own cache is never read or written. Set here, in the process that
    starts pytest-xdist's workers, so that they and every process they start share it."""
    if 'PYTEST_XDIST_WORKER' not in os.environ and 'VGG_REPORT_CACHE' not in os.environ:
        import tempfile
        os.environ['VGG_REPORT_CACHE'] = config._vgg_cache = tempfile.mkdtemp(prefix='vgg-report-cache-')

def pytest_unconfigure(config):
    if getattr(config, '_vgg_cache', None):
        import shutil
        shutil.rmtree(config._vgg_cache, ignore_errors=True)

def pytest_collection_modifyitems(config, items):
    """Order the tests for pytest-xdist's two workers, which take them one at a time in this order (`--maxschedchunk 1`, as
    `make test` runs them: a worker never holds a queue of tests the other could run): the first test that needs the paper grid
    goes first, so that one worker builds the grid (minutes) while the other runs the long tests that do not need it; then the
    long tests that need it, then the short ones, those that need the grid last. Long first (marked `long`: over 30 s here), and
    within each part the longest of the last measurement first, so that no worker is left with a long test at the end while
    the other idles."""
    needs = [i for i in items if 'paper' in getattr(i, 'fixturenames', ())]
    rest = [i for i in items if i not in needs]
    took = measured_seconds()
    def part(group, long):
        chosen = [i for i in group if (i.get_closest_marker('long') is not None) == long]
        return sorted(chosen, key=lambda i: -took.get(i.nodeid, 30 if long else 0))      # a stable sort: new tests keep their place
    order = part(rest, True) + part(needs[1:], True) + part(rest, False) + part(needs[1:], False)
    # xdist starts each worker with two tests: the grid's builder and the shortest test for the first, so that no long test
    # waits behind the grid's sweep while the other worker could run it
    second = [i for i in part(rest, False)][-1:]
    items[:] = needs[:1] + second + [i for i in order if i not in second]

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With $VGG_TEST_TIMELINE set to a file, each phase of each test (setup, call, teardown) appends one JSON line to it: the test,
    the phase, its start and stop (epoch seconds), the worker that ran it, its outcome, whether it is marked slow, and the first
    paragraph of its docstring (what it alone proves). scripts/test_costs.py times the suite so."""
    outcome = yield
    path = os.environ.get('VGG_TEST_TIMELINE')
    if not path: return
    rep = outcome.get_result()
    doc = (getattr(item, 'function', None).__doc__ or '').strip().split('\n\n')[0] if hasattr(item, 'function') else ''
    line = dict(test=item.nodeid, when=call.when, start=call.start, stop=call.stop, worker=os.environ.get('PYTEST_XDIST_WORKER', 'main'),
                outcome=rep.outcome, slow=item.get_closest_marker('slow') is not None, what=' '.join(doc.split()))
    with open(path, 'a') as f: f.write(json.dumps(line) + '\n')      # one short line, appended whole: the workers share the file

def shared(tmp_path_factory, name, build):
    """A test-session resource built once even when pytest-xdist runs several workers: the first worker to ask builds it under a
    lock in the directory the workers share, the others wait for it and read it. `build(folder)` returns something JSON-able."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'): base = base.parent
    folder, done = base/name, base/f'{name}.json'
    lock = FileLock(base/f'.{name}.lock')
    assert lock.acquire(wait=1800), f'waited 30 minutes for another worker to build {name}'
    try:
        if not done.exists():
            value = build(folder)
            done.write_text(json.dumps(value))
        return folder, json.loads(done.read_text())
    finally: lock.release()

def ray_token():
    "~/.ray/auth_token's bytes, or None: Ray's own local ray.init would create it, a trap for a later cluster."
    token = Path.home()/'.ray'/'auth_token'
    return token.read_bytes() if token.exists() else None

@pytest.fixture(scope='session')
def paper(tmp_path_factory):
    """The whole paper grid, smoke-sized on the synthetic data, swept from nothing by a real `vgg_sweep` process at its default
    width (once per test session, whatever the number of workers): on a local Ray, two rows at a time, one core each, started
    with OMP_NUM_THREADS=2 as a user's shell may have it. The sequential sweeps of test_sweep.py (OMP_NUM_THREADS=1, and unset
    for a resumed row) must end with its metrics to the last digit. Returns the runs folder and
    `{stdout, stderr, ray_token_kept}` (whether ~/.ray/auth_token was as before)."""
    def build(runs):
        before = ray_token()
        r = run_cli('vgg_sweep', '--profile', 'smoke', '--dataset', 'synthetic', '--runs_dir', runs,
                    env={'OMP_NUM_THREADS': 2, 'MKL_NUM_THREADS': 2})
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        return dict(stdout=r.stdout, stderr=r.stderr, ray_token_kept=ray_token() == before)
    return shared(tmp_path_factory, 'paper', build)

SMOKE_CFG = dict(model='vgg08', epochs=3, n_train=300, n_val=100, n_test=100, device='cpu', dataset='synthetic')   # 3 batches per epoch

@pytest.fixture(scope='session')
def reference(tmp_path_factory):
    "One uninterrupted run of SMOKE_CFG: every resumed, faulted or re-run copy must end with exactly these metrics and tables."
    from vgg_report.config import RunConfig
    from vgg_report.train import train_run
    folder, m = shared(tmp_path_factory, 'reference', lambda out: train_run(RunConfig(**SMOKE_CFG), out/'run', progress='none'))
    return folder/'run', m

def run_notebook_here(path, parameters: dict):
    """Execute notebook `path` in this process (execnb's shell, from the notebook's folder) with `parameters` assigned right after its
    `parameters` cell, as papermill injects them; return the exception that stopped it, or None when every cell ran."""
    from execnb.nbio import read_nb
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    nb = read_nb(path)
    i = next(i for i, c in enumerate(nb.cells) if 'parameters' in c.get('metadata', {}).get('tags', []))
    injected = nb.cells[i].source + '\n' + '\n'.join(f'{k} = {v!r}' for k, v in parameters.items())
    with working_directory(Path(path).parent):
        try: CaptureShell().run_all(nb, exc_stop=True, inject_code=injected, inject_idx=i)
        except Exception as e: return e
