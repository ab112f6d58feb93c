"""Where scans come from: files registered once, the hot folder, the S3 prefix, and leases on sources."""
