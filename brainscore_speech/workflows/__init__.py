"""workflows stage."""
