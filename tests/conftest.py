"Shared test set-up: offline, one thread, and helpers that run the project's console scripts."
import os, subprocess, sys
from pathlib import Path
import pytest

os.environ.setdefault('VGG_REPORT_OFFLINE', '1')   # never try a download from the tests
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')
import torch
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

def run_cli(name, *args, env=None, timeout=600, cwd=None):
    "Run one of the project's console scripts; return the CompletedProcess (text, captured)."
    e = {**os.environ, **(env or {})}
    return subprocess.run([str(BIN/name), *map(str, args)], capture_output=True, text=True, env=e, timeout=timeout, cwd=cwd or ROOT)

@pytest.fixture
def cli(): return run_cli

@pytest.fixture(scope='session')
def paper(tmp_path_factory):
    "The whole paper grid, smoke-sized on the synthetic data, swept sequentially from nothing (once per test session)."
    runs = tmp_path_factory.mktemp('paper')
    r = run_cli('vgg_sweep', '--profile', 'smoke', '--dataset', 'synthetic', '--runs_dir', runs)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return runs, r
