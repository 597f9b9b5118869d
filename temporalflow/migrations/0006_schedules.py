from django.db import migrations, models


class Migration(migrations.Migration):
    """Schedules (issue 4): one row per schedule; the worker's timer loop claims due rows."""

    dependencies = [
        ("temporalflow", "0005_child_workflows"),
    ]

    operations = [
        migrations.CreateModel(
            name="Schedule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("namespace", models.CharField(default="default", help_text="Namespace the row belongs to.", max_length=255, verbose_name="namespace")),
                ("schedule_id", models.CharField(help_text="Identifier chosen by the creator.", max_length=255, verbose_name="schedule id")),
                ("workflow_type", models.CharField(help_text="Workflow the action starts (for lists).", max_length=255, verbose_name="workflow type")),
                ("spec", models.JSONField(help_text="When actions happen (ScheduleSpec JSON).", verbose_name="spec")),
                ("action", models.JSONField(help_text="The workflow start each action makes (JSON).", verbose_name="action")),
                ("overlap", models.PositiveSmallIntegerField(default=1, help_text="ScheduleOverlapPolicy value.", verbose_name="overlap policy")),
                ("catchup_window", models.FloatField(default=31536000.0, help_text="Seconds.", verbose_name="catch-up window")),
                ("pause_on_failure", models.BooleanField(default=False, verbose_name="pause on failure")),
                ("note", models.TextField(blank=True, default="", verbose_name="note")),
                ("paused", models.BooleanField(default=False, verbose_name="paused")),
                ("limited_actions", models.BooleanField(default=False, verbose_name="limited actions")),
                ("remaining_actions", models.IntegerField(default=0, verbose_name="remaining actions")),
                ("memo", models.JSONField(blank=True, default=dict, help_text="Payloads attached to the schedule.", verbose_name="memo")),
                ("search_attributes", models.JSONField(blank=True, default=dict, verbose_name="search attributes")),
                ("runtime", models.JSONField(blank=True, default=dict, help_text="Buffered starts, running and recent actions, counters.", verbose_name="runtime state")),
                ("next_nominal", models.FloatField(blank=True, help_text="Epoch seconds of the next spec time (no jitter).", null=True, verbose_name="next nominal time")),
                ("next_fire_at", models.FloatField(blank=True, help_text="Epoch seconds when a worker next handles it.", null=True, verbose_name="next fire at")),
                ("conflict_token", models.PositiveIntegerField(default=1, verbose_name="conflict token")),
                ("created_at", models.DateTimeField(verbose_name="created at")),
                ("updated_at", models.DateTimeField(blank=True, null=True, verbose_name="updated at")),
            ],
            options={
                "verbose_name": "schedule",
                "verbose_name_plural": "schedules",
                "db_table": "temporalflow_schedule",
                "indexes": [models.Index(condition=models.Q(("next_fire_at__isnull", False)), fields=["next_fire_at"], name="tf_schedule_due")],
                "constraints": [models.UniqueConstraint(fields=("namespace", "schedule_id"), name="tf_schedule_id")],
            },
        ),
    ]
