"Issue 21: every 'which setting is best' verdict states its error rate, and keeps it: a Monte-Carlo check on pure noise, and units."
import math, re
from dataclasses import replace
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from vgg_report.study import ROWS, LEVEL, best_setting, compare_settings, detectable

def _rates(n_others, shift, draws, seed=0):
    "How often each verdict comes out when the reference (3 seeds) leads `n_others` single runs by `shift` standard deviations."
    rng = np.random.default_rng(seed)
    base, others = rng.normal(size=(draws, 3)) + shift, rng.normal(size=(draws, n_others))
    counts = {'held': 0, 'did not hold': 0, 'not distinguishable': 0}
    for b, o in zip(base, others): counts[best_setting(list(b), {f's{j}': [x] for j, x in enumerate(o)})] += 1
    return {k: v / draws for k, v in counts.items()}

@pytest.mark.parametrize('n_others', [2, 4])
def test_no_effect_keeps_each_wrong_verdict_near_the_level(n_others):
    "No real difference: each wrong verdict in at most 6 % of 20,000 draws (5 % allowed, plus Monte-Carlo noise)."
    r = _rates(n_others, 0.0, 20_000)
    print(f"\nno effect, 3 reference seeds against {n_others} single runs, 20,000 draws: "
          f"did not hold {r['did not hold']:.2%}, held {r['held']:.2%}, not distinguishable {r['not distinguishable']:.2%}")
    assert r['did not hold'] <= 0.06 and r['held'] <= 0.06, r
    assert r['did not hold'] >= 0.01, r      # the test is not blind: the stated 5 % is spent, in part

@pytest.mark.parametrize('n_others', [2, 4])
def test_a_large_lead_is_found(n_others):
    "The reference 20 standard deviations ahead: held in at least 90 % of 20,000 draws."
    r = _rates(n_others, 20.0, 20_000, seed=1)
    print(f"\nreference 20 sd ahead, {n_others} competitors, 20,000 draws: held {r['held']:.2%}")
    assert r['held'] >= 0.90, r

def test_diverged_runs_lose_and_thresholds_decide():
    c = compare_settings([0.50, 0.48, 0.49], {'a': [0.30], 'b': [None]})
    assert set(c.behind) == {'a', 'b'} and c.verdict == 'held' and list(c.thresholds) == ['a']      # b needed no test
    assert best_setting([None, None, None], {'a': [0.3]}) == 'did not hold'                 # the reference diverged
    assert best_setting([0.5, 0.5, 0.5], {'a': [None]}) == 'held'
    c = compare_settings([50.24, 47.60, 46.32], {'x5': [47.92], 'x1/10': [40.12]})
    assert c.verdict == 'not distinguishable' and all(abs(c.lead(n)) <= t for n, t in c.thresholds.items())
    assert detectable(c) > max(c.thresholds.values())
    wide = compare_settings([50.24, 47.60, 46.32], {'x5': [47.92]}, level=0.5)             # the level is used
    assert wide.thresholds['x5'] < c.thresholds['x5']

def test_seeds_a_grid_adds_for_competitors_are_pooled():
    "A competitor with three seeds: its spread joins the pooled estimate (more degrees of freedom), its mean is over its seeds."
    c = compare_settings([0.50, 0.49, 0.51], {'a': [0.40, 0.41, 0.39], 'b': [0.30]})
    assert c.df == 4 and math.isclose(c.mean('a'), 0.40) and c.verdict == 'held'
    one = compare_settings([0.50, 0.49, 0.51], {'a': [0.40], 'b': [0.30]})
    assert one.df == 2 and c.thresholds['a'] < one.thresholds['a']

def _run(name, acc, grad=1e-3, status='complete'):
    "A finished run of the row `name` as the report reads it: its metrics and its first layer's epoch-1 gradient."
    from vgg_report.runset import RunRecord
    gf = pd.DataFrame(dict(epoch=[1, 1], layer=['input_conv_conv_0', 'logit_linear_layer'], epoch_mean=[grad, 1e-2]))
    m = dict(status=status, val_acc=acc, test_acc=acc, train_acc=acc, train_loss=4.6 if acc < 0.02 else 2.0)
    return RunRecord(ROWS[name], status, Path('.'), metrics=m, grad_flow=gf)

def _paper(**acc):
    "The paper grid, every row finished at 30 % but those given (None: diverged; 'partial': not finished)."
    from vgg_report.runset import RunRecord
    from vgg_report.study import PAPER_GRID
    recs = {}
    for r in PAPER_GRID:
        a = acc.get(r.name.replace('-', '_').replace('/', '_').replace('=', '_'), 0.30)
        if a == 'partial': recs[r.name] = RunRecord(r, 'partial', Path('.'))
        else: recs[r.name] = _run(r.name, 0.01 if a is None else a, status='diverged' if a is None else 'complete')
    return recs

def _claim(recs, key):
    from vgg_report.verdicts import claims
    return next(c for c in claims(recs) if c['key'] == key)

