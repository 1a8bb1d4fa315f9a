"""abcref: a reference NumPy implementation of ABC-Net.

Lin, Zhao & Pan, "Towards Accurate Binary Convolutional Neural Network",
NIPS 2017. See README.md for the layout of the package.
"""

__version__ = "0.1.0"
