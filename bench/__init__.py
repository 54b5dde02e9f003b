"""`make bench`: load the service and a minimal floor app side by side and compare their cost per request."""
