"""Rasa channels of needlecheck's own (the text-only channel; messaging channels later)."""
