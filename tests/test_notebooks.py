"Every notebook runs under nbdev_test, and the notebooks are clean and in sync with the package."
import filecmp, shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT, BIN

NBS = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))

@pytest.mark.parametrize('nb', NBS)
def test_notebook_runs(nb):
    r = subprocess.run([str(BIN/'nbdev_test'), '--path', f'nbs/{nb}', '--do_print'], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f'{nb} failed under nbdev_test:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}'

def _snapshot(root):
    return {p.relative_to(root): p.read_bytes() for d in ('nbs', 'vgg_report') for p in sorted((root/d).rglob('*'))
            if p.is_file() and '__pycache__' not in p.parts and '.ipynb_checkpoints' not in p.parts}

def test_notebooks_clean_and_package_in_sync(tmp_path):
    "nbdev_clean and nbdev_export leave no diff: notebooks are clean and vgg_report/ is what they export."
    for f in ('settings.ini', 'setup.py'): shutil.copy(ROOT/f, tmp_path/f)
    for d in ('nbs', 'vgg_report'): shutil.copytree(ROOT/d, tmp_path/d, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
    before = _snapshot(tmp_path)
    for cmd in ('nbdev_clean', 'nbdev_export'):
        r = subprocess.run([str(BIN/cmd)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    after = _snapshot(tmp_path)
    changed = sorted(str(p) for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not changed, f'run `nbdev_clean && nbdev_export` and commit: these files would change: {changed}'
