import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Visibility: the index of custom search attributes (one row per value, typed columns)."""

    dependencies = [
        ("temporalflow", "0006_schedules"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchAttributeValue",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("namespace", models.CharField(default="default", help_text="Namespace the row belongs to.",
                                               max_length=255, verbose_name="namespace")),
                ("name", models.CharField(max_length=255, verbose_name="attribute")),
                ("value_type", models.PositiveSmallIntegerField(
                    help_text="Temporal's IndexedValueType (1 Text, 2 Keyword, 3 Int, 4 Double, 5 Bool, 6 Datetime, "
                              "7 KeywordList).", verbose_name="type")),
                ("keyword", models.CharField(blank=True, max_length=2048, null=True, verbose_name="keyword")),
                ("text", models.TextField(blank=True, null=True, verbose_name="text")),
                ("int_value", models.BigIntegerField(blank=True, null=True, verbose_name="int")),
                ("double_value", models.FloatField(blank=True, null=True, verbose_name="double")),
                ("bool_value", models.BooleanField(blank=True, null=True, verbose_name="bool")),
                ("datetime_value", models.DateTimeField(blank=True, null=True, verbose_name="datetime")),
                ("run", models.ForeignKey(db_constraint=False, db_index=False,
                                          on_delete=django.db.models.deletion.CASCADE,
                                          related_name="search_attribute_values", to="temporalflow.workflowrun",
                                          verbose_name="run")),
            ],
            options={
                "verbose_name": "search attribute value",
                "verbose_name_plural": "search attribute values",
                "db_table": "temporalflow_search_attr",
                "indexes": [
                    models.Index(fields=["run", "name"], name="tf_sa_run_name"),
                    models.Index(condition=models.Q(("keyword__isnull", False)),
                                 fields=["namespace", "name", "keyword"], name="tf_sa_keyword"),
                    models.Index(condition=models.Q(("int_value__isnull", False)),
                                 fields=["namespace", "name", "int_value"], name="tf_sa_int"),
                    models.Index(condition=models.Q(("double_value__isnull", False)),
                                 fields=["namespace", "name", "double_value"], name="tf_sa_double"),
                    models.Index(condition=models.Q(("bool_value__isnull", False)),
                                 fields=["namespace", "name", "bool_value"], name="tf_sa_bool"),
                    models.Index(condition=models.Q(("datetime_value__isnull", False)),
                                 fields=["namespace", "name", "datetime_value"], name="tf_sa_datetime"),
                ],
            },
        ),
    ]
