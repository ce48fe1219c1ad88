"""Google Cloud: utilisation from Cloud Monitoring, spend from the Cloud Billing FOCUS export."""
