"""Build the docs site into `_site/html` (`make site`): the library notebooks (nbs/[0-9]*.ipynb) with their committed
outputs, never executed; an API page per module from its docstrings; the README, the study's description
(nbs/the_study.md) and the guide's pages (docs_site/guide/*.md), their links pointed at the site's pages and the
measurements they ask for (nbs/measured/*.json) shown as tables; the last report as its PDF shows it (from
report/manifest.json: its caveat, figures, tables and claims) when there is one. Sphinx with myst-nb, offline. The
pages' sources are assembled in `_site/src` first: nbdev's `#|` directive lines and `#| hide` cells are left out."""
import argparse, json, re, shutil, subprocess, sys
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT/'_site'
GUIDE = ROOT/'docs_site'/'guide'
# The guide's pages, in the order of the site's table of contents (a page of docs_site/guide/ left out of this list
# fails the build: Sphinx warns that no table of contents holds it).
GUIDE_PAGES = ('running', 'cluster', 'faults', 'report', 'performance', 'watching', 'own-models', 'working')

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

# The report page: the PDF's twin, made from report/manifest.json, which `vgg_build_report` writes: the first
# page's box, every figure and table with its number, caption and the notebook that makes it, the claims with their
# verdicts, in the PDF's order. The tables are the PDF's own booktabs bodies (report/tables/*.tex) turned into HTML:
# the same rows, numbers and words as the PDF, and no second writer of tables to drift from it. A LaTeX command the
# reader below does not know stops the build with its name; it never shows as raw LaTeX.

MANIFEST = 'report/manifest.json'
_MD_SPECIAL = set('\\`*_{}[]()<>#+-.!|~$^&:%=@/;?"\'')

def md_text(s: str) -> str:
    "Plain text `s` as Markdown that shows it verbatim: ASCII punctuation backslash-escaped, whitespace one space."
    return ''.join('\\' + c if c in _MD_SPECIAL else c for c in ' '.join(str(s).split()))

def _group(s: str, i: int) -> tuple:
    "The brace group `{...}` at `s[i]` (after spaces): its inside and the index after it."
    while s[i] == ' ': i += 1
    if s[i] != '{': raise ValueError(f'expected {{ at {s[i:i + 20]!r}')
    depth, j = 0, i
    while j < len(s):
        if s[j] == '\\':
            j += 2
            continue
        depth += {'{': 1, '}': -1}.get(s[j], 0)
        if depth == 0: return s[i + 1:j], j + 1
        j += 1
    raise ValueError(f'unbalanced braces in {s[i:i + 40]!r}')

def _split(s: str, sep: str) -> list:
    "`s` split at `sep` outside braces and not escaped (`\\&` stays a character)."
    out, depth, start, i = [], 0, 0, 0
    while i < len(s):
        if s.startswith(sep, i):
            if depth == 0: out, start = out + [s[start:i]], i + len(sep)
            i += len(sep)
        elif s[i] == '\\': i += 2
        else: depth, i = depth + {'{': 1, '}': -1}.get(s[i], 0), i + 1
    return out + [s[start:]]

_CHARS = {r'\_': '_', r'\%': '%', r'\&': '&', r'\#': '#', r'\$': '$', r'\{': '{', r'\}': '}', r'\textbackslash': '\\',
          r'\textbar': '|', r'\ldots': '…', r'\dots': '…', r'\,': '\u2009', r'\ ': ' ', r'\;': ' ', r'\!': '',
          r'\times': '×', r'\pm': '±', r'\cdot': '·', r'\le': '≤', r'\leq': '≤', r'\ge': '≥', r'\geq': '≥',
          r'\approx': '≈', r'\sim': '~', r'\infty': '∞', r'\log': 'log', r'\ln': 'ln', r'\mid': '|'}
_WRAP = {'textbf': 'strong', 'emph': 'em', 'textit': 'em', 'texttt': 'code', 'textsuperscript': 'sup',
         'textsubscript': 'sub', 'mathrm': None, 'text': None, 'ensuremath': None, 'mbox': None, 'textrm': None,
         'makecell': None}

