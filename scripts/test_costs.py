"""Time the test suite as `make test` runs it and write what each test cost to nbs/measured/test_costs.json, which the docs
site shows on its "Working on it" page (docs_site/guide/working.md). The suite runs once, in a new pytest process, with
`make test`'s command (two pytest-xdist workers of one thread each, handed one test at a time) and $VGG_TEST_TIMELINE
set: tests/conftest.py then appends one line per phase of each test (worker, start, stop, outcome, the first paragraph
of its docstring). From those lines the record holds every test's seconds (setup, call and teardown together; the first
test to ask for a shared fixture, such as the paper grid's sweep, pays for building it in its setup), each worker's busy
seconds, and the pytest wall time.

    .venv/bin/python scripts/test_costs.py                       # the whole suite; its output is pytest's
    .venv/bin/python scripts/test_costs.py --log /tmp/suite.txt  # and pytest's output kept in a file
    .venv/bin/python scripts/test_costs.py -- -m "not slow"      # pytest's own options after --
    VGG_TEST_TIMELINE=/tmp/t.jsonl make test > make-test.log    # a suite run as CI runs it, then its record:
    .venv/bin/python scripts/test_costs.py --timeline /tmp/t.jsonl --pytest_log make-test.log --host "the machine, its load"

Exit status: pytest's (with --timeline: 1 when a test of that run failed). The record is written whatever the outcome;
`passed` and `failed` say how it went."""
import argparse, json, os, platform, re, shlex, subprocess, sys, tempfile, time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', VGG_REPORT_OFFLINE='1', MPLBACKEND='Agg')   # the Makefile's TEST_ENV

def first_sentence(text: str, limit: int = 240) -> str:
    "The first sentence of `text` (up to `limit` characters, cut at a word)."
    m = re.match(r'(.+?[.!?])(\s|$)', text)
    s = m.group(1) if m else text
    return s if len(s) <= limit else s[:limit].rsplit(' ', 1)[0] + ' …'

def cpu() -> str:
    "This machine's CPU model and core count, as the package names it (the sweeps' cache of timings too)."
    from vgg_report.config import cpu_model
    return cpu_model()

def load() -> str: return ', '.join(f'{x:.1f}' for x in os.getloadavg())

def host() -> str:
    "This machine in a line: its name, CPU model, cores and the load average when the run started."
    return f'{platform.node()}: {cpu()}, load average {load()} at the start'

def costs(lines: list) -> dict:
    "Every test's seconds, outcome and docstring from the timeline's lines; each worker's busy seconds."
    tests, busy = {}, defaultdict(float)
    for d in lines:
        t = tests.setdefault(d['test'], dict(test=d['test'], seconds=0.0, setup_seconds=0.0, worker=d['worker'], outcome='passed',
                                             slow=d['slow'], what=first_sentence(d['what'])))
        s = d['stop'] - d['start']
        t['seconds'] += s
        if d['when'] == 'setup': t['setup_seconds'] += s
        if d['outcome'] == 'failed': t['outcome'] = 'failed'
        elif d['outcome'] == 'skipped' and d['when'] != 'teardown' and t['outcome'] == 'passed': t['outcome'] = 'skipped'
        busy[d['worker']] += s
    rows = sorted(tests.values(), key=lambda t: -t['seconds'])
    for t in rows:
        t['seconds'] = round(t['seconds'], 2)
        t['setup_seconds'] = round(t['setup_seconds'], 2)
    return dict(tests=rows, busy={w: round(s, 1) for w, s in sorted(busy.items())})

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default=str(ROOT/'nbs/measured/test_costs.json'), help='the record (JSON)')
    p.add_argument('--workers', default='2', help="pytest-xdist workers, as the Makefile's TEST_WORKERS")
    p.add_argument('--log', help="also keep pytest's output in this file")
    p.add_argument('--timeline', help="don't run the suite: make the record from the timeline a run already wrote")
    p.add_argument('--host', help='with --timeline: the machine and its load when that run started (default: now)')
    p.add_argument('--pytest_log', help="with --timeline: that run's output, whose last line gives pytest's own wall time")
    p.add_argument('pytest_args', nargs='*', help="more options for pytest (after --), e.g. -m 'not slow'")
    o = p.parse_args(argv)
    cmd = [sys.executable, '-m', 'pytest', '-n', o.workers, '--maxschedchunk', '1', '--durations=15', *o.pytest_args, 'tests']
    shown = shlex.join([*(f"{k}={v}" for k, v in ENV.items()), ".venv/bin/python", *cmd[1:]])
    where = o.host or host()
    if o.timeline:
        lines = [json.loads(x) for x in Path(o.timeline).read_text().splitlines()]
        said = re.findall(r' in ([\d.]+)s', Path(o.pytest_log).read_text()) if o.pytest_log else []
        if said: wall, about = float(said[-1]), "pytest_seconds: pytest's own count, from its output. "
        else:
            wall = max(d['stop'] for d in lines) - min(d['start'] for d in lines)
            about = ("pytest_seconds: from the first test's start to the last one's stop (pytest's own count adds its "
                     "start-up and collection, about 15 s here). ")
        failed = any(d['outcome'] == 'failed' for d in lines)                  # that run's outcome, as pytest's exit said it
        return _record(o, lines, wall, where, 'make test, with $VGG_TEST_TIMELINE set: ' + shown, int(failed), about)
    with tempfile.TemporaryDirectory() as tmp:
        timeline = Path(tmp)/'timeline.jsonl'
        env = {**os.environ, **ENV, 'VGG_TEST_TIMELINE': str(timeline)}
        t0, out = time.time(), []
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            sys.stdout.write(line)
            out.append(line)
        proc.wait()
        wall = time.time() - t0
        lines = [json.loads(x) for x in timeline.read_text().splitlines()] if timeline.exists() else []
    if o.log: Path(o.log).write_text(''.join(out))
    return _record(o, lines, wall, where, shown, proc.returncode)

def _record(o, lines, wall, where, shown, returncode, about='') -> int:
    "Write the record of a run's timeline `lines` (pytest's wall time `wall`) to `o.out`; return `returncode`."
    c = costs(lines)
    count = lambda k: sum(t['outcome'] == k for t in c['tests'])
    busy = ', '.join(f'{w} {s:.0f} s' for w, s in c['busy'].items())
    started = min((d['start'] for d in lines), default=time.time())          # when the run began
    record = dict(measured=time.strftime('%Y-%m-%d %H:%M', time.localtime(started)), host=where, command=shown, passed=count('passed'), failed=count('failed'),
                  skipped=count('skipped'), pytest_seconds=round(wall, 1),
                  workers=f'busy: {busy} (setup, call and teardown of their tests)',
                  note=(about + "seconds: a test's setup, call and teardown; the first test that asks for a shared fixture (the paper "
                        "grid's sweep, the reference run, the built report) pays for building it in its setup. Other "
                        "processes on the machine slow the suite: compare shares, not seconds, across measurements."),
                  tests=c['tests'])
    Path(o.out).write_text(json.dumps(record, indent=1, ensure_ascii=False) + '\n')
    print(f"test_costs: {record['passed']} passed, {record['failed']} failed in {wall:.0f} s ({busy}) -> {o.out}")
    return returncode

if __name__ == '__main__': sys.exit(main())
