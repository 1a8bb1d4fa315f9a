"""The fast tier: the reference tier's math, arranged for speed.

Each function here computes what a reference function computes
(``abcref.ops``, ``abcref.binarize``, ``abcref.bitpack``), with buffers,
fused loops, one convolution instead of M x N, or threads, and a test ties
it to that reference (exact, or a stated float64 bound). These functions
trust their arguments: the trainer's layers (``abcref.nn``) and the
compiled bit engine (``abcref.compiler``) check them once and call this
tier. To read the math, read the reference.

- :mod:`abcref.fast.conv`: conv2d by im2col into recycled column buffers.
- :mod:`abcref.fast.pool`: max pooling by a running maximum (bitwise the reference).
- :mod:`abcref.fast.relu`: ReLU by a bit mask (bitwise the reference).
- :mod:`abcref.fast.activations`: ``sum_n beta_n A_n`` by fused loops.
- :mod:`abcref.fast.abcconv`: eqs. (6) and (12) as one float convolution.
- :mod:`abcref.fast.xnor`: the blocked, threaded xnor/popcount convolution.
"""
