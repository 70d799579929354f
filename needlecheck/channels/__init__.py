"""Rasa channels of needlecheck's own: the website widget, the messaging connectors, the
front desk's caller mode and the text-only channel."""
