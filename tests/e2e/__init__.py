"""End-to-end tests: the real server in a subprocess, the browser client in real headless Chromium."""
