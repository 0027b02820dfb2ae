"""encoding stage."""
