"""Transport security, caller authentication and per-owner authorization.

tls.py: server and client credentials from certificate files.
tokens.py: bearer tokens checked against a file of SHA-256 hashes.
policy.py: identities' roles (reader, producer, admin) and the owners they cover.
interceptor.py: the server interceptor that authenticates and authorizes each call.
channel.py: how every shipped client opens a channel (TLS, token) from one object.
"""
