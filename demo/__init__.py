"""The local demo stack (``make demo``) and the process fixtures the end-to-end tests share."""
