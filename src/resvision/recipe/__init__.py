"""The recipe layer: a config becomes a training run, and a run folder becomes a model again.

Between the command line (which only parses, calls and prints) and the engine (which trains
whatever it is given):

- :mod:`~resvision.recipe.config`: the typed config (``model``, ``data``, ``optim``, ``train``,
  ``output``), YAML presets (:mod:`~resvision.recipe.presets`) and ``--set`` overrides.
- :mod:`~resvision.recipe.build`: the network, optimizer and schedule a config names, and the
  device and precision settings.
- :mod:`~resvision.recipe.data`: the data set a config names, with its preprocessing.
- :mod:`~resvision.recipe.training`: a training run (data, device, run folder, prepared model,
  callbacks); ``resvision train`` and the benchmarks build it here.
- :mod:`~resvision.recipe.runfolder`, :mod:`~resvision.recipe.runs`: the run folder's layout,
  what a run records, and loading a run or a checkpoint for ``eval``/``predict``/``export``
  (:mod:`~resvision.recipe.evaluation`).
- :mod:`~resvision.recipe.errors`: ``UsageError``, bad input named with its fix.
"""
