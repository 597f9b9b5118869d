import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Child workflows (the parent/child links) and the outbox of messages between runs."""

    dependencies = [
        ("temporalflow", "0004_api_permissions"),
    ]

    operations = [
        migrations.CreateModel(
            name='ChildWorkflow',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('namespace', models.CharField(default='default', help_text='Namespace the row belongs to.', max_length=255, verbose_name='namespace')),
                ('initiated_event_id', models.PositiveIntegerField(help_text="The parent's StartChildWorkflowExecutionInitiated event.", verbose_name='initiated event id')),
                ('started_event_id', models.PositiveIntegerField(help_text="The parent's ChildWorkflowExecutionStarted event.", verbose_name='started event id')),
                ('workflow_id', models.CharField(max_length=255, verbose_name='child workflow id')),
                ('first_run_id', models.CharField(max_length=36, verbose_name='child first run id')),
                ('workflow_type', models.CharField(max_length=255, verbose_name='child workflow type')),
                ('parent_close_policy', models.PositiveSmallIntegerField(choices=[(1, 'terminate'), (2, 'abandon'), (3, 'request cancel')], default=1, verbose_name='parent close policy')),
                ('parent', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='child_workflows', to='temporalflow.workflowrun', verbose_name='parent run')),
            ],
            options={
                'verbose_name': 'child workflow',
                'verbose_name_plural': 'child workflows',
                'db_table': 'temporalflow_child',
                'indexes': [models.Index(fields=['namespace', 'workflow_id', 'first_run_id'], name='tf_child_wid')],
                'constraints': [models.UniqueConstraint(fields=('parent', 'initiated_event_id'), name='tf_child_parent_init')],
            },
        ),
        migrations.CreateModel(
            name='WorkflowOutbox',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('namespace', models.CharField(default='default', help_text='Namespace the row belongs to.', max_length=255, verbose_name='namespace')),
                ('kind', models.CharField(choices=[('signal', 'signal another run'), ('cancel', 'cancel another run'), ('child_closed', "report a child's close to its parent")], max_length=16, verbose_name='kind')),
                ('initiated_event_id', models.PositiveIntegerField(default=0, verbose_name='initiated event id')),
                ('target_workflow_id', models.CharField(max_length=255, verbose_name='target workflow id')),
                ('target_run_id', models.CharField(blank=True, default='', max_length=36, verbose_name='target run id')),
                ('stage', models.PositiveSmallIntegerField(default=1, verbose_name='stage')),
                ('body', models.JSONField(blank=True, help_text='What to deliver (stage 1).', null=True, verbose_name='body')),
                ('outcome', models.JSONField(blank=True, help_text='The event to append (stage 2).', null=True, verbose_name='outcome')),
                ('visible_at', models.FloatField(help_text='Epoch seconds when a worker may deliver it.', verbose_name='visible at')),
                ('attempts', models.PositiveIntegerField(default=0, verbose_name='attempts')),
                ('run', models.ForeignKey(db_constraint=False, db_index=False, help_text='The run whose history receives the outcome.', on_delete=django.db.models.deletion.CASCADE, related_name='outbox', to='temporalflow.workflowrun', verbose_name='reporting run')),
            ],
            options={
                'verbose_name': 'outbox message',
                'verbose_name_plural': 'outbox messages',
                'db_table': 'temporalflow_outbox',
                'indexes': [models.Index(fields=['visible_at'], name='tf_outbox_visible')],
            },
        ),
    ]
