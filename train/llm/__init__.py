"""winnow.train.llm: pretraining with torchtitan on the shards (`launch`, `config_registry`,
`loader`, `cpu`). Importing this package imports no torch: the command line's help lists
FLAVORS from here.
"""

# flavor -> (config function in winnow.train.llm.config_registry, vocabulary, sequence length,
# training steps); written out so the launcher and the help need not import torchtitan (~7 s);
# a test keeps it equal to what the config functions return
FLAVORS = {"tiny": ("tiny", 32_000, 256, 20), "metarater-1.3b": ("metarater_1_3b", 32_000, 1024, 7153),
           "proxy-20m": ("proxy_20m", 32_000, 1024, 1526), "proxy-60m": ("proxy_60m", 32_000, 1024, 4578),
           "proxy-150m": ("proxy_150m", 32_000, 1024, 11445)}
