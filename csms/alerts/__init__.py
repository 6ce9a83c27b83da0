"""Alerts: a station offline too long, a connector Faulted, a failed firmware update, a site in
safe mode. A pure evaluation (`rules.py`) and a thin shell that logs transitions and posts them
to a webhook (`service.py`)."""
