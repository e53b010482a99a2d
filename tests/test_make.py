"""Issue: the main command's smoke path. `make report PROFILE=smoke` sweeps the smoke run set and builds its PDF from that run set
(the options that name a run set reach the report, also when given in SWEEP_ARGS); `make board` and `vgg_status` without
arguments say which run sets the runs folder holds, with their finished rows, and which one they show."""
import os, re, shutil, signal, subprocess
import pytest
from conftest import ROOT, call_cli, run_make
from test_report import built      # noqa: F401  (the suite's smoke report, built by `make report PROFILE=smoke`)

pytestmark = pytest.mark.slow

def _copy_runs(paper, to):
    "The suite's smoke run set under `to`, without the checkpoints (a finished run's status and report need none)."
    shutil.copytree(paper[0]/'smoke-synthetic', to/'smoke-synthetic', ignore=shutil.ignore_patterns('*.pt'))
    return to

def test_make_report_profile_smoke_ends_with_a_smoke_pdf(built):
    """`make report PROFILE=smoke`, as the README's first screen gives it, on a copy of the suite's smoke sweep without its
    checkpoints (test_report.py's `built` runs it, into an output folder of its own): the sweep finds its 11 rows finished and
    trains nothing, and the PDF is that run set's, its first page saying smoke and synthetic."""
    runs, out, stdout, text = built
    assert 'profile smoke' in stdout and '11 already finished, 0 to run' in stdout, stdout[-3000:]
    assert 'report of smoke-synthetic: 11 of 11 rows finished' in stdout and f"PDF: {out/'report/report.pdf'}" in stdout, stdout[-3000:]
    assert [p.name for p in runs.iterdir() if not p.name.startswith('.')] == ['smoke-synthetic']    # no quick set beside it
    first = text.split('\f')[0]
    assert 'Run set smoke-synthetic' in first and 'smoke' in first and 'synthetic' in first

def test_sweep_args_name_the_report_s_run_set_too(tmp_path):
    """The spelling of the issue, `make report SWEEP_ARGS='--profile smoke --dataset synthetic ...'`, builds the report of the smoke
    set it swept, not of the default (quick) one: here a dry run into an empty runs folder, so the report stops at once, naming the
    smoke run set that has no finished run."""
    (tmp_path/'runs').mkdir()
    r = run_make('report', f"SWEEP_ARGS=--profile smoke --dataset=synthetic --dry_run --jobs 1 --runs_dir {tmp_path/'runs'}",
              f'REPORT_OUT={tmp_path/"out"}', timeout=300)
    assert r.returncode == 2 and 'profile smoke' in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    assert f"error: {tmp_path/'runs'/'smoke-synthetic'} has no finished run" in r.stderr, r.stderr[-2000:]

def _board(env, *args):
    "Start `make board ARGS` with `env`; its run-set lines (stderr) and its first line (the address), then stop it."
    p = subprocess.Popen(['make', '-s', '-o', 'install', 'board', *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True, env={**os.environ, **env})
    try: first = p.stdout.readline()
    finally: os.killpg(p.pid, signal.SIGTERM)
    return p.communicate(timeout=30)[1], first

def test_board_and_status_without_arguments_name_the_run_sets(paper, tmp_path):
    """With a runs folder that holds only the smoke run set, `vgg_status` and `make board` without arguments show the default run set
    (the quick one on a CPU) and say which sets the folder holds, with their finished rows and the options that show each; given
    those options, `make board` shows the smoke set."""
    runs = _copy_runs(paper, tmp_path/'runs')                     # a copy: `make board` creates the folder it shows
    env = dict(VGG_REPORT_RUNS=str(runs))
    r = call_cli('vgg_status', env=env)
    assert r.returncode == 0, r.stderr
    shown = re.match(r'(\S+) \(\d+ rows of the paper grid\)', r.stdout).group(1)   # quick on a CPU: 23
    assert re.search(r'^  smoke-synthetic +11/11 +--profile smoke --dataset synthetic$', r.stdout, re.M), r.stdout
    assert re.search(rf'^  {re.escape(os.path.basename(shown))} +0/0 +<- shown \(no run yet\)$', r.stdout, re.M), r.stdout
    said, first = _board(env)
    assert first.startswith(f'TensorBoard on {shown}: http://127.0.0.1:'), first
    assert re.search(r'^  smoke-synthetic +11/11 +make board PROFILE=smoke DATASET=synthetic$', said, re.M), said
    said, first = _board(env, 'PROFILE=smoke', 'DATASET=synthetic')
    assert first.startswith(f"TensorBoard on {runs/'smoke-synthetic'}: http://127.0.0.1:"), first
    assert re.search(r'^  smoke-synthetic +11/11 +<- shown$', said, re.M), said
