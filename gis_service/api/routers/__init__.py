"""API routers, one module a resource."""