def latex_cell(s: str, where: str = '') -> str:
    "One table cell's LaTeX as HTML (escaped); a command it does not know raises ValueError naming it."
    import html, re
    out, i, s = [], 0, s.strip()
    while i < len(s):
        if s.startswith('---', i): out, i = out + ['—'], i + 3
        elif s.startswith('--', i): out, i = out + ['–'], i + 2
        elif s[i] == '~': out, i = out + ['\u00a0'], i + 1
        elif s[i] == '$':                                   # math: its symbols as characters, ^ and _ as sup and sub
            j = s.index('$', i + 1)
            math = re.sub(r'\^\{([^{}]*)\}|\^(\w)', r'\\textsuperscript{\1\2}', s[i + 1:j])
            out, i = out + [latex_cell(re.sub(r'_\{([^{}]*)\}|_(\w)', r'\\textsubscript{\1\2}', math), where)], j + 1
        elif s[i] == '\\':
            cmd = re.match(r'\\([A-Za-z]+|.)', s[i:]).group(0)
            i += len(cmd)
            if cmd == '\\\\': out.append('<br>')
            elif cmd in _CHARS: out.append(html.escape(_CHARS[cmd]))
            elif cmd[1:] in _WRAP:
                inner, i = _group(s, i)
                tag, body = _WRAP[cmd[1:]], latex_cell(inner, where)
                out.append(f'<{tag}>{body}</{tag}>' if tag else body)
            else: raise ValueError(f'{where}: the site cannot show the LaTeX command {cmd}: teach it to latex_cell')
        elif s[i] in '{}': i += 1
        else: out, i = out + [html.escape(s[i])], i + 1
    return ''.join(out)

_RULE = r'\\(toprule|midrule|bottomrule|hline|cmidrule|addlinespace)(\([a-z]*\))?(\{[^}]*\}|\[[^]]*\])?'

def _cells(text: str, where: str) -> list:
    "A row's cells as `(columns spanned, HTML)`."
    import re
    out = []
    for c in _split(text, '&'):
        m = re.match(r'\s*\\multicolumn', c)
        if m is None:
            out.append((1, latex_cell(c, where)))
            continue
        n, j = _group(c, m.end())
        inner, _ = _group(c, _group(c, j)[1])                     # past the column's alignment
        out.append((int(n), latex_cell(inner, where)))
    return out

def _html_rows(tag: str, rows: list) -> str:
    cell = lambda n, c: f'<{tag}' + (f' colspan="{n}"' if n > 1 else '') + f'>{c}</{tag}>'
    rule = ' style="border-top: 1.5px solid"'                         # the body's midrule (a mean row, say)
    return ''.join('<tr' + (rule if r else '') + '>' + ''.join(cell(*c) for c in cs) + '</tr>' for cs, r in rows)

def latex_table(tex: str, where: str = '') -> str:
    "A booktabs `tabular` (report/tables/*.tex) as an HTML table: the rows above the first midrule are its head."
    import re
    body = '\n'.join(line for line in tex.splitlines() if not line.lstrip().startswith('%'))
    m = re.search(r'\\begin\{(tabular\*?|tabularx)\}', body)
    if m is None: raise ValueError(f'{where}: no tabular in it')
    i = m.end()
    for _ in range(1 if m.group(1) == 'tabular' else 2): i = _group(body, i)[1]    # (the width,) the columns
    body = body[i:body.index('\\end{' + m.group(1) + '}')]
    head, rows, in_body, rule_above = [], [], False, False
    for raw in _split(body, '\\\\'):
        found = [r[0] for r in re.findall(_RULE, raw)]
        text = re.sub(_RULE, '', raw).strip()
        if 'midrule' in found or 'hline' in found:
            rule_above, in_body = in_body, True               # the first ends the head; a later one parts the body
        if not text: continue
        (rows if in_body else head).append((_cells(text, where), rule_above))
        rule_above = False
    if not rows: head, rows = [], head                        # no midrule: no head
    return (f'<table class="docutils align-default report-table"><thead>{_html_rows("th", head)}</thead>'
            f'<tbody>{_html_rows("td", rows)}</tbody></table>')

