"""Azure: spend from Cost Management FOCUS exports."""
