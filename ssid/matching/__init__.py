"""Pure matching engine: standardise, block, score, decide."""