def test_a_diverged_competitor_lost_and_a_missing_row_is_missing():
    seeds = dict(BN_Baseline=0.400, BN_seed_10=0.401, BN_seed_20=0.399)
    c = _claim(_paper(BN_x45=None, **seeds), 'BestLr')
    assert c['verdict'] == 'held', c                           # the old rule called it missing
    assert 'BN-x45 (lr 0.045) diverged, which loses to any finished run' in c['evidence'], c
    assert 'level 5%' in c['evidence'] and 'threshold of ' in c['evidence'] and 'here ' in c['rule'], c
    c = _claim(_paper(BN_x5='partial', **seeds), 'BestLr')
    assert (c['verdict'], c['evidence']) == ('missing', 'a row it needs has not finished') and 'here' not in c['rule']
    c = _claim(_paper(BN_seed_10=None, BN_Baseline=0.40, BN_seed_20=0.41, BN_x2=0.405), 'BestBatch')   # a diverged seed
    assert c['verdict'] == 'not distinguishable' and 'mean of 2 runs' in c['evidence'], c

def test_not_distinguishable_names_what_the_seeds_could_tell():
    c = _claim(_paper(BN_Baseline=0.32, BN_seed_10=0.30, BN_seed_20=0.34, BN_x5=0.33), 'BestLr')
    assert c['verdict'] == 'not distinguishable', c
    assert re.search(r'these seeds tell apart a true difference of \d+\.\d\d points four times out of five', c['evidence']), c

def test_a_zero_gradient_is_a_vanished_gradient():
    from vgg_report.report import _grad_macros
    recs = _paper(VGG_38=0.01) | {'VGG_38': _run('VGG_38', 0.01, grad=0.0)}
    c = _claim(recs, 'GradientsVanish')
    assert c['verdict'] == 'held' and 'exactly 0 in VGG_38' in c['evidence'] and 'no gradient recorded' not in c['evidence'], c
    tex = _grad_macros(recs)
    assert '\\newcommand{\\GradFirstVGGThirtyEight}{0.0e+00}' in tex and 'GradGap}{exactly 0' in tex, tex
    assert '\\newcommand{\\GradDecades}{$\\infty$}' in tex, tex

def _remedies(dense_status='diverged', dense_acc=0.01):
    recs = {}
    for fam, accs, g in (('VGG_38', (0.01,) * 3, 2e-9), ('BN', (0.30, 0.31, 0.29), 1e-3), ('RC', (0.20, 0.21, 0.19), 1e-4)):
        rows = [r.name for r in ROWS.values() if r.family == fam]
        for n, a in zip(rows, accs): recs[n] = _run(n, a, g)
    for n in ('Dense', 'Dense-seed=10', 'Dense-seed=20'): recs[n] = _run(n, dense_acc, 0.0, dense_status)
    return recs

def test_remedies_a_family_that_diverged_is_not_missing():
    from vgg_report.verdicts import remedies_verdict
    s = remedies_verdict(_remedies())
    assert s.startswith('BN is the best remedy: BN reaches 30.00% (mean of 3 runs) and the best other, RC, 20.00% (3 runs)'), s
    assert 'Dense diverged, which loses to any finished run' in s and s.endswith('; not in this run set: BN+RC, BN+Dense'), s
    assert 'Dense' not in s.split('not in this run set')[1].replace('BN+Dense', ''), s

def test_remedies_ties_and_drops_are_said_as_such():
    from vgg_report.verdicts import remedies_verdict
    recs = _remedies('complete', 0.005)                         # Dense finished below plain VGG_38, its gradient exactly 0
    recs['RC'] = _run('RC', 0.50, 1e-4)                          # a lucky RC seed: BN and RC cannot be told apart
    s = remedies_verdict(recs)
    assert s.startswith('no remedy is told apart as the best: BN is not ahead of RC by more than the test allows'), s
    assert "below plain VGG_38's 1.00%: Dense (0.50%)" in s and 'Dense takes it to exactly 0' in s, s
    recs['RC-seed=10'] = _run('RC-seed=10', 0.21, 1e-12)         # a gradient below plain's is lowered, not lifted
    assert 'RC lowers it by' not in remedies_verdict(recs)       # the family's mean gradient is still above plain's
    for n in ('RC', 'RC-seed=10', 'RC-seed=20'): recs[n] = _run(n, 0.20, 1e-12)
    assert 'RC lowers it by 3.3 orders of magnitude' in remedies_verdict(recs), remedies_verdict(recs)

def test_paper_comparison_only_for_the_full_profile_on_cifar100():
    from vgg_report.tables import paper_vs_ours, comparability
    recs = {'BN-Baseline': _run('BN-Baseline', 0.40)}
    recs['BN-Baseline'].metrics['train_loss'] = 1.50           # within 0.15 of the seed's 1.45; 40 % is outside its 49-50 %
    assert set(paper_vs_ours(recs, 'full', 'cifar100').verdict) == {'within', 'outside'}
    for profile, dataset in (('quick', 'cifar100'), ('smoke', 'cifar100'), ('full', 'synthetic')):
        assert set(paper_vs_ours(recs, profile, dataset).verdict) == {'not comparable'}, (profile, dataset)
        assert comparability(profile, dataset)
    assert 'quick profile' in comparability('quick', 'cifar100') and comparability('full', 'synthetic') == 'synthetic data'
