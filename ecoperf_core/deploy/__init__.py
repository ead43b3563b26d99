"""Deployment safety and disaster recovery: the I/O around engines/deploy.py and engines/drill.py."""
