"""The workbench's page routers, one module a page group."""
