"""Build the docs site into `_site/html` (`make site`): the library notebooks (nbs/[0-9]*.ipynb) with their committed outputs, never
executed; an API page per module from its docstrings; the README and the study's description (nbs/the_study.md); the last report's
PDF and figures when they exist. Sphinx with
myst-nb, offline. The pages' sources are assembled in `_site/src` first: nbdev's `#|` directive lines and `#| hide` cells are left out."""
import argparse, json, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT/'_site'

def library_notebooks() -> list: return sorted((ROOT/'nbs').glob('[0-9]*.ipynb'))

def modules() -> list: return sorted(p.stem for p in (ROOT/'vgg_report').glob('[a-z]*.py'))

def clean_notebook(src: Path, dst: Path):
    "`src` as the site shows it: hidden cells dropped, directive lines (`#| export`) removed from code cells; outputs kept."
    nb = json.loads(src.read_text())
    cells = []
    for c in nb['cells']:
        lines = c['source'] if isinstance(c['source'], list) else c['source'].splitlines(keepends=True)
        if c['cell_type'] == 'code':
            if any(l.strip() in ('#| hide', '#|hide') for l in lines): continue
            lines = [l for l in lines if not l.startswith('#|')]
            if not ''.join(lines).strip() and not c.get('outputs'): continue
        cells.append({**c, 'source': ''.join(lines)})
    dst.write_text(json.dumps({**nb, 'cells': cells}, indent=1))

def report_page(src: Path, built: Path = ROOT) -> str:
    "The page of the last report under `built`: its PDF and figures when `make report` has built them, else how to build them."
    pdf, figs = built/'report/report.pdf', sorted((built/'figures').glob('fig_*.png'))
    text = ['# The report', '']
    if not pdf.exists() and not figs: return '\n'.join(text + ['No report has been built in this checkout: `make report` builds it.', ''])
    (src/'report').mkdir()
    if pdf.exists():
        shutil.copy2(pdf, src/'report/report.pdf')
        text += ['{download}`The report (PDF) <report/report.pdf>`, as `make report` built it last.', '']
    for f in figs:
        shutil.copy2(f, src/'report'/f.name)
        text += [f'## {f.stem}', '', f'![{f.stem}](report/{f.name})', '']
    return '\n'.join(text)

def assemble(src: Path, built: Path = ROOT):
    if src.exists(): shutil.rmtree(src)
    (src/'api').mkdir(parents=True)
    for f in ('conf.py', 'favicon.svg'): shutil.copy2(ROOT/'docs_site'/f, src/f)
    (src/'readme.md').write_text((ROOT/'README.md').read_text().replace('](nbs/', ']('))   # the notebooks' folder is the site's
    shutil.copy2(ROOT/'nbs'/'the_study.md', src/'the_study.md')
    for nb in library_notebooks(): clean_notebook(nb, src/nb.name)
    for m in modules():
        (src/'api'/f'{m}.md').write_text(f'# vgg_report.{m}\n\n```{{eval-rst}}\n.. automodule:: vgg_report.{m}\n   :members:\n```\n')
    (src/'report.md').write_text(report_page(src, built))
    toc = lambda caption, names: ['```{toctree}', ':maxdepth: 1', f':caption: {caption}', '', *names, '```', '']
    index = ['# vgg_report', '', 'Why deep convolutional networks stop learning: a literate, reproducible study on CIFAR-100.', '',
             *toc('Read me', ['readme', 'the_study']), *toc('Notebooks', [nb.stem for nb in library_notebooks()]),
             *toc('API', [f'api/{m}' for m in modules()]), *toc('Report', ['report'])]
    (src/'index.md').write_text('\n'.join(index))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', type=Path, default=SITE, help='the site goes to OUT/html, its sources to OUT/src (default: _site)')
    p.add_argument('--report_from', type=Path, default=ROOT, help='the folder whose report/report.pdf and figures/fig_*.png it shows')
    a = p.parse_args(argv)
    src, html = a.out/'src', a.out/'html'
    assemble(src, a.report_from)
    if html.exists(): shutil.rmtree(html)
    r = subprocess.run([sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-W', '--keep-going', '-j', '1', str(src), str(html)], cwd=ROOT)
    if r.returncode: sys.exit(r.returncode)
    print(f'site: {html/"index.html"} ({len(list(html.rglob("*.html")))} pages); serve it with: python -m http.server -d {html} -b 127.0.0.1')

if __name__ == '__main__': main()
