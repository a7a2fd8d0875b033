"""The problem ledger (台账) of 清四乱 sites and the outfall register (入河排污口, 一口一档)."""
