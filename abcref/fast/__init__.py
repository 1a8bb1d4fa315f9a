"""The fast tier: the same math as the reference tier, arranged for speed.

Each function here computes exactly what a reference function computes
(``abcref.ops``, ``abcref.binarize``, ``abcref.bitpack``), with buffers,
fused loops or threads, and is tied to that reference by a test. The
trainer's layers (``abcref.nn``) and the compiled bit engine
(``abcref.compiler``) use this tier; to read the math, read the reference.

- :mod:`abcref.fast.conv`: conv2d by im2col into recycled column buffers.
"""
