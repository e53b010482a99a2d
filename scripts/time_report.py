"""Time the README's main command, `make report`, on a fresh clone of this repository's HEAD, and write what it took and
what the report found to nbs/measured/make_report_<profile>.json, which the docs site shows on its report page
(docs_site/guide/report.md). The clone holds nothing: `make report` installs, sweeps every row of the profile (at the
quick profile, 23 rows) and builds the PDF, as on a new machine (pip's cache, if this machine has one, is used).

    .venv/bin/python scripts/time_report.py                      # the profile `make report` picks here (quick on a CPU)
    .venv/bin/python scripts/time_report.py --make_args PROFILE=smoke
    .venv/bin/python scripts/time_report.py --record DIR --seconds S --started ISO   # a run already made in clone DIR

The record holds the wall seconds, this machine and its load average before and after (other work on a shared machine
slows the run: the load says how much), every row's own seconds, the run set and each claim's verdict and evidence.
Exit status: make's."""
import argparse, json, platform, subprocess, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'scripts'))
from test_costs import cpu, load          # this machine, as the suite's record names it

def record(clone: Path, seconds: float, started: str, load_before: str, command: str) -> dict:
    "What the run in `clone` took and found: its run set's rows and the report's claims (report/manifest.json)."
    m = json.loads((clone/'report'/'manifest.json').read_text())
    runs = sorted((clone/'runs'/m['run_set']).glob('*/metrics.json'))
    rows = [dict(row=json.loads((p.parent/'params.json').read_text()).get('row', p.parent.name),
                 seconds=round(json.loads(p.read_text()).get('wall_seconds') or 0.0, 1)) for p in runs]
    commit = subprocess.run(['git', '-C', str(clone), 'rev-parse', '--short', 'HEAD'], capture_output=True,
                            text=True).stdout.strip()
    return dict(measured=started, host=f'{platform.node()}: {cpu()}', command=command, commit=commit,
                seconds=round(seconds), minutes=round(seconds / 60, 1), load_before=load_before, load_after=load(),
                run_set=m['run_set'], n_rows=len(rows), rows=rows,
                claims=[dict(claim=c['claim'], verdict=c['verdict'], evidence=c['evidence']) for c in m['claims']])

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--make_args', nargs='*', default=[], help='variables for make, e.g. PROFILE=smoke')
    p.add_argument('--keep', help='clone into this folder (kept) instead of a temporary one')
    p.add_argument('--record', help='only record the run already made in this clone')
    p.add_argument('--seconds', type=float, help='with --record: the seconds `make report` took')
    p.add_argument('--started', help='with --record: when it started (ISO 8601)')
    p.add_argument('--load_before', default='?', help='with --record: the load average when it started')
    a = p.parse_args()
    command = ' '.join(['git clone <this repository> && cd <it> && make report', *a.make_args])
    if a.record:
        if a.seconds is None or a.started is None: sys.exit('--record needs --seconds and --started')
        clone, seconds, started, before, rc = Path(a.record), a.seconds, a.started, a.load_before, 0
    else:
        clone = Path(a.keep or tempfile.mkdtemp(prefix='vgg-report-clone-'))
        subprocess.run(['git', 'clone', '-q', str(ROOT), str(clone)], check=True)
        started, before, t0 = datetime.now(timezone.utc).isoformat(timespec='seconds'), load(), time.time()
        print(f'make report in {clone} (load average {before}); its output: {clone}/make_report.log', flush=True)
        with open(clone/'make_report.log', 'w') as log:
            rc = subprocess.run(['make', 'report', *a.make_args], cwd=clone, stdout=log, stderr=subprocess.STDOUT).returncode
        seconds = time.time() - t0
        if rc:
            print(f'make report failed (exit {rc}) after {seconds:.0f} s: see {clone}/make_report.log', file=sys.stderr)
            return rc
    d = record(clone, seconds, started, before, command)
    profile = d['run_set'].split('-')[0]
    out = ROOT/'nbs'/'measured'/f'make_report_{profile}.json'
    out.write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n')
    print(f"make report: {d['minutes']} minutes for {d['n_rows']} rows of {d['run_set']} "
          f"(load average {d['load_before']} before, {d['load_after']} after); written {out.relative_to(ROOT)}")
    return rc

if __name__ == '__main__': sys.exit(main())
