"""The spatial SQL halves of the backends: how PostGIS and SpatiaLite spell queries and bulk loads."""
