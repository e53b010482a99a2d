"Every notebook runs as nbdev_test runs it, and the notebooks are clean and in sync with the package."
import configparser, os, shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT, BIN

NBS = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
_cfg = configparser.ConfigParser(); _cfg.read(ROOT/'settings.ini')
SKIP_FLAGS = _cfg['DEFAULT']['tst_flags'].split()             # notest slow cuda: the cells nbdev_test skips

@pytest.mark.parametrize('nb', NBS)
def test_notebook_runs(nb):
    """The notebook's cells, skipping those flagged as nbdev_test skips them, executed by nbdev's own `test_nb` in this process
    (`nbdev_test --path nbs/<nb>` does the same in a new one; this saves a process and torch's import per notebook)."""
    from nbdev.test import test_nb
    saved = dict(os.environ)
    try: ok, _ = test_nb(ROOT/'nbs'/nb, skip_flags=SKIP_FLAGS, basepath=ROOT)
    finally: os.environ.clear(); os.environ.update(saved)          # test_nb sets IN_TEST, which would turn nbdev_export into a no-op
    assert ok, f'{nb} failed under nbdev_test: its traceback is in the captured stderr above'

def _snapshot(root):
    return {p.relative_to(root): p.read_bytes() for d in ('nbs', 'vgg_report') for p in sorted((root/d).rglob('*'))
            if p.is_file() and '__pycache__' not in p.parts and '.ipynb_checkpoints' not in p.parts}

def test_notebooks_clean_and_package_in_sync(tmp_path):
    "nbdev_clean and nbdev_export leave no diff: notebooks are clean and vgg_report/ is what they export."
    for f in ('settings.ini', 'setup.py'): shutil.copy(ROOT/f, tmp_path/f)
    for d in ('nbs', 'vgg_report'): shutil.copytree(ROOT/d, tmp_path/d, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
    (tmp_path/'vgg_report'/'models.py').write_text('# stale\n')    # proves that the export below really runs
    before = _snapshot(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != 'IN_TEST'}
    for cmd in ('nbdev_clean', 'nbdev_export'):
        r = subprocess.run([str(BIN/cmd)], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, r.stderr
    assert (tmp_path/'vgg_report'/'models.py').read_bytes() == (ROOT/'vgg_report'/'models.py').read_bytes()
    after = _snapshot(tmp_path)
    changed = sorted(str(p) for p in set(before) | set(after) if before.get(p) != after.get(p) and p != Path('vgg_report/models.py'))
    assert not changed, f'run `nbdev_clean && nbdev_export` and commit: these files would change: {changed}'
