import pytest, torch
from torch import nn
from vgg_report.models import create_model, count_params, conv_layers, MODELS
from vgg_report.hooks import weight_params

@pytest.mark.parametrize('name', list(MODELS))
def test_output_shape(name):
    assert create_model(name)(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert create_model(name, num_classes=10)(torch.randn(2, 3, 32, 32)).shape == (2, 10)

def test_parameter_counts():
    assert count_params(create_model('vgg38_bn')) == 338_500          # the seed report's number
    assert count_params(create_model('vgg38_rc')) == count_params(create_model('vgg38'))
    assert count_params(create_model('vgg38_bn_rc')) == count_params(create_model('vgg38_bn'))
    assert count_params(create_model('vgg08')) < count_params(create_model('vgg38'))

def test_conv_counts_and_biases():
    convs = conv_layers(create_model('vgg38'))
    assert len(convs) == 37 and len(conv_layers(create_model('vgg08'))) == 7
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

def test_residual_adds_identity_before_activation():
    torch.manual_seed(0)
    m = create_model('vgg38_rc')
    blk = m.block_1_2
    with torch.no_grad(): blk.conv_1.weight.zero_()
    x = torch.randn(2, 32, 16, 16)
    assert torch.allclose(blk(x), nn.functional.leaky_relu(x, 0.01))
    assert not create_model('vgg38').block_1_2.residual

def test_seed_fixes_init():
    torch.manual_seed(3); a = create_model('vgg08')
    torch.manual_seed(3); b = create_model('vgg08')
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))

def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match='vgg08, vgg38, vgg08_bn, vgg38_bn, vgg38_rc, vgg38_bn_rc'):
        create_model('vgg16')
