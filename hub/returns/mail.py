"""Reminder e-mail over SMTP (optionally STARTTLS and a login). The password is
used only to log in; it is never logged or shown in an error."""
from __future__ import annotations

import smtplib
from email import policy
from email.message import EmailMessage

# Long subjects stay on one line (RFC 5322 allows up to 998 characters): some readers
# keep the leading space of a subject folded straight after "Subject:".
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)


class SmtpMailer:
    def __init__(self, host: str | None, port: int, sender: str, starttls: bool = False,
                 username: str | None = None, password: str | None = None, timeout: float = 10.0):
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.username, self._password = starttls, username, password
        self.timeout = timeout

    @property
    def configured(self) -> bool:
        return bool(self.host)

    def send(self, to: str, subject: str, body: str, headers: dict[str, str] | None = None) -> None:
        if not self.configured:
            raise RuntimeError("no SMTP server is configured (set CAUSEWAY_SMTP_HOST)")
        message = EmailMessage(policy=MAIL_POLICY)
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        for name, value in (headers or {}).items():
            message[name] = value
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                try:
                    smtp.login(self.username, self._password or "")
                except smtplib.SMTPAuthenticationError:
                    raise RuntimeError(f"the SMTP server refused the login of {self.username}") from None
            smtp.send_message(message)

    def __repr__(self) -> str:  # keep the password out of any log line that prints this
        return f"SmtpMailer({self.host}:{self.port}, from={self.sender}, starttls={self.starttls}, user={self.username})"
