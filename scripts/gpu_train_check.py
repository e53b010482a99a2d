"""The training path on a GPU (the device tool's machines have no papermill or Ray): rows of the paper grid and two remedies on synthetic
data, each trained twice, the second time in a new process, as every row and every resume of a sweep is (the two must agree to the last
bit: `train.reproducible`); BN-Baseline paused after one epoch in one new process and resumed in another (it must equal the
uninterrupted run); BN-Baseline under torch.compile with CUDA graphs. Prints one line per run and writes the numbers to
OUT/gpu_train.json. Run by `make gpu-check` after the benchmark; GPU_CHECK_DEVICE=cpu GPU_CHECK_N_TRAIN=200 is a dry run anywhere."""
import json, os, subprocess, sys, tempfile, time
from pathlib import Path
import torch
from vgg_report.config import build_config
from vgg_report.train import train_run
from vgg_report.data import load_data

EPOCHS = 3
DEVICE = os.environ.get('GPU_CHECK_DEVICE', 'cuda')
N_TRAIN = int(os.environ.get('GPU_CHECK_N_TRAIN', 10000))
ROWS = ('VGG_08', 'VGG_38', 'BN-Baseline', 'RC', 'BN+RC')

def cfg(row, **kw):
    return build_config(row, profile='quick', epochs=str(EPOCHS), n_train=str(N_TRAIN), dataset='synthetic', device=DEVICE, quiet=True, **kw)[0]

def differing(a, b): return [k for k in a if k != 'wall_seconds' and a[k] != b.get(k)]

def one(folder, row, kw):
    "Train `row` into `folder` in this (new) process and print its metrics as JSON: `--one FOLDER ROW KWARGS`."
    kw = json.loads(kw)
    c = cfg(row, **{k: v for k, v in kw.items() if k != 'stop_after'})
    data = load_data('synthetic', None, N_TRAIN, 1000, 1000)
    print(json.dumps(train_run(c, Path(folder), progress='none', data=data, stop_after=kw.get('stop_after'))))

def in_new_process(folder, row, **kw):
    "`row`'s metrics, trained into `folder` by a new Python process (None when it paused)."
    r = subprocess.run([sys.executable, __file__, '--one', str(folder), row, json.dumps(kw)], capture_output=True, text=True)
    if r.returncode: sys.exit(f'{row} in a new process failed:\n{r.stderr[-3000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])

def main(out):
    assert DEVICE == 'cpu' or torch.cuda.is_available(), 'no CUDA device'
    tmp, res = Path(tempfile.mkdtemp()), {}
    data = load_data('synthetic', None, N_TRAIN, 1000, 1000)
    def run(key, c, **kw):
        t0 = time.perf_counter(); m = train_run(c, tmp/key, progress='none', data=data, **kw); dt = time.perf_counter() - t0
        if m is not None:
            res[key] = dict(seconds=round(dt, 1), status=m['status'], val_acc=m['val_acc'], test_acc=m['test_acc'])
            print(f"{key:24} {m['status']:9} val acc {m['val_acc']:.4f} test acc {m['test_acc']:.4f}  {dt:6.1f}s", flush=True)
            (Path(out)/'gpu_train.json').write_text(json.dumps(res, indent=1))
        return m
    for row in ROWS:
        a, b = run(row, cfg(row)), in_new_process(tmp/(row + ' again'), row)
        res[row]['repeat_differs'] = d = differing(a, b)
        print(f"{'':24} again in a new process: {'identical' if not d else 'DIFFERENT in ' + ', '.join(d)}", flush=True)
    assert in_new_process(tmp/'BN-Baseline resumed', 'BN-Baseline', stop_after=1) is None       # paused after epoch 1
    m = in_new_process(tmp/'BN-Baseline resumed', 'BN-Baseline')                                # resumed by another process
    res['BN-Baseline resumed'] = dict(status=m['status'], val_acc=m['val_acc'], test_acc=m['test_acc'])
    d = differing(m, json.loads((tmp/'BN-Baseline'/'metrics.json').read_text()))
    res['BN-Baseline resumed']['differs_from_uninterrupted'] = d
    print(f"{'BN-Baseline resumed':24} paused after epoch 1, resumed in another process: {'identical to the uninterrupted run' if not d else 'DIFFERENT in ' + ', '.join(d)}", flush=True)
    run('BN-Baseline compiled', cfg('BN-Baseline', compile='reduce-overhead'))
    (Path(out)/'gpu_train.json').write_text(json.dumps(res, indent=1))
    bad = [k for k, v in res.items() if v.get('repeat_differs') or v.get('differs_from_uninterrupted')]
    if bad: sys.exit(f'not reproducible on {DEVICE}: {", ".join(bad)}')

if __name__ == '__main__':
    if sys.argv[1:2] == ['--one']: one(*sys.argv[2:5])
    else: main(sys.argv[1] if len(sys.argv) > 1 else '.')
