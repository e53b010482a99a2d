import pytest, torch
import torch.nn.functional as F
from vgg_report.hooks import Hook, Hooks, GradFlow, weight_params
from vgg_report.models import create_model

def _step(m, bs=8):
    x, y = torch.randn(bs, 3, 32, 32), torch.randint(0, 100, (bs,))
    m.zero_grad(); F.cross_entropy(m(x), y).backward()
    return {l: p.grad.abs().mean().item() for l, p in weight_params(m)}

# GradFlow against a hand computation, its saved state, and the vanishing gradient at initialisation (VGG_38's first layer
# orders of magnitude below VGG_08's, BN closing most of the gap) are asserted in nbs/03_hooks.ipynb. Here: what it does not show.

def test_gradflow_reset_starts_a_new_epoch():
    torch.manual_seed(0)
    m = create_model('vgg08_bn')
    with GradFlow(m) as gf:
        for _ in range(3): _step(m)
        assert gf.n == 3
        gf.reset(); assert gf.stats() == [] and gf.n == 0
        after = _step(m)
        st = {s['layer']: s for s in gf.stats()}
        assert {l: s['last_batch'] for l, s in st.items()} == pytest.approx(after, rel=1e-5)
        assert {l: s['epoch_mean'] for l, s in st.items()} == pytest.approx(after, rel=1e-5)   # the mean of one batch: nothing before it

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

def test_grad_flow_without_torchs_private_apis_uses_the_public_engine(monkeypatch):
    "A torch without the fused engine's private APIs gets the public one by default, with the same numbers; asking for fused says so."
    import vgg_report.hooks as H
    from vgg_report.models import create_model
    def run(**kw):
        torch.manual_seed(0); m = create_model('vgg08'); x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 100, (8,))
        with H.GradFlow(m, **kw) as gf:
            torch.nn.functional.cross_entropy(m(x), y).backward()
            return gf.fused, [s['last_batch'] for s in gf.stats()]
    fused, a = run()
    monkeypatch.setattr(H, '_PRIVATE', False)
    public, b = run()
    assert fused and not public and torch.allclose(torch.tensor(a), torch.tensor(b), rtol=1e-5, atol=0)
    with pytest.raises(RuntimeError, match='fused=False'): run(fused=True)
