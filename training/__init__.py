"""Learning a detector: the training configuration and optimiser rules (``config``), the training data pipeline
(``data``: dataset views, sampling, self-blended fakes in ``self_blend``, augmentation in ``augment``) and the
training loop with validation, checkpoints, resume and DDP (``train``), the crop classifier's stage of a
two-stage model (``crops``: face crops and paired batches; ``classifier_train``), the run folder's file names
(``run_folder``) and its report (``run_report``). It sits above ``dftag.eval``: validation
runs the same prediction and scoring code as ``dftag evaluate``."""
