"""Small shared helpers with no scientific content (crash-safe writes)."""