def _anchor(label: str) -> str: return 'report-' + label.replace(':', '-')   # fig:curves -> report-fig-curves

def _figure(f: dict) -> list:
    "A figure of the manifest: its PNG, 'Figure N.' and the PDF's caption, the notebook that draws it."
    return ['```{figure} ' + f"report/{f['file']}.png", f":name: {_anchor(f['label'])}", f":alt: Figure {f['number']}",
            '', f"**Figure {f['number']}.** {md_text(f['caption'])}", '',
            f"Drawn by [{f['notebook']}]({f['notebook']}.ipynb).", '```', '']

def _table(t: dict, tex: Path) -> list:
    "A table of the manifest: 'Table N.', the PDF's caption, the PDF's table as HTML, the notebook that makes it."
    return [f"({_anchor(t['label'])})=", f"**Table {t['number']}.** {md_text(t['caption'])}", '',
            latex_table(tex.read_text(), tex.name), '', f"Made by [{t['notebook']}]({t['notebook']}.ipynb).", '']

def _claims(claims: list) -> str:
    "The claims and their verdicts as an HTML table, with each verdict's test and evidence."
    import html
    e = lambda v: html.escape(str(v))
    rows = ''.join(f"<tr><td>{e(c['claim'])}</td><td class=\"verdict\"><strong>{e(c['verdict'])}</strong></td>"
                   f"<td>{e(c['test'])}</td><td>{e(c['evidence'])}</td></tr>" for c in claims)
    return ('<table class="docutils align-default report-claims"><thead><tr><th>claim of the seed report</th>'
            f'<th>verdict</th><th>test</th><th>evidence</th></tr></thead><tbody>{rows}</tbody></table>')

def _check_manifest(m: dict, built: Path):
    "Stop in one line at what the page cannot show: a file the manifest names that is missing, a notebook with no page."
    need = [built/'report/report.pdf', *(built/'figures'/f"{f['file']}.png" for f in m['figures']),
            *(built/'report/tables'/f"{t['file']}.tex" for t in m['tables'])]
    missing = ', '.join(str(p) for p in need if not p.exists())
    if missing: sys.exit(f"site: {built/MANIFEST} names files that are not there ({missing}): `make report` again")
    unknown = sorted({x['notebook'] for x in m['figures'] + m['tables']} - {nb.stem for nb in library_notebooks()})
    if unknown: sys.exit(f"site: {built/MANIFEST} names notebooks the site has no page for: {', '.join(unknown)}")

def report_page(src: Path, built: Path = ROOT) -> str:
    "The report's page, the PDF's twin (from `built`'s report/manifest.json), or a line saying how to build it."
    text, manifest = ['# The report', ''], built/MANIFEST
    if not (built/'report/report.pdf').exists():
        return '\n'.join(text + ['No report has been built in this checkout: `make report` builds it '
                                 '(`make report PROFILE=smoke`: a smoke report, in minutes).', ''])
    if not manifest.exists():
        return '\n'.join(text + [f'The last report was built without `{MANIFEST}`, which this page is made from: '
                                 '`make report` builds it again.', ''])
    m = json.loads(manifest.read_text())
    _check_manifest(m, built)
    (src/'report').mkdir()
    shutil.copy2(built/'report/report.pdf', src/'report/report.pdf')
    for f in m['figures']: shutil.copy2(built/'figures'/f"{f['file']}.png", src/'report'/f"{f['file']}.png")
    text += [f"The report of the run set `{m['run_set']}` ({{download}}`the PDF <report/report.pdf>`), with the PDF's "
             "numbers and captions; each figure and table names the notebook that makes it. "
             f"Generated by {md_text(m['generated_by'])}.", '', '```{important}', md_text(m['caveat']), '```', '',
             '## Claims and verdicts', '', _claims(m['claims']), '', '## Figures', '']
    text += [line for f in m['figures'] for line in _figure(f)] + ['## Tables', '']
    text += [line for t in m['tables'] for line in _table(t, built/'report/tables'/f"{t['file']}.tex")]
    return '\n'.join(text)

