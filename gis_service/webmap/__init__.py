"""Folium maps of the river one-map: the issue map, a river's map and a delivery's preview, served offline."""
