"""What the tests and the demo use: a private ``redis-server`` and the demo itself.

Never used by a production worker or client.
"""