# The README and the guide's pages are written for a code host: their relative links name files of the repository
# (`docs_site/guide/running.md`, `../../nbs/03_hooks.ipynb`). The site holds those files elsewhere (the notebooks'
# folder is its root, the guide is guide/, the README readme.md), so each link is pointed at the site's copy; a link to
# a file the site does not have stops the build, naming the page and the link. Numbers that change with each
# measurement live in files the code writes (nbs/measured/*.json); a page asks for one with a line
# `<!-- measured: nbs/measured/<file> -->`, invisible on a code host, which the site replaces by the file as a table.

SITE_FOLDERS = {'nbs/': '', 'docs_site/guide/': 'guide/'}     # a folder of the repository -> where the site holds it
_LINK = re.compile(r'(\]\()([^)\s]+)(\))')                     # a Markdown link's or image's target: ](target)
MEASURED = re.compile(r'^<!-- measured: (\S+) -->$', re.M)

def site_path(repo_path: str):
    "Where the site holds the repository's file `repo_path` (a POSIX path from the root), or None when it has none."
    if repo_path == 'README.md': return 'readme.md'
    return next((to + repo_path[len(fr):] for fr, to in SITE_FOLDERS.items() if repo_path.startswith(fr)), None)

def site_links(text: str, page: str, src: Path) -> str:
    "`text`, the repository's page `page`, with every relative link pointed at the site's copy of its target in `src`."
    here, there = PurePosixPath(page).parent, PurePosixPath(site_path(page)).parent
    def point(m):
        target, _, frag = m.group(2).partition('#')
        if not target or re.match(r'[a-z]+:', target): return m.group(0)          # an anchor on the page, or a URL
        repo = PurePosixPath(*_normal((here/target).parts))
        at = site_path(str(repo))
        if at is None or not (src/at).exists():
            raise ValueError(f'{page}: the link to {m.group(2)} names {repo}, which the site does not have')
        rel = _relative(PurePosixPath(at), there)
        return m.group(1) + rel + ('#' + frag if frag else '') + m.group(3)
    return _LINK.sub(point, text)

def _normal(parts) -> list:
    "A path's parts with `..` resolved, as a POSIX path from the repository's root."
    out = []
    for p in parts:
        if p == '..' and not out: raise ValueError(f"{'/'.join(parts)} climbs out of the repository")
        if p == '..': out.pop()
        elif p != '.': out.append(p)
    return out

def _relative(path: PurePosixPath, start: PurePosixPath) -> str:
    "`path` relative to the folder `start` (both from the site's root), with `..` where it must climb."
    a, b = path.parts, start.parts if str(start) != '.' else ()
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return '/'.join(['..'] * (len(b) - n) + list(a[n:]))

def md_table(columns: list, rows: list, align: str = None) -> str:
    "A Markdown pipe table of `rows` (lists of cells already in Markdown) under `columns`; `align`: l or r a column."
    cell = lambda c: re.sub(r'(?<!\\)\|', r'\\|', str(c))                  # a bare | would end the cell
    bar = lambda cells: '| ' + ' | '.join(map(cell, cells)) + ' |'
    rule = ['---:' if a == 'r' else '---' for a in (align or 'l' * len(columns))]
    return '\n'.join([bar(columns), '| ' + ' | '.join(rule) + ' |', *map(bar, rows)])

