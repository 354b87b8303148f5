"""The local development stack behind `make run`; none of it runs in production.

- `devstack.run` (`python -m devstack.run`): migrates the SQLite database, seeds development staff, then
  starts the Temporal dev server, the SMTP sink, the worker and the API as child processes, waits until
  each answers, and stops them all on Ctrl-C. State lives in `var/` (or `$VAR_DIR`). Its steps are in
  `devstack.stack` (ports, directories, environment), `devstack.processes` (the children, their pid
  files and ports) and `devstack.readiness` (waiting until each answers, echoing logs).
- `devstack.mail_sink` (`python -m devstack.mail_sink`): an SMTP server that keeps every message as an
  `.eml` file in `MAIL_SINK_DIR`; the API lists them at `/dev/mail`. `MailSink` is the same server as a
  class, which the tests use as their SMTP server.
"""
