"""orderflow's configuration: settings, Celery configuration and logging setup."""
