import json, os
import pytest, torch
from torch import nn
from vgg_report.models import create_model, MODELS
from vgg_report.hooks import weight_params

# Parameter counts (338,500 for VGG_38-BN), conv counts, output shapes, the residual block's identity path and the unknown-model
# error are asserted where they are shown: in nbs/01_models.ipynb. Here: what the notebook does not show.

@pytest.mark.parametrize('name', list(MODELS))
def test_other_class_counts(name):
    assert create_model(name, num_classes=10)(torch.randn(2, 3, 32, 32)).shape == (2, 10)

def test_only_reduction_blocks_have_conv_biases():
    m = create_model('vgg38_bn')
    with_bias = sorted(n for n, c in m.named_modules() if isinstance(c, nn.Conv2d) and c.bias is not None)
    assert with_bias == [f'reduction_block_{s}.conv_{i}' for s in range(3) for i in range(2)]

def test_module_names():
    m = create_model('vgg38_bn')
    kids = [n for n, _ in m.named_children()]
    assert kids[0] == 'input_conv' and kids[-1] == 'logit_linear_layer'
    assert kids[1:7] == [f'block_0_{j}' for j in range(5)] + ['reduction_block_0']
    labels = [l for l, _ in weight_params(m)]
    assert labels[:4] == ['input_conv_conv_0', 'input_conv_bn_0', 'block_0_0_conv_0', 'block_0_0_bn_0']
    assert 'reduction_block_2_conv_1' in labels and labels[-1] == 'logit_linear_layer'
    plain = [l for l, _ in weight_params(create_model('vgg38'))]
    assert [l for l in plain if '_bn_' in l] == ['input_conv_bn_0']     # the entry BN is in every variant

def test_seed_fixes_init():
    torch.manual_seed(3); a = create_model('vgg08')
    torch.manual_seed(3); b = create_model('vgg08')
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))

def _notebook(path, cells):
    "Write a notebook of code cells, as a user would in JupyterLab."
    import nbformat
    nb = nbformat.v4.new_notebook(); nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(path))

@pytest.mark.slow
@pytest.mark.long
def test_a_notebook_of_your_own_registers_a_model_everywhere(tmp_path):
    """In a copy of the project: a new numbered notebook that exports a module with a block and a registered model, nbdev_export,
    and nothing else edited. The model is then listed by vgg_run --list_models, accepted in a grid file, trained by a papermill
    kernel of vgg_sweep (every process finds it), and the grid file's row reaches the report's tables and its PDF. The sweep
    runs in bf16 (--precision bf16): its run set is a folder of its own, complete (not stale) to vgg_status --precision bf16,
    and the PDF says bf16 on its first page."""
    import subprocess, shutil
    from conftest import ROOT, BIN, run_cli
    proj = tmp_path/'proj'; proj.mkdir()
    for f in ('settings.ini', 'setup.py'): shutil.copy(ROOT/f, proj/f)
    for d in ('nbs', 'vgg_report'): shutil.copytree(ROOT/d, proj/d, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
    (proj/'report').mkdir()
    for f in ('report.tex', 'references.bib'): shutil.copy(ROOT/'report'/f, proj/'report'/f)   # the report's LaTeX sources
    _notebook(proj/'nbs'/'10_myblocks.ipynb', [
        '#| default_exp myblocks',
        '#| export\nfrom torch import nn\nfrom vgg_report.models import VGG, register_model',
        '#| export\nclass PlainBlock(nn.Sequential):\n    "conv → ReLU, size kept."\n'
        '    def __init__(self): super().__init__(nn.Conv2d(32, 32, 3, padding=1), nn.ReLU())\n\n'
        "@register_model('vgg11_plain')\ndef vgg11_plain(num_classes: int = 100) -> nn.Module: return VGG(1, num_classes, block=PlainBlock)"])
    before = {p.relative_to(proj): p.read_bytes() for p in proj.rglob('*') if p.is_file()}
    env = {k: v for k, v in os.environ.items() if k != 'IN_TEST'}
    r = subprocess.run([str(BIN/'nbdev_export')], cwd=proj, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    changed = sorted(str(p.relative_to(proj)) for p in proj.rglob('*') if p.is_file() and before.get(p.relative_to(proj)) != p.read_bytes())
    assert changed == ['vgg_report/_modidx.py', 'vgg_report/myblocks.py'], changed      # the export and nbdev's index of it, nothing else
    mine = {'PYTHONPATH': str(proj), 'VGG_REPORT_ROOT': str(proj)}                      # this copy's package and notebooks
    r = run_cli('vgg_run', '--list_models', env=mine)
    line = next((l for l in r.stdout.splitlines() if l.startswith('vgg11_plain ')), None)
    assert r.returncode == 0 and line and 'vgg_report.myblocks' in line, r.stdout + r.stderr
    (tmp_path/'mine.csv').write_text('name,model,lr\nPlain-11,vgg11_plain,1e-3\n')
    args = ['--grid', tmp_path/'mine.csv', '--profile', 'smoke', '--dataset', 'synthetic', '--runs_dir', tmp_path/'runs', '--precision', 'bf16']
    r = run_cli('vgg_sweep', *args, '--jobs', '1', env=mine)
    assert r.returncode == 0 and '1 complete' in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    m = json.loads((tmp_path/'runs'/'smoke-synthetic-bf16'/'plain-11'/'metrics.json').read_text())
    assert m['model'] == 'vgg11_plain' and m['status'] == 'complete'
    assert m['params'] == int(line.split()[1].replace(',', ''))                      # the same network in the kernel and the listing
    assert sorted(p.name for p in (tmp_path/'runs').iterdir() if not p.name.startswith('.')) == ['smoke-synthetic-bf16']
    st = run_cli('vgg_status', *args, '--json', env=mine)
    assert [(d['row'], d['status']) for d in json.loads(st.stdout)] == [('Plain-11', 'complete')], st.stdout + st.stderr
    r = run_cli('vgg_build_report', *args, '--out', tmp_path/'out', env=mine)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ext = (tmp_path/'out'/'report'/'tables'/'tab_extended.tex').read_text()
    assert any(l.startswith('Plain-11 & 0.001 & 1/1 & ') for l in ext.splitlines()), ext   # its own family, with its numbers
    text = subprocess.run(['pdftotext', str(tmp_path/'out'/'report'/'report.pdf'), '-'], capture_output=True, text=True, check=True).stdout
    assert 'Plain-11' in text and 'precision: bf16' in ' '.join(text.split('\f')[0].split())
