"""The ground truth beside the stream: the ledger, the weather log, and the expected bills."""
