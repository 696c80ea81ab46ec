"""Search: spaces, models, proxies, the trial trainer, ladders, the winner's training."""
