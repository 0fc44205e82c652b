"""The judge: feeds both twins the same weights and batches and says whether they agree."""
