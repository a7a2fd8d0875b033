"""OGC API - Features (Parts 1-3) and - Tiles: links, CRS, query parameters, CQL2 filters, HTML and vector tiles."""
