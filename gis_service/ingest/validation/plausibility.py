"""Plausibility of a management range: far wider than any river's range, or as big as the district.

A management range (河道管理范围) runs a few metres to a few hundred metres beyond the banks. A
range polygon drawn around a whole valley, or around the whole district (a CRS or drawing
mistake), is not wrong in form, so it is a warning naming the figure: the range's mean width
(its area over the length of centerline it covers) and its share of the district's extent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gis_service.ingest.normalise import Finding
from gis_service.ingest.validation.river_checks import RiverGeometry, per_feature, union_by

# A range covering this share of the district's extent is a drawing mistake, whatever its river.
DISTRICT_SHARE = 0.2


def check_range_proportions(
    rg: RiverGeometry, district_bbox: tuple[float, float, float, float], max_width_m: float, district: str
) -> list[Finding]:
    """Warn, per river, about range polygons far wider than a river's range or covering much of the district."""
    polygons = shapely.get_dimensions(rg.lonlat) == 2
    if not polygons.any():
        return []
    codes = rg.codes[polygons].astype(str)
    keys, areas = union_by(codes, rg.geoms[polygons])
    first = pd.Series(np.flatnonzero(polygons)).groupby(codes).first()
    area = shapely.area(areas)
    district_area = shapely.area(rg.to_metric([shapely.box(*district_bbox)])[0])
    lines = per_feature(
        keys.to_numpy(), pd.Index(rg.rivers["code"].astype(str), dtype=object), rg.to_metric(rg.rivers.geometry.values)
    )
    known = ~shapely.is_missing(lines)
    covered = np.zeros(len(keys))
    covered[known] = shapely.length(shapely.intersection(lines[known], areas[known]))
    findings = []
    for k, code in enumerate(keys):
        row = int(first[code]) + 1
        share = area[k] / district_area if district_area else 0.0
        if share >= DISTRICT_SHARE:
            findings.append(
                Finding(
                    severity="warning",
                    code="range_covers_district",
                    feature=row,
                    value=round(share, 3),
                    message=f"河流 {code} 的管理范围面积 {area[k] / 1e6:.1f} km²，占{district}范围的 {share:.0%}，"
                    "不像一条河流的管理范围",
                    fix="核对范围面是否误用了辖区或流域边界，或坐标系是否正确",
                )
            )
        if covered[k] > 0 and area[k] / covered[k] > max_width_m:
            width = area[k] / covered[k]
            findings.append(
                Finding(
                    severity="warning",
                    code="range_too_wide",
                    feature=row,
                    value=round(width),
                    message=f"河流 {code} 的管理范围平均宽度约 {width:,.0f} m（面积 {area[k] / 1e6:.2f} km² ÷ "
                    f"范围内中心线 {covered[k] / 1000:.2f} km），"
                    f"远超河道管理范围的常见宽度（不超过 {max_width_m:,.0f} m）",
                    fix="核对范围面的边界（是否画到了山脊线或流域边界），或范围所属的河流编码",
                )
            )
    return findings
