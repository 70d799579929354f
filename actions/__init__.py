"""Rasa custom actions: thin adapters between Rasa's tracker and needlecheck's engine and store.

rasa-sdk imports every module here when the action server starts, so nothing in this
package builds engines, opens databases or loads pipelines at import time.
"""
