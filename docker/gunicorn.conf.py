"""Gunicorn settings for the container and for `make run` (which adds `--bind 127.0.0.1:PORT`)."""
# No preload_app: every worker imports wsgi after the fork and so builds its own MongoClient
# (crm_service/db.py connects lazily, per process). Names starting with "_" are not settings.
import os

_MAX_DEFAULT_WORKERS = 8


def _int_env(name, default, minimum=1, maximum=None):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be between {minimum} and {maximum or 'any'}, got {value}")
    return value


def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))  # respects container CPU sets; Linux only
    except AttributeError:
        return os.cpu_count() or 1


bind = [f"0.0.0.0:{_int_env('PORT', 8000, maximum=65535)}"]
workers = _int_env("WEB_CONCURRENCY", min(2 * _cpu_count() + 1, _MAX_DEFAULT_WORKERS))
worker_class = "gthread"
threads = _int_env("GUNICORN_THREADS", 4)
timeout = _int_env("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Seconds an idle client connection stays open; behind a gateway that reuses upstream connections,
# set it above the gateway's idle timeout so the gateway never sends on a connection being closed.
keepalive = _int_env("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then so a slow leak cannot grow forever; jitter stops them all at once.
max_requests = _int_env("GUNICORN_MAX_REQUESTS", 2000, minimum=0)
max_requests_jitter = 200
preload_app = False

# The heartbeat file lives in RAM: the container's root file system is read-only, and a
# disk-backed heartbeat can stall workers. macOS has no /dev/shm, so `make run` uses the default.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# No control socket: it would be written under $HOME, which the container does not have.
control_socket_disable = True

accesslog = None  # the app writes its own JSON access line per request (crm_service/__init__.py)
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "crm-service"

# X-Forwarded-For is read by the app (werkzeug ProxyFix) when TRUSTED_PROXY_COUNT > 0; gunicorn itself
# only takes the scheme (X-Forwarded-Proto) from the addresses below. FORWARDED_ALLOW_IPS names the
# gateway's addresses; without it, a deployment that says it sits behind proxies trusts its peer (the
# container is only reached through them), and one that does not trusts only the local host.
_trusted_proxies = _int_env("TRUSTED_PROXY_COUNT", 0, minimum=0)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "").strip() or ("*" if _trusted_proxies else "127.0.0.1")