def _bench(d: dict) -> str:
    "A `vgg_bench --out` file: its machine, its table and closing lines as `vgg_bench` prints them (vgg_report.bench)."
    from vgg_report.bench import bench_table, summary_lines
    t = bench_table(d)
    cpu = '' if 'thread' in d['device_name'] else f", {d['threads']} CPU threads"
    head = (f"{d['device_name']}{cpu}, torch {d['torch']}, {d['model']}, batch {d['batch_size']}, {d['n_images']:,} "
            f"images a round, each measurement the best of {d['repeat']} rounds")
    rounds = 'ours in each round: ' + ', '.join(f'{x:,.0f}' for x in d['rounds']['ours_images_per_s']) + ' images/s'
    cost = lambda s: f'{s * 1000:.2f} ms' if s > 0 else 'below the noise'     # a difference of timings can be < 0
    flow = {k: d.get(f'gradflow_{k}_s') for k in ('fused', 'public', 'per_weight')}
    lines = [x.strip() for x in summary_lines(d)] + [rounds]
    if flow['fused'] is not None:
        lines.append('the gradient-flow recorder, added to a step of batch 2: ' + ', '.join(
            f"{k.replace('_', ' ')} {cost(v)}" for k, v in flow.items() if v is not None))
    table = md_table(['measurement', 'ms per step', 'images/s'],
                     [[r.measurement, f'{r.ms_per_step:.1f}', f'{r.images_per_s:,}'] for r in t.itertuples()], 'lrr')
    return '\n'.join([md_text(head), '', table, '', *(f'- {md_text(x)}' for x in lines)])

def _train_check(d: dict) -> str:
    "A `scripts/gpu_train_check.py` record: its machine, every check's verdict and every run's numbers."
    head = (f"{d['date']}, {d['device']}, torch {d['versions'].get('torch', '?')}, "
            f"commit {d.get('git_commit') or '?'}: "
            f"{'every check passed' if d['passed'] else 'A CHECK FAILED'}")
    checks = md_table(['check', 'identical', 'must be identical', 'differs in'],
                      [[md_text(c['check']), c['identical'], c['must_be_identical'],
                        md_text(', '.join(c['differs_in']))] for c in d['checks']])
    fmt = lambda v: '–' if v is None else f'{v:.4f}' if isinstance(v, float) else md_text(v)
    keys = ['status', 'val_acc', 'test_acc', 'val_loss', 'train_loss', 'seconds']
    runs = md_table(['run', *keys], [[md_text(k), *(fmt(r.get(c)) for c in keys)] for k, r in d['runs'].items()],
                    'l' + 'l' + 'r' * (len(keys) - 1))
    return '\n'.join([md_text(head), '', checks, '', runs])

def _test_costs(d) -> str:
    "The suite's measured durations: a list of `{test, seconds, what}` (or an object holding one, with its totals)."
    rows = d if isinstance(d, list) else next(v for v in d.values() if _is_costs(v))
    notes = [] if isinstance(d, list) else [f'{md_text(k)}: {md_text(v)}' for k, v in d.items()
                                               if not isinstance(v, (list, dict))]
    table = md_table(['test', 'seconds', 'what it alone proves'],
                     [[f"`{r['test']}`", f"{r['seconds']:.1f}", md_text(r.get('what', ''))]
                      for r in sorted(rows, key=lambda r: -r['seconds'])], 'lrl')
    return '\n'.join([*(f'- {n}' for n in notes), '', table])

def _is_costs(v) -> bool:
    "Whether `v` is the suite's list of measured tests."
    return isinstance(v, list) and bool(v) and all(isinstance(r, dict) and {'test', 'seconds'} <= set(r) for r in v)

def _report_time(d: dict) -> str:
    "A `scripts/time_report.py` record: how long a fresh clone's `make report` took, its rows, and the claims it judged."
    secs = [r['seconds'] for r in d['rows']]
    head = (f"{d['measured']}, {d['host']}, commit {d['commit']}: `{d['command']}` took {d['minutes']} minutes "
            f"(load average {d['load_before']} before, {d['load_after']} after) for the {d['n_rows']} rows of the "
            f"run set {d['run_set']}, each row {min(secs):.0f} to {max(secs):.0f} s of training")
    claims = md_table(['claim', 'verdict', 'evidence'],
                      [[md_text(c['claim']), md_text(c['verdict']), md_text(c['evidence'])] for c in d['claims']])
    return '\n'.join([md_text(head), '', claims])

