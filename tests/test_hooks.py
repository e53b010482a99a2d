import pytest, torch
import torch.nn.functional as F
from vgg_report.hooks import Hook, Hooks, GradFlow, weight_params, first_batch_grad_flow
from vgg_report.models import create_model

def _step(m, bs=8):
    x, y = torch.randn(bs, 3, 32, 32), torch.randint(0, 100, (bs,))
    m.zero_grad(); F.cross_entropy(m(x), y).backward()
    return {l: p.grad.abs().mean().item() for l, p in weight_params(m)}

def test_gradflow_matches_manual_computation():
    torch.manual_seed(0)
    m = create_model('vgg08_bn')
    with GradFlow(m) as gf:
        manual = [_step(m) for _ in range(4)]
        stats = {s['layer']: s for s in gf.stats()}
        assert list(stats) == [l for l, _ in weight_params(m)]
        assert not any(l.endswith('bias') for l in stats)
        for l, s in stats.items():
            assert s['last_batch'] == pytest.approx(manual[-1][l], rel=1e-5)
            assert s['epoch_mean'] == pytest.approx(sum(d[l] for d in manual) / 4, rel=1e-5)
        gf.reset(); assert gf.stats() == []
        after = _step(m)
        assert {s['layer']: s['last_batch'] for s in gf.stats()} == pytest.approx(after, rel=1e-5)

def test_gradient_hooks_do_not_change_gradients():
    torch.manual_seed(0); m = create_model('vgg08'); x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 100, (4,))
    F.cross_entropy(m(x), y).backward(); ref = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    with GradFlow(m): F.cross_entropy(m(x), y).backward()
    assert all(torch.equal(a, p.grad) for a, p in zip(ref, m.parameters()))

def test_no_hook_survives_removal_even_after_an_error():
    m = create_model('vgg08'); calls = []
    with pytest.raises(RuntimeError):
        with Hooks(list(m.parameters()), lambda h, g: calls.append(1)) as hs:
            with Hook(m.input_conv, lambda h, *a: calls.append(2)) as h:
                raise RuntimeError('boom')
    assert not any(x.attached for x in hs) and not h.attached
    hs.remove(); h.remove()          # idempotent
    _step(m)
    assert calls == []
    gf = GradFlow(m); gf.remove(); gf.remove(); _step(m)
    assert gf.n == 0 and not gf.attached

def test_hook_rejects_other_targets():
    with pytest.raises(TypeError): Hook(torch.zeros(3), lambda *a: None)

def test_vanishing_gradient_at_init():
    torch.manual_seed(0); x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 100, (32,))
    g = {}
    for n in ('vgg08', 'vgg38', 'vgg38_bn'):
        torch.manual_seed(0); g[n] = first_batch_grad_flow(create_model(n), x, y)['input_conv_conv_0']
    assert g['vgg38'] < 1e-3 * g['vgg08'] and g['vgg38_bn'] > 1e-2 * g['vgg08']
