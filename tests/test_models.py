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
