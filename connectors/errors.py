"""The one exception connectors raise for a problem a person can fix."""


class ConnectorError(Exception):
    """A problem a person can fix (wrong password, missing column, unreadable file); the message says which."""
