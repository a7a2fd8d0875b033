"""Response models of the JSON routes: one module a resource, each model a named schema in ``/openapi.json``.

The models describe what the routes answer today. Where a payload carries fields the catalogue
defines (``layers/*.toml``) or free-form details, the model allows extra fields, so validating an
answer never drops what a client reads. A route whose model has members a payload may leave out
also sets ``response_model_exclude_unset``, so that what was left out stays out (no added nulls).
"""
