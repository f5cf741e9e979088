"""Cross-area services about people: GDPR export and erasure."""
