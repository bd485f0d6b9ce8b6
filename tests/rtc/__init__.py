"""SFU forwarding core tests (real aiortc peers over loopback)."""
