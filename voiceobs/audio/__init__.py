"""Audio plumbing: loading, resampling, G.711, and speech rendering for prompts."""
