"""What `TensorBoardCB` costs an epoch (docs_site/guide/watching.md compares it with `vgg_bench`'s round-to-round noise): its
`after_epoch` on a VGG_38-BN learner's record, timed at epochs that write only scalars (with the log10 gradient flow of its 75
weights) and at those that also draw the heatmap; and what `HParamsCB` costs, once, after the last epoch.
Usage: python scripts/tb_cost.py [EPOCHS]  (default 100)."""
import statistics, sys, tempfile, time
from pathlib import Path
from types import SimpleNamespace
from vgg_report.hooks import weight_params
from vgg_report.models import create_model
from vgg_report.callbacks import Record
from vgg_report.config import RunConfig
from vgg_report.saving import TensorBoardCB, HParamsCB

def main(epochs: int = 100):
    layers = [l for l, _ in weight_params(create_model('vgg38_bn'))]
    out = Path(tempfile.mkdtemp())
    cb = TensorBoardCB(out/'tb', 'BN-Baseline', 'BN-Baseline (vgg38_bn)')
    learn = SimpleNamespace(epoch=0, epochs=epochs, record=Record(status='running', grad_flow=[]))
    r = learn.record
    cb.before_epoch(learn)
    scalars, heatmaps = [], []
    for e in range(1, epochs + 1):
        r.epoch_flow = [dict(epoch=e, layer=l, last_batch=1e-3, epoch_mean=1e-3 / (i + 1)) for i, l in enumerate(layers)]
        r.grad_flow = r.grad_flow + r.epoch_flow
        r.row = dict(epoch=e, lr=1e-3, train_loss=4.6, train_acc=0.01, val_loss=4.6, val_acc=0.01, seconds=1.0)
        learn.epoch = e - 1                               # the index of the epoch that just ended
        t = time.perf_counter(); cb.after_epoch(learn); dt = time.perf_counter() - t
        (heatmaps if e % cb.heatmap_every == 0 or e == epochs else scalars).append(dt)
    cb.cleanup_fit(learn)
    r.metrics = dict(status='complete', final_epoch=epochs, test_acc=0.01, val_acc=0.01, train_acc=0.01, train_loss=4.6)
    t = time.perf_counter(); HParamsCB(out/'tb', RunConfig(row='BN-Baseline', model='vgg38_bn')).after_fit(learn)
    hparams = time.perf_counter() - t
    size = sum(p.stat().st_size for p in (out/'tb').iterdir())
    print(f"{len(layers)} layers, {epochs} epochs: scalars only {statistics.median(scalars) * 1e3:.1f} ms an epoch (median), with the "
          f"heatmap {statistics.median(heatmaps) * 1e3:.0f} ms (median, max {max(heatmaps) * 1e3:.0f}), on average "
          f"{(sum(scalars) + sum(heatmaps)) / epochs * 1e3:.0f} ms an epoch; HParams once {hparams * 1e3:.0f} ms; "
          f"event files {size / 1e6:.2f} MB")

if __name__ == '__main__': main(*map(int, sys.argv[1:]))
