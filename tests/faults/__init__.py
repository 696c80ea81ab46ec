"""Failure drills: kill -9, Ctrl-C, SIGTERM, full disks, torn writes, file modes."""
