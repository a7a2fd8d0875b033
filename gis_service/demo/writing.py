"""Writers: GBK Shapefiles with the README for the demo, UTF-8 GeoPackages for the province set."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from gis_service.demo.tables import CASS, WORKBOOK, write_stake_tables

README = """# 演示数据 / Demo data (synthetic)

**本目录全部为虚构的演示数据**，仅用于演示和测试河长制 GIS 服务，不代表万盛经开区的真实河流、
管理范围、岸线功能分区、排污口或问题点。每个要素的“备注/BZ”字段均为“演示数据（虚构）”。

**Everything in this folder is synthetic demo data.** The rivers, ranges, zones, outfalls and
problem sites are invented; only the town names and the district extent are real.

- 格式 / format: ESRI Shapefile, GBK 编码（附 `.cpg`）/ GBK-encoded with a `.cpg`
- 坐标系 / CRS: EPSG:4524 CGCS2000 3° Gauss-Krüger zone 36（东坐标带 36 带号 / eastings carry the 36 prefix）
- 河流中心线按水流方向绘制（自东向西）/ centerlines are drawn in flow direction (east to west)

| 文件 / file | 内容 / content | 要素数 / features |
|---|---|---|
{rows}

重新生成 / regenerate (deterministic, seed 2022):

```
python -m gis_service.demo.generator -o shapefiles
```
"""
FILE_LABELS = {
    "towns": "镇街 towns",
    "rivers": "河流中心线 river centerlines",
    "boundaries": "河道管理范围面 management-range polygons",
    "boundary_lines": "管理范围线（左岸/右岸）bank range lines",
    "stakes": "界桩、告示牌 boundary stakes and signs",
    "zones": "岸线功能分区 shoreline zone stretches",
    "outfalls": "入河排污口 outfalls",
    "problems": "清四乱及妨碍行洪问题点 problem sites",
}


TABLE_LABELS = {
    WORKBOOK: "界桩坐标成果表（标题行、两行表头、表下注释）an office's stake table",
    CASS: "CASS 坐标数据文件（点名,编码,Y,X,H）a CASS coordinate file",
}


def _check_gbk(frame: pd.DataFrame) -> None:
    """Raise ValueError when a field name is over 10 GBK bytes or a value cannot be GBK-encoded."""
    for column in frame.columns:
        if column == "geometry":
            continue
        if len(str(column).encode("gbk")) > 10:
            raise ValueError(f"DBF field name too long: {column}")
        for value in frame[column]:
            if isinstance(value, str):
                if len(value.encode("gbk")) > 254:
                    raise ValueError(f"value too long for a DBF field: {value}")


def write_shapefile(frame: gpd.GeoDataFrame, path: Path) -> None:
    """Write ``frame`` as a GBK-encoded Shapefile (with .cpg), replacing an older one."""
    _check_gbk(frame)
    for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        path.with_suffix(suffix).unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, path, driver="ESRI Shapefile", encoding="GBK", layer_options={"RESIZE": "YES"})


def write_gpkg(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """Write ``frame`` as a one-layer UTF-8 GeoPackage, replacing an older file."""
    path.unlink(missing_ok=True)
    # GeoPackage 1.3: read without warnings by older GDAL (3.6) as well as by current QGIS.
    pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG", dataset_options={"VERSION": "1.3"})


def write_demo(out_dir: Path, layers: dict[str, gpd.GeoDataFrame]) -> dict[str, int]:
    """Write each demo layer as ``<name>.shp`` plus the README table; return the feature counts."""
    counts: dict[str, int] = {}
    for name, frame in layers.items():
        write_shapefile(frame, out_dir / f"{name}.shp")
        counts[name] = len(frame)
    rows = "\n".join(f"| `{name}.shp` | {FILE_LABELS[name]} | {n} |" for name, n in counts.items())
    if "stakes" in layers:
        tables = write_stake_tables(out_dir, layers["stakes"])
        rows += "\n" + "\n".join(f"| `{name}` | {TABLE_LABELS[name]} | {n} |" for name, n in tables.items())
    (out_dir / "README.md").write_text(README.format(rows=rows), encoding="utf-8")
    return counts
