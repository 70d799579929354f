"""The production profile: Rasa's own stores made safe for several instances, the health
endpoint the load balancer uses, the supervisor behind `make run-prod` and `needlecheck
status`.

Rasa loads the store classes by their module paths from endpoints.prod.yml; nothing here
runs at import.
"""
