"""Analysis stage: pure functions over GeoDataFrames (ratios, jurisdiction), testable without a database."""
