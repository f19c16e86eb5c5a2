"""The HTTP shell: the Flask app factory, the API blueprints, the board's web pages, the
operations endpoints, and what every request passes through (access policy, hardening,
problem+json errors, logs and metrics). It parses, calls `bcapi.services`, and answers."""
