"""abcref: a reference NumPy implementation of ABC-Net.

Lin, Zhao & Pan, "Towards Accurate Binary Convolutional Neural Network",
NIPS 2017. See README.md for the layout of the package.
"""

__version__ = "0.1.0"


def summary(model, input_shape, *, print_fn=print) -> None:
    """Print a model's parameters, memory and operations, as Larq's ``summary``.

    One row per layer, with the cost of the float model (as trained) and of
    its packed form (as compiled for xnor/popcount inference), each column
    named for the model it describes. See
    :func:`abcref.compiler.summary.summary` (this function) and
    :func:`abcref.compiler.summary.model_summary` for the rows as data.

    Parameters
    ----------
    model : abcref.nn.Module
    input_shape : (C, H, W)
        Shape of one example.
    print_fn : callable
        Receives the table as one string (default ``print``).
    """
    # Imported here so that ``import abcref`` stays light.
    from abcref.compiler.summary import summary as _summary

    _summary(model, input_shape, print_fn=print_fn)
