"""brug's web face: members without a chat account answer a reflection prompt by a personal link."""
