"""The training path on a GPU, in one process (the device tool's machines have no papermill or Ray): rows of the paper grid and two
remedies on synthetic data, each trained twice (the two must agree to the last bit: `train.reproducible`); BN-Baseline paused after one
epoch and resumed (it must equal the uninterrupted run); BN-Baseline under torch.compile with CUDA graphs. Prints one line per run
and writes the numbers to OUT/gpu_train.json. Run by `make gpu-check` after the benchmark; GPU_CHECK_DEVICE=cpu GPU_CHECK_N_TRAIN=200
is a dry run of this script anywhere."""
import json, os, sys, tempfile, time
from pathlib import Path
import torch
from vgg_report.runner import build_config
from vgg_report.train import train_run
from vgg_report.data import load_data

EPOCHS = 3
DEVICE = os.environ.get('GPU_CHECK_DEVICE', 'cuda')
N_TRAIN = int(os.environ.get('GPU_CHECK_N_TRAIN', 10000))
ROWS = ('VGG_08', 'VGG_38', 'BN-Baseline', 'RC', 'BN+RC')

def cfg(row, **kw):
    return build_config(row, profile='quick', epochs=str(EPOCHS), n_train=str(N_TRAIN), dataset='synthetic', device=DEVICE, quiet=True, **kw)[0]

def differing(a, b): return [k for k in a if k != 'wall_seconds' and a[k] != b.get(k)]

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
        a, b = run(row, cfg(row)), run(row + ' again', cfg(row))
        res[row]['repeat_differs'] = d = differing(a, b)
        print(f"{'':24} run twice: {'identical' if not d else 'DIFFERENT in ' + ', '.join(d)}", flush=True)
    run('BN-Baseline resumed', cfg('BN-Baseline'), stop_after=1)
    d = differing(run('BN-Baseline resumed', cfg('BN-Baseline')), json.loads((tmp/'BN-Baseline'/'metrics.json').read_text()))
    res['BN-Baseline resumed']['differs_from_uninterrupted'] = d
    print(f"{'':24} paused after epoch 1 and resumed: {'identical to the uninterrupted run' if not d else 'DIFFERENT in ' + ', '.join(d)}", flush=True)
    run('BN-Baseline compiled', cfg('BN-Baseline', compile='reduce-overhead'))
    (Path(out)/'gpu_train.json').write_text(json.dumps(res, indent=1))
    bad = [k for k, v in res.items() if v.get('repeat_differs') or v.get('differs_from_uninterrupted')]
    if bad: sys.exit(f'not reproducible on {DEVICE}: {", ".join(bad)}')

if __name__ == '__main__': main(sys.argv[1] if len(sys.argv) > 1 else '.')
