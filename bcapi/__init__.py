"""bcapi: assess NHS practice-based commissioning business cases, consistently."""


def create_app(*args, **kwargs):
    from bcapi.http.app import create_app as factory

    return factory(*args, **kwargs)
