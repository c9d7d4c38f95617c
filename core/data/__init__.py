"""Instruction data: datasets, conversation templates, mixtures, collation."""
