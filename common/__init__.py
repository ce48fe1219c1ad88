"""What the exporter and the forecaster share: catalogue, config, HTTP server, logging."""
