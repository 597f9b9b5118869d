from django.db import migrations


class Migration(migrations.Migration):
    """Placeholder in the chain; filled in by the feature it is named after."""

    dependencies = [
        ("temporalflow", "0005_child_workflows"),
    ]

    operations = []
