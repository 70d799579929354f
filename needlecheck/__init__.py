"""needlecheck: a consultation-eligibility assistant for microneedling clinics.

Importing this package is cheap on purpose: the screening engine and the command line
must start without Rasa, spaCy or TensorFlow.
"""

__version__ = "0.1.0"
