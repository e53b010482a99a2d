"""Execute the library notebooks in place, so that they are committed with their outputs (`make docs`), and compare a fresh
execution's outputs with the committed ones (`tests/test_notebooks.py`).

    python scripts/docs.py                 # every library notebook (nbs/[0-9]*.ipynb) and nbs/index.ipynb, then nbdev_clean
    python scripts/docs.py nbs/03_hooks.ipynb

Cells flagged `#| cuda` are skipped here (and keep no output); cells flagged `#| slow` run here but not under the tests, which
therefore check the outputs of every other cell. Outputs that vary by nature (object addresses, temporary folders) are
normalised before the comparison; the notebooks keep times and progress bars out of their outputs.
"""
import os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/'nbs'

def library_notebooks() -> list:
    "The numbered notebooks that define the package, and the landing page (not the papermill template or the report notebook)."
    return sorted(p for p in NBS.glob('[0-9]*.ipynb')) + [NBS/'index.ipynb']

def _flags(cell) -> set:
    "The cell's `#| flag` directives, and `eval:false` when it says `#| eval: false`."
    fl = set(re.findall(r'^#\|\s*([\w-]+)\s*$', cell.source, re.M))
    return fl | ({'eval:false'} if re.search(r'^#\|\s*eval:\s*false', cell.source, re.M | re.I) else set())

def execute(path, skip_flags=('cuda',)):
    """Run notebook `path` in this process with execnb, as nbdev_test does (from its folder, skipping the cells with `skip_flags`,
    `#| eval: false` and the export cell), and return it with its new outputs, and the indices of the cells that ran. Matplotlib
    figures are captured as PNG. Torch runs on one thread, as the tests do: a sum's order, and so its last digits, follow the
    thread count."""
    from execnb.nbio import read_nb
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    path = Path(path).resolve()
    nb, ran, skip_flags = read_nb(path), set(), {*skip_flags, 'eval:false'}
    def skip(cell):
        if cell.cell_type != 'code' or 'nbdev_export' + '(' in cell.source or skip_flags & _flags(cell): return True
        ran.add(cell.idx_)
    import torch
    saved, threads = dict(os.environ), torch.get_num_threads()
    os.environ['IN_TEST'] = '1'                       # nbdev_export() cells do nothing, as under nbdev_test
    torch.set_num_threads(1)
    try:
        k = CaptureShell(path, mpl_format='png')
        with working_directory(path.parent): k.run_all(nb, exc_stop=True, preproc=skip)
    finally: os.environ.clear(); os.environ.update(saved); torch.set_num_threads(threads)
    return nb, ran

_VOLATILE = [(re.compile(r'0x[0-9a-f]{6,}'), '0x…'), (re.compile(r'/tmp/[^\s\'"\)\]]+'), '/tmp/…'),
             (re.compile(r'\d{8}-\d{6}(-\d+)?'), '<time>'), (re.compile(r'\b(\d+h)?(\d+m)?\d+(\.\d+)?s\b'), '<secs>')]

def _text(t) -> str:
    t = ''.join(t) if isinstance(t, list) else t
    for pat, rep in _VOLATILE: t = pat.sub(rep, t)
    return t

def outputs(cell) -> list:
    "A cell's outputs in a comparable form: text as text (normalised), an image as its kind, an error as its name."
    out = []
    for o in cell.get('outputs', []):
        kind = o['output_type']
        if kind == 'stream': out.append(('stream', o['name'], _text(o['text'])))
        elif kind == 'error': out.append(('error', o['ename']))
        else:
            data = o.get('data', {})
            out.append((kind, *(('image',) if any(m.startswith('image/') for m in data) else ()), _text(data.get('text/plain', ''))))
    return out

def main(paths):
    from execnb.nbio import write_nb
    for p in map(Path, paths or library_notebooks()):
        print(f'executing {p.relative_to(ROOT) if p.is_absolute() else p}', flush=True)
        nb, _ = execute(p)
        write_nb(nb, p)
    subprocess.run([str(Path(sys.executable).parent/'nbdev_clean')], cwd=ROOT, check=True)

if __name__ == '__main__': main(sys.argv[1:])
