"""The operator's doors: the CLI, the HTTP control server and dashboard, sd_notify, logs and tail."""
