"""The browser client in headless Chromium against a real server and a Python participant."""
