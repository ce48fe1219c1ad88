"""The ``aws`` provider: Cost Explorer, CloudWatch, EC2/RDS/EBS/ALB inventory and EC2 prices.

Only ``config`` and ``billing_store`` are imported without boto3; the rest needs the
``promcast[aws]`` extra.
"""
