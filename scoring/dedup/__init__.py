"""Near-duplicates as columns: MinHash-LSH (`dup_cluster`, `dup_keep`) and semantic dedup
(`semdup_cluster`, `semdup_keep`), written beside the documents, never deleting one."""
