"""The training path on a GPU, checked and recorded (the device tool's machines have no papermill or Ray, so runs are
trained here through `train_run`, as the experiment notebook trains them). On synthetic data, for `--epochs` epochs
on `--n_train` images:

- each row of `--rows` trained twice, the second time in a new process, as every row and every resume of a sweep is:
  the two must agree to the last bit (`train.reproducible`: deterministic kernels, no autotuner, no TF32);
- `--row` (BN-Baseline by default) paused after its first epoch in one new process and resumed in another: it must
  equal the uninterrupted run;
- the same row stopped in the middle of an epoch by a Ctrl-C (the run's own stop: it saves before the next batch) in
  one new process and resumed in another: it must equal the uninterrupted run;
- the same row compiled (`--compile`, reduce-overhead by default on a GPU: CUDA graphs), and again in a new process:
  the two must agree to the last bit (a compiled run set is reproducible), and their difference from the eager run
  is recorded (a compiled run rounds otherwise: it is a run set of its own).

It prints one line per check and writes the record `--out` (JSON: the machine, the versions, every run's numbers and
every check's verdict), after every run, so that a check cut short still leaves what it measured. `make gpu-check
OUT=<folder>` runs it on a GPU and writes <folder>/gpu-train-check.json, to be committed under nbs/measured/ for
the performance guide to render; `--device cpu` runs the same logic anywhere (tests/test_engine.py runs a small one), and its record
says that it ran on a CPU (`on_a_gpu: false`). Exit status 1 when a check fails."""
import argparse, json, os, platform, signal, subprocess, sys, tempfile, time
from pathlib import Path
import torch
from vgg_report.config import build_config
from vgg_report.data import load_data
from vgg_report.learner import Callback
from vgg_report.saving import RunInterrupted
from vgg_report.rundir import load_checkpoint, CHECKPOINT
from vgg_report.train import train_run, device_name, versions, git_commit, uses_tf32, reproducible

ROWS = ('VGG_08', 'VGG_38', 'BN-Baseline', 'RC', 'BN+RC')
ROOT = Path(__file__).resolve().parent.parent

