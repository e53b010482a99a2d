"""Issue: sweeps on a real SLURM cluster. munge, slurmctld and slurmd run for this one host (two CPUs) from a configuration in a
temporary folder, on free loopback ports; `scripts/slurm_sweep.sh` is submitted with sbatch as a user would, and SLURM's own
machinery cancels a job and enforces a time limit."""
import json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time
from contextlib import contextmanager
from pathlib import Path
import psutil
import pytest
from conftest import ROOT, same
from vgg_report.rundir import RunDir

pytestmark = pytest.mark.slow

DEBIAN = 'apt-get install -y --no-install-recommends slurm-wlm munge'
TOOLS = ('munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'scontrol', 'sinfo')
MARK = 'VGG_REPORT_SLURM_TEST'      # in the environment of every process the test's cluster starts, down to the kernels
SMOKE = ['--profile', 'smoke', '--dataset', 'synthetic']
CANCEL_ROWS = {'VGG_38': 'vgg_38', 'BN-Baseline': 'bn-baseline'}
LIMIT_ROWS = {'BN-x5': 'bn-x5', 'BN-seed=10': 'bn-seed-10'}
# The recipe on this host: one node with its two CPUs and no GPU, options that override the script's #SBATCH lines.
ONE_HOST = ['--nodes=1', '--cpus-per-task=2', '--gpus-per-task=0', '--time=10']

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def _say(log: list, msg: str):
    "One stage of the test, printed (pytest -s) and kept for the log file."
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    log.append(line)

def _ours(tmpd: str) -> dict:
    "Every live process the cluster started: marked in its environment, naming its folder or working in it, with all their descendants."
    roots = []
    for p in psutil.process_iter(['cmdline', 'environ', 'cwd']):      # slurmstepd has a clean environment: its folder is slurmd's
        env, cmd, cwd = p.info['environ'] or {}, p.info['cmdline'] or [], p.info['cwd'] or ''
        if env.get(MARK) == tmpd or any(tmpd in a for a in cmd) or cwd == tmpd or cwd.startswith(tmpd + '/'): roots.append(p)
    procs = {}
    for r in roots:
        try: procs.update({p.pid: p for p in (r, *r.children(recursive=True))})
        except psutil.NoSuchProcess: pass
    return {pid: p for pid, p in procs.items() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE}

def _conf(d: Path, host: str) -> str:
    "slurm.conf for one host with two CPUs: loopback ports, state and logs in `d`, no cgroups, no accounting; KillWait 10 s."
    return '\n'.join([
        'ClusterName=vggtest', f'SlurmctldHost={host}(127.0.0.1)', f'SlurmctldPort={_free_port()}', f'SlurmdPort={_free_port()}',
        'SlurmUser=root', 'SlurmdUser=root', 'AuthType=auth/munge', 'CredType=cred/munge', f'AuthInfo=socket={d}/munge.sock',
        'CommunicationParameters=NoCtldInAddrAny,NoInAddrAny', f'StateSaveLocation={d}/state', f'SlurmdSpoolDir={d}/spool',
        f'SlurmctldPidFile={d}/slurmctld.pid', f'SlurmdPidFile={d}/slurmd.pid', f'SlurmctldLogFile={d}/slurmctld.log',
        f'SlurmdLogFile={d}/slurmd.log', 'ProctrackType=proctrack/linuxproc', 'TaskPlugin=task/none', 'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_CPU', 'JobAcctGatherType=jobacct_gather/none', 'AccountingStorageType=accounting_storage/none',
        'JobCompType=jobcomp/none', 'MpiDefault=none', 'MailProg=/bin/true', 'KillWait=10', 'ReturnToService=2',
        'SlurmdParameters=config_overrides', f'NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN',
        f'PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP', ''])

@contextmanager
def slurm_cluster():
    """munged, slurmctld and slurmd for this host, from a configuration in a temporary folder; yields the environment for the
    clients (SLURM_CONF) and jobs. Every process it started, daemons and jobs alike, is killed on the way out, whatever happened,
    and none may survive."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing: pytest.fail(f"SLURM is not installed ({', '.join(missing)} missing): `make install` as root installs it; or run: sudo {DEBIAN}")
    tmpd = tempfile.mkdtemp(prefix='vs', dir='/tmp')      # short: Ray's socket paths live under it and must fit in 107 characters
    d, host = Path(tmpd), socket.gethostname().split('.')[0]
    for sub in ('state', 'spool'): (d/sub).mkdir()
    (d/'munge.key').write_bytes(os.urandom(1024))
    (d/'munge.key').chmod(0o400)
    (d/'slurm.conf').write_text(_conf(d, host))
    env = dict(os.environ, **{MARK: tmpd}, SLURM_CONF=str(d/'slurm.conf'), RAY_TMPDIR=tmpd, VGG_RAY_PORT=str(_free_port()),
               VGG_VENV=sys.prefix)
    daemons = []
    def start(*cmd):
        daemons.append(subprocess.Popen(cmd, env=env, cwd=d, stdout=open(d/f'{Path(cmd[0]).name}.out', 'w'), stderr=subprocess.STDOUT,
                                        start_new_session=True))
    try:
        start('munged', '-F', '-f', f'--socket={d}/munge.sock', f'--key-file={d}/munge.key', f'--log-file={d}/munged.log',
              f'--pid-file={d}/munged.pid', f'--seed-file={d}/munged.seed')
        _wait(lambda: (d/'munge.sock').exists(), 20, 'munged did not start', d/'munged.out')
        start('slurmctld', '-D', '-i', '-f', str(d/'slurm.conf'))
        start('slurmd', '-D', '-f', str(d/'slurm.conf'))
        idle = lambda: subprocess.run(['sinfo', '-h', '-o', '%t'], env=env, capture_output=True, text=True).stdout.strip() == 'idle'
        _wait(idle, 60, 'the node did not come up idle', d/'slurmd.log')
        yield env
    finally:
        names = sorted({p.name() for p in _ours(tmpd).values()})
        assert {'munged', 'slurmctld', 'slurmd'} <= set(names), names        # the search below sees what it must stop
        subprocess.run(['scancel', '--user', 'root'], env=env, capture_output=True)
        for _ in range(3):
            procs = list(_ours(tmpd).values())
            for p in procs:
                try:
                    p.send_signal(signal.SIGCONT)        # a process the test held, too
                    p.kill()
                except psutil.NoSuchProcess: pass
            psutil.wait_procs(procs, timeout=20)
        for p in daemons: p.wait(timeout=20)
        left = {p.pid: p.name() for p in _ours(tmpd).values()}
        print(f"[{time.strftime('%H:%M:%S')}] stopped the cluster's processes ({', '.join(names)}); none is left: {not left}", flush=True)
        shutil.rmtree(tmpd, ignore_errors=True)
        assert not left, f'processes of the SLURM cluster survived: {left}'

def _wait(cond, timeout: float, what: str, log=None):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise AssertionError(what + (f'; {log}:\n' + Path(log).read_text()[-3000:] if log and Path(log).exists() else ''))
        time.sleep(0.1)

def _sbatch(env, out: Path, rows, runs: Path) -> str:
    "The recipe, as a user submits it from the project's folder; returns the job id."
    r = subprocess.run(['sbatch', '--parsable', *ONE_HOST, f'--output={out}/job-%j.out', 'scripts/slurm_sweep.sh', *SMOKE,
                        '--only', *rows, '--runs_dir', str(runs)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().split(';')[0]

def _job(env, job: str) -> dict:
    "scontrol's view of a job (slurmctld keeps a finished job for MinJobAge, 300 s): JobState, Reason, ExitCode, ..."
    r = subprocess.run(['scontrol', 'show', 'job', job], env=env, capture_output=True, text=True)
    return dict(re.findall(r'(\w+)=(\S*)', r.stdout))

def _ended(env, job: str, timeout: float = 240) -> dict:
    _wait(lambda: _job(env, job).get('JobState') not in ('PENDING', 'RUNNING', 'COMPLETING', 'CONFIGURING', None), timeout,
          f'job {job} did not end')
    return _job(env, job)

def _hold_mid_row(env, runs: Path, slugs, log) -> list:
    """Once each row has saved its first epoch, SIGSTOP its training (the kernel training under the run's lock): the rows are then
    in their second epoch for as long as the test needs, as long rows would be, whatever this machine's speed."""
    held = {}
    def hold():
        for s in slugs:
            out = runs/'smoke-synthetic'/s
            if s not in held and (out/'history.csv').exists() and len((out/'history.csv').read_text().splitlines()) >= 2:
                pid = RunDir(out).trainer_pid()
                if pid:
                    os.kill(pid, signal.SIGSTOP)
                    held[s] = pid
        return len(held) == len(slugs)
    _wait(hold, 240, 'the rows did not both save an epoch')
    _say(log, f"rows {', '.join(held)} saved epoch 1 and are held in epoch 2 (their training SIGSTOPped)")
    running = {p.name() for p in _ours(env[MARK]).values()}
    assert {'slurmstepd', 'raylet', 'gcs_server'} <= running, running      # the search that ends the test sees the job's processes
    return list(held.values())

def _sigint_pending(pid: int) -> bool:
    "Whether a SIGINT waits for the stopped process `pid` (it is delivered when the process goes on)."
    status = Path(f'/proc/{pid}/status').read_text().splitlines()
    masks = [int(line.split()[1], 16) for line in status if line.startswith(('SigPnd:', 'ShdPnd:'))]
    return any(m & (1 << (signal.SIGINT - 1)) for m in masks)

def _check_metrics(runs: Path, ref: Path, rows: dict, log):
    for name, slug in rows.items():
        ours, theirs = (json.loads((d/'smoke-synthetic'/slug/'metrics.json').read_text()) for d in (runs, ref))
        assert ours['status'] == 'complete' and same(ours, theirs), (name, ours, theirs)
        _say(log, f"{name}: {len(ours) - 1} metrics identical to the paper fixture's sweep (val acc {ours['val_acc']}, "
                  f"test acc {ours['test_acc']}, train loss {ours['train_loss']:.6f})")

@pytest.mark.long
def test_slurm_sweep_survives_scancel_and_a_time_limit(paper, tmp_path):
    """The recipe on a one-host SLURM cluster, in three jobs. (1) A job is cancelled with scancel while its two rows are in their
    second epoch. (2) The same sbatch, with two more rows, resumes those two from their checkpoints and finishes them; then the
    job's time limit falls while the two others are in their second epoch: SLURM warns the script (--signal B:TERM), the rows stop
    at their next batch and save exactly there, and the job ends before its limit. (3) The same sbatch again skips the finished
    rows and resumes the stopped ones. Every row ends with the metrics of the paper fixture's sweep, and no process of the
    cluster survives."""
    ref, _ = paper
    runs, log, t_start = tmp_path/'runs', [], time.time()
    both = {**CANCEL_ROWS, **LIMIT_ROWS}
    try:
        with slurm_cluster() as env:
            _say(log, f"SLURM cluster up: munged, slurmctld, slurmd for one host with 2 CPUs ({env['SLURM_CONF']})")
            # (1) scancel mid-row
            job = _sbatch(env, tmp_path, CANCEL_ROWS, runs)
            _say(log, f"submitted job {job}: scripts/slurm_sweep.sh {' '.join(ONE_HOST)} --only {' '.join(CANCEL_ROWS)}")
            _hold_mid_row(env, runs, CANCEL_ROWS.values(), log)
            subprocess.run(['scancel', job], env=env, check=True)       # SLURM sends SIGCONT and SIGTERM to every process, SIGKILL after KillWait
            j = _ended(env, job)
            _say(log, f"scancel {job}: JobState={j['JobState']} ExitCode={j['ExitCode']}")
            assert j['JobState'] == 'CANCELLED'
            for s in CANCEL_ROWS.values():
                assert (runs/'smoke-synthetic'/s/'checkpoint.pt').exists() and not (runs/'smoke-synthetic'/s/'metrics.json').exists(), s

            # (2) the same sbatch with two more rows: the cancelled rows resume and finish; a time limit falls mid-row in the others
            job = _sbatch(env, tmp_path, both, runs)
            _say(log, f"submitted job {job}: the same recipe, --only {' '.join(both)}")
            held = _hold_mid_row(env, runs, LIMIT_ROWS.values(), log)
            _wait(lambda: all((runs/'smoke-synthetic'/s/'metrics.json').exists() for s in CANCEL_ROWS.values()), 240,
                  'the cancelled rows did not finish')
            run_s = int(_job(env, job)['RunTime'].split(':')[-2]) * 60 + int(_job(env, job)['RunTime'].split(':')[-1])
            limit = run_s // 60 + 2      # minutes: 60-120 s from now, so SLURM's next check (every 30 s) sends the warning, not the kill
            subprocess.run(['scontrol', 'update', f'JobId={job}', f'TimeLimit={limit}'], env=env, check=True)
            _say(log, f"scontrol update JobId={job} TimeLimit={limit} (the job has run {run_s} s): SLURM's own limit machinery takes over")
            out = tmp_path/f'job-{job}.out'
            _wait(lambda: 'SIGTERM: stopping the sweep' in out.read_text(), 90, "SLURM's warning (--signal B:TERM@120) did not come", out)
            _say(log, f"time limit near: SLURM sent SIGTERM to the batch script ({_job(env, job)['RunTime']} into the job)")
            # the held rows go on once the sweep's stop has reached their kernels (a SIGINT waits for each), so that they are
            # still in epoch 2, as long rows would be, whatever the time Ray takes to pass the stop on
            _wait(lambda: all(_sigint_pending(pid) for pid in held), 90, "the sweep's stop did not reach the held rows", out)
            _say(log, "the sweep's stop reached both held rows' kernels (SIGINT pending); the rows go on")
            for pid in held: os.kill(pid, signal.SIGCONT)
            j = _ended(env, job)
            text = out.read_text()
            stopped = [l for l in text.splitlines() if re.match(r'\[sweep\] .*: stopped (at batch \d+ of|after) epoch', l)]
            _say(log, f"job {job}: JobState={j['JobState']} ExitCode={j['ExitCode']} RunTime={j['RunTime']} TimeLimit={j['TimeLimit']}; "
                      + '; '.join(l for l in text.splitlines() if l.startswith('[sweep ')) + '; ' + '; '.join(stopped))
            assert j['ExitCode'] == '130:0' and j['JobState'] == 'FAILED' and len(stopped) == 2, text
            assert text.count(', resumed)') == 2 and 'interrupted: finished rows are kept' in text, text
            assert all(f'] {name}: complete' in text for name in CANCEL_ROWS), text
            _check_metrics(runs, ref, CANCEL_ROWS, log)

            # (3) the same sbatch again
            again = _sbatch(env, tmp_path, both, runs)
            _say(log, f"resubmitted the same sbatch as job {again}")
            j, text = _ended(env, again), (tmp_path/f'job-{again}.out').read_text()
            _say(log, f"job {again}: JobState={j['JobState']} ExitCode={j['ExitCode']}; " +
                 '; '.join(l for l in text.splitlines() if l.startswith('[sweep ')))
            assert j['JobState'] == 'COMPLETED' and j['ExitCode'] == '0:0', text
            assert text.count(', resumed)') == 2 and 'sweep: 2 complete, 2 skipped' in text, text
            _check_metrics(runs, ref, LIMIT_ROWS, log)
        _say(log, f"every process of the cluster stopped (munged, slurmctld, slurmd, slurmstepd, Ray, kernels); {time.time() - t_start:.0f} s")
    finally:
        (tmp_path/'slurm_test.log').write_text('\n'.join(log) + '\n')
        print('\n'.join(log))
