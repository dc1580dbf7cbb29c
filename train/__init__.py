"""winnow.train: training on materialized selections.

`shards` is the token-shard format (written by materialization, read by the loader) and
`tokenizer` loads tokenizers by path or id; both import no torch. The torchtitan
dataloader and launcher arrive with the training issue.
"""
