"""Present stage, files: every layer to GeoPackage, Shapefile (UTF-8 or GBK), GeoJSON, CSV and Excel."""
