"""winnow.train: what is trained on the lake's data, and what a training run reads.

- `materialize/`: a selection into token shards (the training format, `shards`), with the
  fast BPE encoder and the workers' unit of work;
- `llm/`: pretraining with torchtitan on those shards (`launch` builds the torchrun command of
  `winnow train`, `config_registry` the flavors, `loader` the dataloader, `cpu` the smoke path);
- `compare`: proxy runs of several selections on one validation set (`winnow compare`);
- `eval`: how well columns or expressions agree with labels (`winnow eval`);
- `raters/`: raters trained on labels (`winnow rater train`);
- `weights/`: weights of score columns learned from labels or from proxy runs (`winnow weights`).

Importing this package, `materialize` or its `shards` imports no torch; `llm` does.
"""
