"""Analysis: routing maps, task-interference scores, t-SNE, result tables."""
