"Every notebook runs as nbdev_test runs it, and the notebooks are clean and in sync with the package."
import configparser, os, re, shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT, BIN

NBS = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
_cfg = configparser.ConfigParser(); _cfg.read(ROOT/'settings.ini')
SKIP_FLAGS = _cfg['DEFAULT']['tst_flags'].split()             # notest slow cuda: the cells nbdev_test skips

sys.path.insert(0, str(ROOT/'scripts'))
import docs                                                    # scripts/docs.py: what `make docs` runs
LIBRARY = {p.name for p in docs.library_notebooks()}

CPU_DEPENDENT = '# its numbers vary with the CPU'   # a cell that trains in float32: its last digits depend on the CPU's kernels
_NUMBER = re.compile(r'-?\d+(?:\.\d+)?')

def _close(now, then, tol=1.5) -> bool:
    "Outputs that agree but for numbers within `tol` of each other (the same text around them, the same kinds of output)."
    if len(now) != len(then): return False
    for a, b in zip(now, then):
        if a[:-1] != b[:-1] or _NUMBER.sub('#', a[-1]) != _NUMBER.sub('#', b[-1]): return False
        if any(abs(float(x) - float(y)) > tol for x, y in zip(_NUMBER.findall(a[-1]), _NUMBER.findall(b[-1]))): return False
    return True

def test_close_outputs_are_told_from_stale_ones():
    out = lambda s: [('stream', 'stdout', s)]
    assert _close(out('CNN class 93.9%'), out('CNN class 93.5%')) and not _close(out('CNN class 90.1%'), out('CNN class 93.5%'))
    assert not _close(out('MLP class 93.9%'), out('CNN class 93.9%')) and not _close(out('a 1'), out('a 1') + out('b'))

@pytest.mark.parametrize('nb', NBS)
def test_notebook_runs(nb, monkeypatch, tmp_path):
    """The notebook's cells, skipping those flagged as nbdev_test skips them, executed in this process as nbdev_test runs them
    (`nbdev_test --path nbs/<nb>` does the same in a new one). A library notebook is committed with its outputs: every cell that
    ran must show what it shows now, so an example that lost its output, or whose output went stale, fails: run `make docs`.
    A cell marked CPU_DEPENDENT (float32 training, whose last digits follow the CPU's kernels) may differ in its numbers by 1.5."""
    from execnb.nbio import read_nb
    monkeypatch.setenv('VGG_REPORT_RUNS', str(tmp_path))         # the experiment notebook's run goes where vgg_run's would
    fresh, ran = docs.execute(ROOT/'nbs'/nb, SKIP_FLAGS)
    if nb not in LIBRARY: return
    committed = read_nb(ROOT/'nbs'/nb)
    for i in sorted(ran):
        now, then = docs.outputs(fresh.cells[i]), docs.outputs(committed.cells[i])
        if CPU_DEPENDENT in committed.cells[i].source and then and _close(now, then): continue
        assert now == then, (f"{nb}, cell {i} ({committed.cells[i].source.splitlines()[0][:60]!r}): its committed output "
                             f"{'is missing' if not then else 'is stale'}; run `make docs` and commit\ncommitted: {then}\nnow:       {now}")

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

def test_the_linter_passes():
    """ruff (ruff.toml) finds nothing in the package and the notebooks: lines of at most 120 characters, one statement a line,
    no ambiguous names, and pyflakes' checks (no unused import, no undefined name, no shadowed import). `ruff check` says where."""
    r = subprocess.run([str(BIN/'ruff'), 'check', '--output-format', 'concise', 'vgg_report', 'nbs'], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]

def _documented(cells) -> tuple:
    "`(documented, defining)`: the exported cells that define something, and those followed by an example with output."
    code = [c for c in cells if c['cell_type'] == 'code']
    exported = [''.join(c['source']).startswith('#| export') for c in code]
    defining = [i for i, c in enumerate(code) if exported[i] and re.search(r'^(def|class|async def|@)', ''.join(c['source']), re.M)]
    shown = [i for i in defining if i + 1 < len(code) and not exported[i + 1] and code[i + 1].get('outputs')]
    return len(shown), len(defining)

def test_definitions_are_followed_by_examples(capsys):
    """At least 80 % of the exported cells that define something are followed by an example with its output, as in fastcore's
    notebooks; the ratio of each notebook and of all is printed."""
    import json
    counts = {p.name: _documented(json.loads(p.read_text())['cells']) for p in sorted((ROOT/'nbs').glob('[0-9]*.ipynb'))}
    shown, total = (sum(v[i] for v in counts.values()) for i in (0, 1))
    with capsys.disabled():
        print('\nexamples after exported definitions: ' + ', '.join(f'{n[:-6]} {a}/{b}' for n, (a, b) in counts.items())
              + f'; all {shown}/{total} = {shown / total:.0%}')
    assert shown / total >= 0.8, counts

def test_exported_cells_are_nbdev_sized():
    """No `#| export` cell of a notebook runs past 45 lines (about 40: one definition, or a tight pair): split a longer one at its
    definitions, or move methods out with `@patch`, each with its prose and example after it."""
    import json
    long = [f"{p.name}: an exported cell of {n} lines starting {src.splitlines()[1][:60]!r}"
            for p in sorted((ROOT/'nbs').glob('*.ipynb')) for c in json.loads(p.read_text())['cells']
            if c['cell_type'] == 'code' and (src := ''.join(c['source'])).startswith('#| export') and (n := len(src.splitlines())) > 45]
    assert not long, '\n'.join(long)

def test_experiment_parameters_are_those_runconfig_defines(monkeypatch):
    """The experiment notebook's papermill parameters cell (literal, as papermill needs) is exactly what RunConfig's fields and
    NOTEBOOK_PARAMS define: names, types, the notebook's defaults and the help texts. A parameter added to either and not to the
    cell, or the other way round, fails here."""
    from dataclasses import dataclass
    from execnb.nbio import read_nb
    from vgg_report import runner
    from vgg_report.config import RunConfig, param
    cell = next(c for c in read_nb(ROOT/'nbs'/'experiment.ipynb').cells if 'parameters' in c.metadata.get('tags', []))
    assert cell.source == runner.parameters_cell(), 'paste `vgg_report.runner.parameters_cell()` into the parameters cell of nbs/experiment.ipynb'
    monkeypatch.setitem(runner.NOTEBOOK_PARAMS, 'verbose', (bool, False, 'print more'))
    assert cell.source != runner.parameters_cell()
    monkeypatch.undo()
    @dataclass
    class Wider(RunConfig): momentum: float = param(0.9, "Adam's beta1", hashed=True)
    monkeypatch.setattr(runner, 'RunConfig', Wider)
    assert cell.source != runner.parameters_cell()
