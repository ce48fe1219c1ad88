"""Data sources, one folder each. Cloud SDKs are imported only inside their provider."""
