from django.db import migrations


class Migration(migrations.Migration):
    """The root of the analytics app's migrations (rollups and alerts build on it)."""

    initial = True
    dependencies: list = []
    operations: list = []
