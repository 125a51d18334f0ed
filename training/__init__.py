"""Learning a detector: the training configuration and optimiser rules (``config``), the training data pipeline
(``data``: dataset views, sampling, self-blended fakes in ``self_blend``, augmentation in ``augment``) and the
training loop with validation, checkpoints, resume and DDP (``train``). It sits above ``dftag.eval``: validation
runs the same prediction and scoring code as ``dftag evaluate``."""
