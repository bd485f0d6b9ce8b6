"""Video sessions, signalling, multi-process relay and the SDK, against real servers."""
