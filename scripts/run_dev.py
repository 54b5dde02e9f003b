"""`make run`: start the embedded database (unless MONGO_URI is set), create indexes, serve with gunicorn.

The embedded server is the `secantusdb` package, run as a separate process (it is GPL; the
service only talks to it over TCP). Data lives in ./var/ and survives restarts. Ctrl-C stops both.
"""
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
BIN = Path(sys.executable).parent


def _port_free(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _secret_file(name, make):
    """A value generated once and kept in var/, so tokens and the dev admin survive restarts."""
    path = VAR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _wait_for_mongo(uri, process, deadline_seconds=30):
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            sys.exit(f"the embedded database exited with code {process.returncode}; see var/mongo.log")
        try:
            MongoClient(uri, serverSelectionTimeoutMS=500).admin.command("ping")
            return
        except PyMongoError:
            time.sleep(0.3)
    sys.exit(f"the database at {uri} did not answer within {deadline_seconds}s")


def _start_embedded_mongo():
    port = int(os.environ.get("CRM_DEV_MONGO_PORT", "27018"))
    if not _port_free(port):
        sys.exit(f"port {port} is taken; set CRM_DEV_MONGO_PORT to another port (or MONGO_URI to your server)")
    data_dir = VAR / "db"
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(VAR / "mongo.log", "ab")  # noqa: SIM115  (kept open for the child's lifetime)
    process = subprocess.Popen(
        [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
         "--storage-path", str(data_dir), "--log-level", "WARNING",
         # Durable on acknowledgement, like MongoDB's journal: a crash keeps every acknowledged write.
         "--sync-on-commit"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    # Retryable writes off for this server only: it rescans its write log on every retryable
    # write and slows down after ~10k writes. Real MongoDB keeps them on (see README).
    uri = f"mongodb://127.0.0.1:{port}/?retryWrites=false&directConnection=true"
    return process, uri, data_dir


def _start_mail_sink(env):
    """No SMTP_HOST: a local SMTP server (aiosmtpd, a dev requirement) files every mail in var/mail/ (Maildir).

    So e-mails really go out under `make run` (status `sent`, pixel, password-reset links you can read).
    """
    port = int(env.get("CRM_DEV_SMTP_PORT", "1025"))
    if not _port_free(port):
        sys.exit(f"port {port} is taken; set CRM_DEV_SMTP_PORT to another port (or SMTP_HOST to your server)")
    log = open(VAR / "smtp.log", "ab")  # noqa: SIM115  (kept open for the child's lifetime)
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
         "-c", "aiosmtpd.handlers.Mailbox", str(VAR / "mail")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    env["SMTP_HOST"], env["SMTP_PORT"] = "127.0.0.1", str(port)
    return process


def _stop(process, name, timeout=10):
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in {timeout}s; killing it", flush=True)
        process.kill()
        process.wait()


def main():
    VAR.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("CRM_ENV", "development")
    env.setdefault("JWT_SECRET_KEY", _secret_file("jwt-secret", lambda: secrets.token_urlsafe(48)))
    if not env.get("CRM_BOOTSTRAP_ADMIN_PASSWORD"):
        env["CRM_BOOTSTRAP_ADMIN_EMAIL"] = env.get("CRM_BOOTSTRAP_ADMIN_EMAIL") or "admin@example.com"
        env["CRM_BOOTSTRAP_ADMIN_PASSWORD"] = _secret_file("admin-password", lambda: secrets.token_urlsafe(12))
    port = env.get("PORT", "8000")
    mongo, data_location = None, "your MongoDB at MONGO_URI"
    if not env.get("MONGO_URI"):
        mongo, env["MONGO_URI"], data_dir = _start_embedded_mongo()
        data_location = f"{data_dir} (embedded secantusdb, log in var/mongo.log)"
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    mail, mail_location = None, f"through {env.get('SMTP_HOST')}:{env.get('SMTP_PORT', '25')}"
    if not env.get("SMTP_HOST"):
        mail = _start_mail_sink(env)
        mail_location = f"filed in {VAR / 'mail'}/new (local SMTP sink on port {env['SMTP_PORT']})"
    gunicorn = None

    def shutdown(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    try:
        _wait_for_mongo(env["MONGO_URI"], mongo)
        subprocess.run([str(BIN / "flask"), "--app", "wsgi", "crm", "ensure-indexes"], env=env, cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
        gunicorn = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "docker/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            env=env, cwd=ROOT,
        )
        admin_note = "from CRM_BOOTSTRAP_ADMIN_* (created when no admin exists)"
        if not os.environ.get("CRM_BOOTSTRAP_ADMIN_PASSWORD"):
            username = env.get("CRM_BOOTSTRAP_ADMIN_USERNAME") or "admin"
            admin_note = f"{username} / the password in var/admin-password (created when no admin exists)"
        print(
            f"\n  API      http://127.0.0.1:{port}/api/v1\n"
            f"  Docs     http://127.0.0.1:{port}/apidocs/  (OpenAPI: /openapi.json)\n"
            f"  Data     {data_location}\n"
            f"  E-mail   {mail_location}\n"
            f"  Admin    {admin_note}\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
        gunicorn.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _stop(gunicorn, "gunicorn", timeout=35)
        _stop(mongo, "the embedded database")
        _stop(mail, "the mail sink")
    return 0


if __name__ == "__main__":
    sys.exit(main())
