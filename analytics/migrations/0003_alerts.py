import django.contrib.postgres.fields
import django.contrib.postgres.indexes
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0002_rollups'),
    ]

    operations = [
        migrations.CreateModel(
            name='AlertRule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200)),
                ('filters', models.JSONField(default=dict)),
                ('condition', models.CharField(choices=[('every', 'Every'), ('threshold', 'Threshold')], default='every', max_length=16)),
                ('threshold_count', models.PositiveIntegerField(null=True)),
                ('window_seconds', models.PositiveIntegerField(null=True)),
                ('webhook_url', models.CharField(blank=True, default='', max_length=2000)),
                ('webhook_secret', models.CharField(blank=True, default='', max_length=128)),
                ('emails', models.JSONField(default=list)),
                ('enabled', models.BooleanField(default=True)),
                ('muted_until', models.DateTimeField(null=True)),
                ('created_by', models.JSONField(default=dict)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'db_table': 'analytics_alert_rule',
                'indexes': [models.Index(fields=['enabled'], name='alert_rule_enabled')],
            },
        ),
        migrations.CreateModel(
            name='AlertFiring',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('fired_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('condition', models.CharField(max_length=16)),
                ('match_count', models.PositiveIntegerField()),
                ('event_ids', django.contrib.postgres.fields.ArrayField(base_field=models.UUIDField(), default=list, size=None)),
                ('window_start', models.DateTimeField(null=True)),
                ('window_end', models.DateTimeField(null=True)),
                ('muted', models.BooleanField(default=False)),
                ('rule', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='firings', to='analytics.alertrule')),
            ],
            options={
                'db_table': 'analytics_alert_firing',
            },
        ),
        migrations.CreateModel(
            name='AlertDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel', models.CharField(choices=[('webhook', 'Webhook'), ('email', 'Email')], max_length=16)),
                ('target', models.TextField()),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('retrying', 'Retrying'), ('delivered', 'Delivered'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('response_code', models.PositiveIntegerField(null=True)),
                ('error', models.TextField(blank=True, default='')),
                ('next_attempt_at', models.DateTimeField(null=True)),
                ('log', models.JSONField(default=list)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('delivered_at', models.DateTimeField(null=True)),
                ('firing', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='analytics.alertfiring')),
            ],
            options={
                'db_table': 'analytics_alert_delivery',
                'indexes': [models.Index(fields=['status', 'next_attempt_at'], name='alert_delivery_due')],
            },
        ),
        migrations.AddIndex(
            model_name='alertfiring',
            index=models.Index(fields=['rule', '-id'], name='alert_firing_rule_id'),
        ),
        migrations.AddIndex(
            model_name='alertfiring',
            index=models.Index(fields=['rule', 'condition', '-fired_at'], name='alert_firing_rule_fired'),
        ),
        migrations.AddIndex(
            model_name='alertfiring',
            index=django.contrib.postgres.indexes.GinIndex(fields=['event_ids'], name='alert_firing_event_ids'),
        ),
    ]
