"""What keeps needlecheck closed by default: request limits, the Rasa server's guards,
typed payloads, and logs without personal data (SECURITY.md)."""
