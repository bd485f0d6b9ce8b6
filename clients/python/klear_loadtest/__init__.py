"""`klear loadtest`: drive any Klear deployment through its public interfaces (REST and Socket.IO, via
the Python SDK) at a fixed arrival rate, and say whether it held its service-level objectives.

It imports nothing of the server: what it knows of a deployment is its base URL and an admin account.
"""