_KINDS = ((lambda d: isinstance(d, dict) and {'floor_step_s', 'ours_images_per_s', 'rounds'} <= set(d), _bench),
          (lambda d: isinstance(d, dict) and {'run_set', 'claims', 'seconds'} <= set(d), _report_time),
          (lambda d: isinstance(d, dict) and {'checks', 'runs', 'passed'} <= set(d), _train_check),
          (lambda d: _is_costs(d) or isinstance(d, dict) and any(_is_costs(v) for v in d.values()), _test_costs))

def measured(repo_path: str, root: Path = ROOT) -> str:
    "The measurement file `repo_path` (nbs/measured/*.json) as Markdown: a table of what it holds, named by its file."
    path = root/repo_path
    if not repo_path.startswith('nbs/measured/') or path.suffix != '.json':
        raise ValueError(f'{repo_path}: a page shows measurements from nbs/measured/*.json only')
    if not path.exists(): return f'*No measurement yet: `{repo_path}` is not there.*'
    d = json.loads(path.read_text())
    show = next((f for ok, f in _KINDS if ok(d)), None)
    if show is None: raise ValueError(f'{repo_path}: the site does not know how to show this file: teach measured()')
    return '\n'.join([f'```{{admonition}} {repo_path}', ':class: note', '', show(d), '```'])

def site_page(path: Path, src: Path) -> str:
    "The repository's Markdown page `path` as the site shows it: links pointed at the site, measurements as tables."
    page = path.relative_to(ROOT).as_posix()
    try:
        text = MEASURED.sub(lambda m: measured(m.group(1)), path.read_text())
        return site_links(text, page, src)
    except ValueError as e: sys.exit(f'site: {e}')

def assemble(src: Path, built: Path = ROOT):
    if src.exists(): shutil.rmtree(src)
    (src/'api').mkdir(parents=True)
    for f in ('conf.py', 'favicon.svg'): shutil.copy2(ROOT/'docs_site'/f, src/f)
    shutil.copy2(ROOT/'nbs'/'the_study.md', src/'the_study.md')
    shutil.copytree(ROOT/'nbs'/'measured', src/'measured')
    for nb in library_notebooks(): clean_notebook(nb, src/nb.name)
    (src/'guide').mkdir()
    pages = {ROOT/'README.md': src/'readme.md', **{p: src/'guide'/p.name for p in sorted(GUIDE.glob('*.md'))}}
    for page, to in pages.items(): shutil.copy2(page, to)            # all of them first: a page may link to any other
    for page, to in pages.items(): to.write_text(site_page(page, src))
    for m in modules():
        (src/'api'/f'{m}.md').write_text(f'# vgg_report.{m}\n\n```{{eval-rst}}\n.. automodule:: vgg_report.{m}\n   :members:\n```\n')
    (src/'report.md').write_text(report_page(src, built))
    toc = lambda caption, names: ['```{toctree}', ':maxdepth: 1', f':caption: {caption}', '', *names, '```', '']
    index = ['# vgg_report', '', 'Why deep convolutional networks stop learning: a literate, reproducible study on CIFAR-100.', '',
             *toc('Read me', ['readme', 'the_study']), *toc('Guide', [f'guide/{p}' for p in GUIDE_PAGES]),
             *toc('Notebooks', [nb.stem for nb in library_notebooks()]),
             *toc('API', [f'api/{m}' for m in modules()]), *toc('Report', ['report'])]
    (src/'index.md').write_text('\n'.join(index))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', type=Path, default=SITE, help='the site goes to OUT/html, its sources to OUT/src (default: _site)')
    p.add_argument('--report_from', type=Path, default=ROOT,
                   help='the folder whose report (report/manifest.json, its PDF, figures and tables) it shows')
    a = p.parse_args(argv)
    src, html = a.out/'src', a.out/'html'
    assemble(src, a.report_from)
    if html.exists(): shutil.rmtree(html)
    r = subprocess.run([sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-W', '--keep-going', '-j', '1', str(src), str(html)], cwd=ROOT)
    if r.returncode: sys.exit(r.returncode)
    print(f'site: {html/"index.html"} ({len(list(html.rglob("*.html")))} pages); serve it with: python -m http.server -d {html} -b 127.0.0.1')

if __name__ == '__main__': main()
