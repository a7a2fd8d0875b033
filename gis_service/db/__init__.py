"""Storage: engine and sessions, the relational model, and the Alembic-managed schema."""

# The chiefs' tables share the Base and join LAYER_MODELS whenever the storage package is used.
from gis_service.db import models_chiefs as models_chiefs  # noqa: E402

# So do the water-quality tables (sections, samples, source zones, tasks, health records).
from gis_service.db import models_quality as models_quality  # noqa: E402
