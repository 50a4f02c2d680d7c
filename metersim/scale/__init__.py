"""Beyond one process: shards whose union is the single run (:mod:`~metersim.scale.shards`), worker
processes under one command (:mod:`~metersim.scale.workers`), and the merge of their reports
(:mod:`~metersim.scale.merge`)."""