def options(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda', help='cuda (the check) or cpu (its logic, anywhere)')
    p.add_argument('--rows', nargs='+', default=list(ROWS), help='the rows trained twice')
    p.add_argument('--row', default='BN-Baseline', help='the row paused, stopped mid-epoch and compiled')
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--n_train', type=int, default=10_000, help='training images (synthetic)')
    p.add_argument('--n_eval', type=int, default=1_000, help='validation and test images each')
    p.add_argument('--compile', default=None, help='the compile mode checked (default: reduce-overhead on a GPU, '
                                                   'default on a CPU)')
    p.add_argument('--out', default=str(ROOT/'nbs/measured/gpu-train-check.json'), help='the record (JSON)')
    o = p.parse_args(argv)
    if o.compile is None: o.compile = 'reduce-overhead' if o.device.startswith('cuda') else 'default'
    return o

def cfg(o, row, **kw):
    "The row's configuration: `o.epochs` epochs on `o.n_train` synthetic images, on `o.device`."
    return build_config(row, profile='quick', epochs=str(o.epochs), n_train=str(o.n_train), n_val=str(o.n_eval),
                        n_test=str(o.n_eval), dataset='synthetic', device=o.device, quiet=True, **kw)[0]

def numbers(m: dict) -> dict:
    "A run's numbers: its metrics without its wall time and configuration hash (a compiled run's is its own)."
    return {k: v for k, v in m.items() if k not in ('wall_seconds', 'config_hash')}

def differing(a: dict, b: dict) -> list: return sorted(k for k in numbers(a) if a[k] != b.get(k))

class CtrlCAt(Callback):
    "A Ctrl-C to this process after training batch `batch` of epoch `epoch` (1-based): the run's own stop, mid-epoch."
    order = 100
    def __init__(self, epoch: int, batch: int): self.epoch, self.batch = epoch, batch
    def after_step(self, learn):
        if learn.epoch + 1 == self.epoch and learn.iter + 1 == self.batch: os.kill(os.getpid(), signal.SIGINT)

def one(folder, row, kw):
    "Train `row` into `folder` in this (new) process; print its metrics as JSON (null when it paused or was stopped)."
    o, kw = options(json.loads(kw)['argv']), json.loads(kw)
    c = cfg(o, row, compile=kw.get('compile', 'off'))
    data = load_data('synthetic', None, o.n_train, o.n_eval, o.n_eval)
    stop = kw.get('ctrl_c_at')
    try: m = train_run(c, Path(folder), progress='none', data=data, stop_after=kw.get('stop_after'),
                       cbs=[CtrlCAt(*stop)] if stop else [])
    except RunInterrupted: m = None                       # it saved where it stopped: the next process resumes it
    print(json.dumps(m))

def in_new_process(o, argv, folder, row, **kw) -> dict:
    "`row`'s metrics, trained into `folder` by a new Python process (None when it paused or stopped)."
    r = subprocess.run([sys.executable, __file__, '--one', str(folder), row, json.dumps(dict(kw, argv=argv))],
                       capture_output=True, text=True)
    if r.returncode: sys.exit(f'{row} in a new process failed:\n{r.stderr[-3000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])

class Record:
    "The check's record: the machine, every run's numbers and every check's verdict, written after each."
    def __init__(self, o, dev):
        self.path, self.d = Path(o.out), dict(
            what='scripts/gpu_train_check.py: repeats, resumes and compiled runs of the study on one device',
            date=time.strftime('%Y-%m-%d'), device=device_name(dev), device_kind=dev.type,
            on_a_gpu=dev.type == 'cuda', tf32=None, versions=versions(), git_commit=git_commit(),
            host=dict(cpus=os.cpu_count(), machine=platform.machine()),
            setting=dict(dataset='synthetic', epochs=o.epochs, n_train=o.n_train, n_eval=o.n_eval, compile=o.compile),
            runs={}, checks=[])
        self.path.parent.mkdir(parents=True, exist_ok=True)
    def run(self, key, m, seconds=None):
        self.d['runs'][key] = dict(status=m['status'], val_acc=m['val_acc'], test_acc=m['test_acc'],
                                   val_loss=m['val_loss'], train_loss=m['train_loss'], seconds=seconds)
        self.write()
    def check(self, what, a, b, must_agree=True):
        d = differing(a, b)
        self.d['checks'].append(dict(check=what, identical=not d, differs_in=d, must_be_identical=must_agree))
        print(f"{what:64} {'identical' if not d else 'DIFFERENT in ' + ', '.join(d)}", flush=True)
        self.write()
    def write(self):
        self.d['passed'] = all(c['identical'] for c in self.d['checks'] if c['must_be_identical'])
        self.path.write_text(json.dumps(self.d, indent=1) + '\n')

def main(argv=None):
    o = options(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    dev = torch.device(o.device)
    if dev.type == 'cuda' and not torch.cuda.is_available():
        sys.exit('no CUDA device here; --device cpu checks the logic')
    rec, tmp = Record(o, dev), Path(tempfile.mkdtemp())
    with reproducible(dev): rec.d['tf32'] = uses_tf32(dev)          # what every run here trains with
    data = load_data('synthetic', None, o.n_train, o.n_eval, o.n_eval)
    def here(key, c):
        t0 = time.perf_counter()
        m = train_run(c, tmp/key, progress='none', data=data)
        rec.run(key, m, round(time.perf_counter() - t0, 1))
        print(f"{key:24} {m['status']:9} val acc {m['val_acc']:.4f} test acc {m['test_acc']:.4f}", flush=True)
        return m
    for row in o.rows:
        first = here(row, cfg(o, row))
        rec.check(f'{row}: again in a new process', first, in_new_process(o, argv, tmp/f'{row}-again', row))
    base = numbers(json.loads((tmp/o.row/'metrics.json').read_text())) if o.row in o.rows \
        else here(o.row, cfg(o, o.row))
    assert in_new_process(o, argv, tmp/'paused', o.row, stop_after=1) is None          # paused after epoch 1
    rec.check(f'{o.row}: paused after epoch 1, resumed in another process',
              in_new_process(o, argv, tmp/'paused', o.row), base)
    half = max(1, o.n_train // 100 // 2)                                                        # batches of 100
    at = (min(2, o.epochs), half)
    assert in_new_process(o, argv, tmp/'stopped', o.row, ctrl_c_at=at) is None         # Ctrl-C mid-epoch: saved
    assert load_checkpoint(tmp/'stopped'/CHECKPOINT)['partial']['batch'] == at[1]               # before the next batch
    rec.check(f'{o.row}: Ctrl-C in epoch {at[0]}, saved before batch {at[1] + 1}, resumed in another process',
              in_new_process(o, argv, tmp/'stopped', o.row), base)
    compiled = here(f'{o.row} compiled ({o.compile})', cfg(o, o.row, compile=o.compile))
    rec.check(f'{o.row} compiled ({o.compile}): again in a new process', compiled,
              in_new_process(o, argv, tmp/'compiled-again', o.row, compile=o.compile))
    rec.check(f'{o.row} compiled ({o.compile}) against eager', compiled, base, must_agree=False)
    rec.d['compiled_minus_eager'] = {k: compiled[k] - base[k] for k in ('val_acc', 'test_acc', 'val_loss', 'train_loss')
                                     if compiled[k] is not None and base[k] is not None}
    rec.write()
    print(f"record: {rec.path} ({'passed' if rec.d['passed'] else 'FAILED'}; on {rec.d['device']})", flush=True)
    if not rec.d['passed']: sys.exit(1)

if __name__ == '__main__':
    if sys.argv[1:2] == ['--one']: one(*sys.argv[2:5])
    else: main()
