"""`winnow serve`: a local, read-only web app over a lake."""
