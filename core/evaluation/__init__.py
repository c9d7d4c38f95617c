"""Metrics of the papers: detection from text, VQA, classification, captioning."""
