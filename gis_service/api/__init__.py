"""HTTP interface: the FastAPI app, its dependencies, error mapping and one router a resource."""
