"""Open data: non-personal datasets an agreement publishes to the public, read without a key."""
