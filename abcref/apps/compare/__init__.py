"""The paper's comparisons at laptop scale: Table 3, §5.2 and the Table 2 summary.

- :mod:`abcref.apps.compare.table3`: ABC-Net against FP, BWN, XNOR-Net,
  BNN and DoReFa-Net, trained with one budget by :func:`abcref.apps.sweep.run_sweep`.
- :mod:`abcref.apps.compare.section52`: K binary activations against K-bit
  fixed-point activations, accuracy and operation costs.
- :mod:`abcref.apps.compare.table2`: parameters, memory and operations of
  the Table 2 ResNets (float vs packed).
- ``abcref compare`` (:mod:`abcref.cli.compare`) runs them from the command line.

See ``docs/baselines.md``.
"""
