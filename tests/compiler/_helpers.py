"""A random trained-looking ABC layer, for the tests of abcref/compiler."""

from abcref.nn.abcconv import ABCConv2d


def random_abc_layer(rng, *, c_in, c_out, k, M, N, stride, padding, pad_value, per_channel, dtype):
    """An eval-mode ABCConv2d with random weights, v and beta (beta of either sign)."""
    layer = ABCConv2d(
        c_in,
        c_out,
        k,
        M=M,
        N=N,
        stride=stride,
        padding=padding,
        per_channel=per_channel,
        pad_value=pad_value,
        rng=rng,
        dtype=dtype,
    )
    layer.params["v"][...] = rng.normal(0.0, 0.7, size=N)
    layer.params["beta"][...] = rng.normal(0.5, 0.5, size=N)  # beta may turn negative
    return layer.eval()
